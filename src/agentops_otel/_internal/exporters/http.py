"""The HTTP transport of the export path, on urllib3 (the library under ``requests`` and the official
OTLP exporter), with the settings OpenTelemetry users expect.

- Proxies from ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (either case, as ``urllib`` reads them;
  ``user:password@`` in the proxy URL is sent as proxy basic auth). Chosen once per URL, when the
  transport is made.
- TLS: the system's trust store (and ``SSL_CERT_FILE``/``SSL_CERT_DIR``), or the CA file of
  ``OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE``; a client certificate from ``..._CLIENT_CERTIFICATE``
  and ``..._CLIENT_KEY``; certificate and host-name checks always on.
- Extra request headers from ``OTEL_EXPORTER_OTLP_[TRACES_]HEADERS`` and the body's
  ``..._COMPRESSION`` (``gzip``, the default here, ``deflate`` or ``none``) are read by
  :func:`otlp_settings` for the traces requests.
- Redirects are never followed (a POST re-sent elsewhere would carry the token there): a 3xx is an
  answer like any other, for the delivery rules (``rules.py``).
- Header values are checked before sending (:func:`check_header_value`): CR, LF and characters
  outside Latin-1 are refused with one clear error, never sent.

Everything is imported when the exporter is built, on the export worker thread (see
``processors.py``), never at interpreter exit.
"""

from __future__ import annotations

# socket.create_connection encodes host names with the "idna" codec, which Python imports on first
# use: import it now, on the thread that builds the exporter, never in a forked child or at exit (a
# child forked while another thread imports can fail that lookup: "unknown encoding: idna").
import encodings.idna  # noqa: F401
import logging
import os
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3
from opentelemetry.util.re import parse_env_headers

logger = logging.getLogger("agentops_otel.exporter")

#: The most of an answer's body that is read (the backend answers with a few hundred bytes).
MAX_ANSWER_BYTES = 1 << 20
_COMPRESSIONS = {"gzip": "gzip", "deflate": "deflate", "none": "", "": ""}


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    #: False when the body could not be read whole (cut short, malformed, over the size cap).
    complete: bool = True

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class TransportError(Exception):
    """No usable answer: no connection, a timeout, TLS refused, or an answer that is not HTTP."""


class BadHeader(ValueError):
    """A header value that cannot be sent as it is (CR/LF, or not Latin-1)."""


def check_header_value(name: str, value: str) -> str:
    """``value`` when it can be sent in an HTTP header; else :class:`BadHeader`, saying why."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise BadHeader(f"the {name} header value contains a line break or NUL")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise BadHeader(f"the {name} header value has characters outside Latin-1") from None
    return value


@dataclass(frozen=True)
class OtlpSettings:
    """What the ``OTEL_EXPORTER_OTLP_*`` variables say about the traces requests."""

    headers: Mapping[str, str] = field(default_factory=dict)
    compression: str = "gzip"
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


def _traces_variable(env: Mapping[str, str], suffix: str) -> str | None:
    value = env.get(f"OTEL_EXPORTER_OTLP_TRACES_{suffix}") or env.get(f"OTEL_EXPORTER_OTLP_{suffix}")
    return value.strip() if value and value.strip() else None


def otlp_settings(env: Mapping[str, str] | None = None) -> OtlpSettings:
    """The ``OTEL_EXPORTER_OTLP_[TRACES_]*`` settings (the ``TRACES_`` one wins); bad values are logged
    once each and left out."""
    env = os.environ if env is None else env
    headers: dict[str, str] = {}
    raw = _traces_variable(env, "HEADERS")
    for name, value in parse_env_headers(raw, liberal=True).items() if raw else ():
        try:
            check_header_value(name, name)
            headers[name] = check_header_value(name, value)
        except BadHeader as exc:
            logger.error("agentops_otel: OTEL_EXPORTER_OTLP_HEADERS: %s; that header is not sent", exc)
    compression = (_traces_variable(env, "COMPRESSION") or "gzip").lower()
    if compression not in _COMPRESSIONS:
        logger.error(
            "agentops_otel: OTEL_EXPORTER_OTLP_COMPRESSION=%r is not gzip, deflate or none", compression
        )
        compression = "gzip"
    return OtlpSettings(
        headers=headers,
        compression=_COMPRESSIONS[compression],
        ca_file=_traces_variable(env, "CERTIFICATE"),
        client_cert=_traces_variable(env, "CLIENT_CERTIFICATE"),
        client_key=_traces_variable(env, "CLIENT_KEY"),
    )


def _tls_context(settings: OtlpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ca_file)
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key)
    return context


def proxy_for(url: str) -> str | None:
    """The proxy ``url`` goes through, from the environment (None: direct)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    host = parts.hostname or ""
    proxy = proxies.get(parts.scheme.lower())
    if not proxy or not host or urllib.request.proxy_bypass(host):
        return None
    if parts.port is not None and urllib.request.proxy_bypass(f"{host}:{parts.port}"):
        return None
    return proxy


