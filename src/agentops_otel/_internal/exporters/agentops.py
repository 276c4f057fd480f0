"""OTLP/HTTP export to an AgentOps-compatible backend (SPEC.md sections 5 and 7), with its token.

This module does two jobs: the token (the API key is exchanged at ``POST /v3/auth/token`` in
:meth:`AgentOpsSpanExporter.prepare`, before any batch is encoded, and refreshed on a 401), and the
meaning of each answer (:mod:`.rules`). Encoding is :mod:`.otlp_encoding`'s, the wire is
:mod:`.http`'s, retries are the export processor's, and spooling is :mod:`.spooling`'s wrapper.

A token that cannot be sent in a header (CR/LF, not Latin-1) and an API key the backend refuses are
each one clear error line; then every batch is rejected at once, without network.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan

from agentops_otel._config import Configuration
from agentops_otel._internal.exporters import rules
from agentops_otel._internal.exporters.base import DELIVERED, DeliveringExporter, Delivery, Encoded, Outcome
from agentops_otel._internal.exporters.http import (
    BadHeader,
    OtlpSettings,
    Response,
    Transport,
    TransportError,
    check_header_value,
    otlp_settings,
)
from agentops_otel._internal.exporters.otlp_encoding import compress, encode_batch
from agentops_otel.version import __version__

logger = logging.getLogger("agentops_otel.exporter")

_USER_AGENT = f"agentops-otel/{__version__}"


class AgentOpsSpanExporter(DeliveringExporter):
    """Sends spans as OTLP protobuf (gzip'd unless ``OTEL_EXPORTER_OTLP_COMPRESSION=none``) with
    ``Authorization: Bearer <token>``.

    With no arguments, settings come from the environment (``AGENTOPS_API_KEY``,
    ``AGENTOPS_API_ENDPOINT``, ``AGENTOPS_EXPORTER_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TIMEOUT`` and the
    other ``OTEL_EXPORTER_OTLP_*`` settings of :mod:`.http`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        api_url: str | None = None,
        traces_url: str | None = None,
        timeout: float | None = None,
        settings: OtlpSettings | None = None,
    ) -> None:
        super().__init__()
        if api_key is None and api_url is None and traces_url is None:
            config = Configuration.from_env()
            api_key, api_url, traces_url = config.api_key, config.api_url, config.traces_url
            timeout = timeout if timeout is not None else config.export_timeout
        fallback = Configuration(api_key=api_key, endpoint=api_url, exporter_endpoint=traces_url)
        self.api_key = api_key
        self.api_url = (api_url or fallback.api_url).rstrip("/")
        self.auth_url = self.api_url + "/v3/auth/token"
        self.traces_url = traces_url or fallback.traces_url
        self.timeout = timeout if timeout is not None else Configuration.export_timeout
        self.settings = settings if settings is not None else otlp_settings()
        self.project_id: str | None = None
        self._token: str | None = None
        self._transport = Transport((self.auth_url, self.traces_url), self.settings)
        self._lock = threading.Lock()  # one request at a time
        self._final: str | None = None  # why every batch is now rejected (bad key, bad token)
        self._logged: set[str] = set()
        self._traces_headers = {
            **self.settings.headers,
            "Content-Type": "application/x-protobuf",
            "User-Agent": _USER_AGENT,
        }
        if self.settings.compression:
            self._traces_headers["Content-Encoding"] = self.settings.compression

    @classmethod
    def from_config(cls, config: Configuration) -> AgentOpsSpanExporter:
        return cls(
            config.api_key,
            api_url=config.api_url,
            traces_url=config.traces_url,
            timeout=config.export_timeout,
        )

    @property
    def refusal(self) -> str | None:
        """Why every batch is now rejected without network (invalid key, no key, bad token), or None."""
        if self._final is not None:
            return self._final
        return None if self.api_key else "no API key"

    def _log_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.error(message, *args)

    # -- BatchExporter ---------------------------------------------------------------------------------

    def prepare(self, timeout: float) -> Delivery:
        """Ready when a token is at hand; the exchange happens here, before any batch is encoded."""
        if self._stopped.is_set():
            return Delivery(Outcome.REJECTED, reason="exporter shut down")
        if self._final is not None:
            return Delivery(Outcome.REJECTED, reason=self._final)
        if not self.api_key:
            self._log_once(
                "no-key",
                "agentops_otel: no API key for %s (set AGENTOPS_API_KEY or api_key=); spans are not exported",
                self.api_url,
            )
            return Delivery(Outcome.REJECTED, reason="no API key")
        if self._token is not None:
            return DELIVERED
        return self._guarded(self._authenticate, time.monotonic() + max(0.0, min(timeout, self.timeout)))

    def encode(self, spans: Sequence[ReadableSpan]) -> Encoded:
        try:
            body, kept, clamped = encode_batch(spans)
        except Exception as exc:  # a bug of ours: the official encoder is the fallback
            self._log_once(f"encode-{type(exc).__name__}", "agentops_otel: cannot encode spans: %r", exc)
            try:
                from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

                body, kept, clamped = encode_spans(spans).SerializeToString(), list(spans), 0
            except Exception:
                return Encoded([], b"", rejected=len(spans))
        return Encoded(kept, compress(body, self.settings.compression), len(spans) - len(kept), clamped)

    def send(self, encoded: Encoded, timeout: float) -> Delivery:
        payload: bytes = encoded.payload
        return self.send_body(payload, timeout)

    def send_body(self, body: bytes, timeout: float, *, gzipped: bool = False) -> Delivery:
        """One attempt with an encoded request body: a fresh batch (compressed as configured), or a
        spooled one (``gzipped``: the spool keeps gzip, whatever the setting of the process)."""
        ready = self.prepare(timeout)
        if ready.outcome is not Outcome.DELIVERED:
            return ready
        deadline = time.monotonic() + max(0.0, min(timeout, self.timeout))
        return self._guarded(self._send_traces, body, deadline, gzipped)

    def as_gzip(self, payload: bytes) -> bytes:
        """A payload of :meth:`encode` as a gzip'd body (what the spool keeps)."""
        compression = self.settings.compression
        if compression == "gzip":
            return payload
        raw = zlib.decompress(payload) if compression == "deflate" else payload
        return compress(raw, "gzip")

    def shutdown(self) -> None:
        super().shutdown()
        self._transport.close()

    # -- requests ----------------------------------------------------------------------------------------

    def _guarded(self, step: Any, *args: Any) -> Delivery:
        try:
            with self._lock, suppress_instrumentation(), suppress_http_instrumentation():
                result: Delivery = step(*args)
                return result
        except Exception as exc:  # never raise into the processor
            self._log_once(f"unexpected-{type(exc).__name__}", "agentops_otel: export failed: %r", exc)
            return Delivery(Outcome.RETRY, reason=f"unexpected error: {exc!r}")

    def _post(
        self, url: str, body: bytes, headers: Mapping[str, str], deadline: float
    ) -> Response | Delivery:
        remaining = deadline - time.monotonic()
        if remaining <= 0.01:
            return Delivery(Outcome.RETRY, reason="no time left for the request")
        try:
            return self._transport.post(url, body, headers, remaining)
        except TransportError as exc:
            return rules.unreachable(url, str(exc))

    def _send_traces(self, body: bytes, deadline: float, gzipped: bool = False) -> Delivery:
        for refreshed in (False, True):
            if self._token is None:
                ready = self._authenticate(deadline)
                if ready.outcome is not Outcome.DELIVERED:
                    return ready
            headers = {**self._traces_headers, "Authorization": f"Bearer {self._token}"}
            if gzipped:
                headers["Content-Encoding"] = "gzip"
            response = self._post(self.traces_url, body, headers, deadline)
            if isinstance(response, Delivery):
                return response
            if response.status == 401:
                # Expired or forgotten token (the backend's store was reset): a new one, same batch.
                self._token = None
                if not refreshed:
                    continue
                return Delivery(Outcome.RETRY, reason="traces answered 401 with a fresh token")
            return self._judge("traces", self.traces_url, response)
        raise AssertionError("unreachable")

    def _authenticate(self, deadline: float) -> Delivery:
        """Get a token: DELIVERED when there is one, else why not."""
        payload = json.dumps({"api_key": self.api_key}).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        response = self._post(self.auth_url, payload, headers, deadline)
        if isinstance(response, Delivery):
            return response
        if response.status in (401, 403):
            self._final = "invalid API key"
            logger.error(
                "agentops_otel: invalid API key (%s refused it with %d); spans will not be exported. "
                "Check AGENTOPS_API_KEY or init(api_key=...).",
                self.api_url,
                response.status,
            )
            return Delivery(Outcome.REJECTED, reason=self._final)
        if not 200 <= response.status < 300:
            return self._judge("auth", self.auth_url, response)
        if not response.complete:
            return rules.unreachable(self.auth_url, "the answer could not be read whole")
        try:
            answer = json.loads(response.body)
            token = check_header_value("Authorization", f"Bearer {answer['token']}")[len("Bearer ") :]
            project = answer.get("project_id")
        except BadHeader as exc:
            self._final = "the token cannot be sent in a header"
            logger.error(
                "agentops_otel: %s returned a token that cannot be sent (%s); spans will not be exported",
                self.auth_url,
                exc,
            )
            return Delivery(Outcome.REJECTED, reason=self._final)
        except (ValueError, KeyError, TypeError, AttributeError):
            self._log_once("token-payload", "agentops_otel: %s answered without a token", self.auth_url)
            return Delivery(Outcome.RETRY, reason="no token in the auth answer")
        self._token, self.project_id = token, project if isinstance(project, str) else None
        return DELIVERED

    def _judge(self, what: str, url: str, response: Response) -> Delivery:
        result = rules.classify(what, response.status, response.headers.get("retry-after"))
        status = response.status
        if 300 <= status < 400:
            self._log_once(
                f"{what}-redirect",
                "agentops_otel: %s answered %d redirecting to %s; redirects are not followed (set the "
                "endpoint to the final URL); spans are kept, retried and spooled at exit",
                url,
                status,
                response.headers.get("location", "?"),
            )
        elif result.outcome is Outcome.REJECTED and not result.suspect:
            self._log_once(
                f"{what}-{status}",
                "agentops_otel: %s refused spans with %d: %s",
                url,
                status,
                response.text()[:200].strip(),
            )
        return result
