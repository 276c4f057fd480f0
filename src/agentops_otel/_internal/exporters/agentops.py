"""OTLP/HTTP export to an AgentOps-compatible backend (SPEC.md section 5), with its token.

All network work happens inside :meth:`AgentOpsSpanExporter.deliver`, which the export processor runs
on its worker thread: the API key is exchanged for a token there, lazily, and until a token is had no
span leaves (``deliver`` answers RETRY and the spans wait in the queue).

Outcomes:
- 2xx: DELIVERED.
- 401 on the traces URL: the token is refreshed once and the batch sent again.
- 429, 502, 503, 504, connection errors and timeouts: RETRY (with ``Retry-After`` when given).
- 401/403 from the token exchange: the key is invalid. One error line, then every batch is REJECTED at
  once without network: the program carries on, its spans are dropped.
- any other 4xx (and 5xx other than the above): REJECTED with one log line per status.

Requests go through ``requests`` (keep-alive, proxies and TLS as users configure them), inside
"suppress instrumentation" so our own sends are never traced.
"""

from __future__ import annotations

import email.utils
import gzip
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from agentops_otel._internal.config import Configuration
from agentops_otel._internal.exporters.base import DELIVERED, DeliveringExporter, Delivery, Outcome
from agentops_otel.version import __version__

logger = logging.getLogger("agentops_otel.exporter")

_RETRYABLE = frozenset({429, 502, 503, 504})
_MAX_RETRY_AFTER = 300.0
#: Total time ``export()`` (stock BatchSpanProcessor use) spends on one batch, retries included.
EXPORT_DEADLINE = 10.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


class _Rejected(Exception):
    pass