class Transport:
    """POSTs with one connection pool per destination (and proxy). Used from one thread at a time."""

    def __init__(self, urls: tuple[str, ...], settings: OtlpSettings | None = None) -> None:
        self.settings = settings or OtlpSettings()
        tls = None
        if any(url.lower().startswith("https:") for url in urls):
            try:
                tls = _tls_context(self.settings)
            except (OSError, ValueError) as exc:
                logger.error("agentops_otel: cannot load the TLS settings (OTEL_EXPORTER_OTLP_*): %s", exc)
                tls = ssl.create_default_context()
        pool: dict[str, Any] = {"ssl_context": tls} if tls is not None else {}
        self._direct = urllib3.PoolManager(num_pools=4, maxsize=1, **pool)
        self._managers: dict[str, urllib3.PoolManager] = {}
        for url in urls:
            proxy = proxy_for(url)
            self._managers[url] = self._direct if proxy is None else self._proxy_manager(proxy, pool)
        # One connection attempt more for a connect error; never re-sent after the request went out
        # (the answer may have been lost after the backend took it), never redirected, statuses ours.
        self._retries = urllib3.Retry(
            total=1, connect=1, read=0, redirect=0, status=0, other=0,
            raise_on_redirect=False, raise_on_status=False, respect_retry_after_header=False,
        )  # fmt: skip

    @staticmethod
    def _proxy_manager(proxy: str, pool: dict[str, Any]) -> urllib3.PoolManager:
        parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
        headers = None
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers = urllib3.make_headers(proxy_basic_auth=credentials)
        netloc = parts.netloc.rpartition("@")[2]
        manager: urllib3.PoolManager = urllib3.ProxyManager(
            f"{parts.scheme}://{netloc}", num_pools=4, maxsize=1, proxy_headers=headers, **pool
        )
        return manager

    def uses_proxy(self, url: str) -> bool:
        return self._managers.get(url, self._direct) is not self._direct

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        """One POST within about ``timeout`` seconds; :class:`TransportError` when there is no answer."""
        manager = self._managers.get(url, self._direct)
        try:
            response = manager.request(
                "POST",
                url,
                body=body,
                headers=dict(headers),
                timeout=urllib3.Timeout(total=max(timeout, 0.01)),
                retries=self._retries,
                redirect=False,
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise TransportError(_describe(exc)) from exc
        try:
            body, complete = _read(response)
            return Response(response.status, _lower(response.headers), body, complete)
        finally:
            response.release_conn()

    def close(self) -> None:
        for manager in {id(m): m for m in (self._direct, *self._managers.values())}.values():
            manager.clear()


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _read(response: urllib3.BaseHTTPResponse) -> tuple[bytes, bool]:
    """Up to :data:`MAX_ANSWER_BYTES` of the body, and whether that is all of it; what cannot be read
    whole closes the connection (a 2xx is final whatever its body: the caller decides by the status)."""
    try:
        data = response.read(MAX_ANSWER_BYTES + 1)
        if len(data) <= MAX_ANSWER_BYTES and response.read(1) == b"":
            return data, True
    except (urllib3.exceptions.HTTPError, OSError, ValueError):
        data = b""
    response.close()  # unread or unreadable: never reuse this connection
    return data[:MAX_ANSWER_BYTES], False


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError wraps the real error
    if isinstance(reason, BaseException):
        exc = reason
    text = str(exc)
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__