class AgentOpsSpanExporter(DeliveringExporter):
    """Sends spans as gzip'd OTLP protobuf with ``Authorization: Bearer <token>``.

    With no arguments, settings come from the environment (``AGENTOPS_API_KEY``,
    ``AGENTOPS_API_ENDPOINT``, ``AGENTOPS_EXPORTER_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TIMEOUT``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        api_url: str | None = None,
        traces_url: str | None = None,
        timeout: float | None = None,
    ) -> None:
        if api_key is None and api_url is None and traces_url is None:
            config = Configuration.from_env()
            api_key, api_url, traces_url = config.api_key, config.api_url, config.traces_url
            timeout = timeout if timeout is not None else config.export_timeout
        fallback = Configuration(api_key=api_key, endpoint=api_url, exporter_endpoint=traces_url)
        self.api_key = api_key
        self.api_url = (api_url or fallback.api_url).rstrip("/")
        self.traces_url = traces_url or fallback.traces_url
        self.timeout = timeout if timeout is not None else Configuration.export_timeout
        self.project_id: str | None = None
        self._token: str | None = None
        self._session = requests.Session()
        self._lock = threading.Lock()  # one request at a time on the session
        self._stopped = threading.Event()
        self._invalid_key = False
        self._logged: set[str] = set()

    @classmethod
    def from_config(cls, config: Configuration) -> AgentOpsSpanExporter:
        return cls(
            config.api_key,
            api_url=config.api_url,
            traces_url=config.traces_url,
            timeout=config.export_timeout,
        )

    # -- logging -------------------------------------------------------------------------------------

    def _log_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.error(message, *args)

    # -- delivery ------------------------------------------------------------------------------------

    def deliver(self, spans: Sequence[ReadableSpan], timeout: float) -> Delivery:
        if self._stopped.is_set():
            return Delivery(Outcome.REJECTED, reason="exporter shut down")
        if self._invalid_key:
            return Delivery(Outcome.REJECTED, reason="invalid API key")
        if not self.api_key:
            self._log_once(
                "no-key",
                "agentops_otel: no API key for %s (set AGENTOPS_API_KEY or api_key=); spans are not exported",
                self.api_url,
            )
            return Delivery(Outcome.REJECTED, reason="no API key")
        if not spans:
            return DELIVERED
        deadline = time.monotonic() + max(0.0, min(timeout, self.timeout))
        try:
            body = gzip.compress(encode_spans(spans).SerializePartialToString(), compresslevel=5)
        except Exception as exc:  # a span the encoder cannot take: never worth retrying
            self._log_once(f"encode-{type(exc).__name__}", "agentops_otel: cannot encode spans: %r", exc)
            return Delivery(Outcome.REJECTED, reason=f"encoding failed: {exc!r}")
        try:
            with self._lock, suppress_instrumentation(), suppress_http_instrumentation():
                return self._send(body, deadline)
        except Exception as exc:  # never raise into the processor
            self._log_once(f"unexpected-{type(exc).__name__}", "agentops_otel: export failed: %r", exc)
            return Delivery(Outcome.RETRY, reason=f"unexpected error: {exc!r}")

    def _send(self, body: bytes, deadline: float) -> Delivery:
        refreshed = False
        while True:
            if self._token is None:
                failure = self._authenticate(deadline)
                if failure is not None:
                    return failure
                refreshed = True
            token = self._token
            response = self._post(
                self.traces_url,
                deadline,
                data=body,
                headers={
                    "Content-Type": "application/x-protobuf",
                    "Content-Encoding": "gzip",
                    "Authorization": f"Bearer {token}",
                    "User-Agent": f"agentops-otel/{__version__}",
                },
            )
            if isinstance(response, Delivery):
                return response
            status = response.status_code
            if 200 <= status < 300:
                return DELIVERED
            if status == 401 and not refreshed:
                # Expired or forgotten token (e.g. the backend's store was reset): get a new one, once.
                self._token = None
                continue
            return self._failure("traces", status, response)

    def _authenticate(self, deadline: float) -> Delivery | None:
        response = self._post(
            self.api_url + "/v3/auth/token",
            deadline,
            json={"api_key": self.api_key},
            headers={"User-Agent": f"agentops-otel/{__version__}"},
        )
        if isinstance(response, Delivery):
            return response
        status = response.status_code
        if status == 200:
            try:
                payload = response.json()
                self._token = str(payload["token"])
                self.project_id = payload.get("project_id")
            except (ValueError, KeyError, TypeError):
                self._log_once(
                    "token-payload", "agentops_otel: %s/v3/auth/token answered without a token", self.api_url
                )
                return Delivery(Outcome.RETRY, reason="no token in the auth answer")
            return None
        if status in (401, 403):
            self._invalid_key = True
            logger.error(
                "agentops_otel: invalid API key (%s refused it with %d); spans will not be exported. "
                "Check AGENTOPS_API_KEY or init(api_key=...).",
                self.api_url,
                status,
            )
            return Delivery(Outcome.REJECTED, reason="invalid API key")
        return self._failure("auth", status, response)

    def _failure(self, what: str, status: int, response: requests.Response) -> Delivery:
        if status in _RETRYABLE:
            return Delivery(
                Outcome.RETRY,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                reason=f"{what} answered {status}",
            )
        url = self.traces_url if what == "traces" else self.api_url + "/v3/auth/token"
        self._log_once(
            f"{what}-{status}",
            "agentops_otel: %s refused spans with %d: %s",
            url,
            status,
            response.text[:200].strip(),
        )
        return Delivery(Outcome.REJECTED, reason=f"{what} answered {status}")

    def _post(self, url: str, deadline: float, **kwargs: Any) -> requests.Response | Delivery:
        remaining = deadline - time.monotonic()
        if remaining <= 0.01:
            return Delivery(Outcome.RETRY, reason="no time left for the request")
        try:
            # Connect and read timeouts both bounded by what is left of this attempt.
            return self._session.post(url, timeout=(remaining, remaining), allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            return Delivery(Outcome.RETRY, reason=f"cannot reach {url}: {type(exc).__name__}")

    # -- SpanExporter --------------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """For a stock ``BatchSpanProcessor``: retry with backoff for at most :data:`EXPORT_DEADLINE`."""
        deadline = time.monotonic() + EXPORT_DEADLINE
        backoff = 0.5
        while not self._stopped.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            result = self.deliver(spans, min(remaining, self.timeout))
            if result.outcome is Outcome.DELIVERED:
                return SpanExportResult.SUCCESS
            if result.outcome is Outcome.REJECTED:
                return SpanExportResult.FAILURE
            wait = result.retry_after if result.retry_after is not None else backoff
            backoff = min(backoff * 2, 4.0)
            if time.monotonic() + wait >= deadline:
                break
            self._stopped.wait(wait)
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._stopped.set()
        # Close outside the lock: an attempt in flight ends on its own timeout.
        self._session.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
