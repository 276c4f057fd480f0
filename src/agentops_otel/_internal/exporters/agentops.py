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

Spans are encoded by :mod:`.otlp_encoding` (no protobuf objects) and sent by the small HTTP/1.1
client below (:class:`_Connection`): stdlib sockets, one keep-alive connection per host, re-opened
after an error, ``ssl`` imported only for an ``https`` URL. Neither ``requests``, ``http.client``
(which imports ``ssl``) nor protobuf is imported, and this module defines no dataclass or namedtuple:
it is imported on the export thread, possibly after the program died of an unhandled
KeyboardInterrupt, and an ``eval``/``exec`` of source text at that point (``namedtuple`` and
``dataclass`` do one) makes CPython forget the interrupt and exit 1 instead of 130. HTTP proxies are
not supported (``HTTPS_PROXY`` and friends are ignored); redirects are not followed. Sends run inside
"suppress instrumentation" so that no instrumentation could trace them.
"""

from __future__ import annotations

import contextlib
import email.utils

# socket.create_connection encodes host names with the "idna" codec, which Python imports on first
# use. Imported here, on the thread that builds the exporter, never in a forked child or at exit: a
# child forked while another thread imports can fail that lookup ("unknown encoding: idna").
import encodings.idna  # noqa: F401
import json
import logging
import select
import socket
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.instrumentation.utils import suppress_http_instrumentation, suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from agentops_otel._config import Configuration
from agentops_otel._internal.exporters.base import DELIVERED, DeliveringExporter, Delivery, Outcome
from agentops_otel._internal.exporters.otlp_encoding import encode_spans
from agentops_otel.store.spool import Spool
from agentops_otel.version import __version__

logger = logging.getLogger("agentops_otel.exporter")

_RETRYABLE = frozenset({429, 502, 503, 504})
_MAX_RETRY_AFTER = 300.0
#: Total time ``export()`` (stock BatchSpanProcessor use) spends on one batch, retries included.
EXPORT_DEADLINE = 10.0
#: Spooled bodies sent per :meth:`AgentOpsSpanExporter.send_spooled` call, so fresh spans wait little.
SPOOL_ROWS_PER_ROUND = 8
_SPOOL_MAX_BACKOFF = 30.0


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


class _HTTPError(Exception):
    """The connection failed or the answer was not HTTP: worth another attempt later."""


class _Stale(_HTTPError):
    """A kept-alive connection turned out closed before any byte of the answer came back."""


class _Response:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers  # names lower-cased
        self.body = body

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


#: Bounds on what we read back (the backend answers with a few hundred bytes at most).
_MAX_LINE = 65536
_MAX_HEADERS = 100
_MAX_BODY = 1 << 20


class _Connection:
    """One HTTP/1.1 keep-alive connection to ``scheme://host:port``, used by one thread at a time.

    After any error the socket is closed and the next request opens a new one. A kept-alive socket
    that the server closed while idle is detected before reuse (readable at rest), or, if the close
    races the send, by the answer ending before its first byte: then the request is sent once more
    on a fresh connection, as browsers and urllib3 do.
    """

    def __init__(self, scheme: str, host: str, port: int, tls: Any = None) -> None:
        self.scheme, self.host, self.port, self.tls = scheme, host, port, tls
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        default = 443 if scheme == "https" else 80
        name = f"[{host}]" if ":" in host else host
        self.host_header = name if port == default else f"{name}:{port}"

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buffer.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # also wakes a thread blocked on it
            sock.close()

    def request(self, path: str, headers: dict[str, str], body: bytes, deadline: float) -> _Response:
        reused = self._sock is not None
        if reused and not self._idle_and_open():
            self.close()
            reused = False
        try:
            try:
                return self._exchange(path, headers, body, deadline)
            except (_Stale, BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                self.close()
                return self._exchange(path, headers, body, deadline)
        except BaseException:
            self.close()
            raise

    # -- internals --------------------------------------------------------------------------------

    def _idle_and_open(self) -> bool:
        """A kept-alive socket should have nothing to read: readable means closed (or garbage)."""
        assert self._sock is not None
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable and not self._buffer

    def _connect(self, deadline: float) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=_remaining(deadline))
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock.settimeout(_remaining(deadline))
                sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return sock

    def _exchange(self, path: str, headers: dict[str, str], body: bytes, deadline: float) -> _Response:
        sock = self._sock or self._connect(deadline)
        lines = [f"POST {path} HTTP/1.1", f"Host: {self.host_header}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        sock.settimeout(_remaining(deadline))
        # One send for small requests; a large body goes on its own without copying it.
        if len(body) <= 16384:
            sock.sendall(head + body)
        else:
            sock.sendall(head)
            sock.settimeout(_remaining(deadline))
            sock.sendall(body)
        response, keep = self._read_response(deadline)
        if not keep:
            self.close()
        return response

    def _fill(self, deadline: float) -> None:
        assert self._sock is not None
        self._sock.settimeout(_remaining(deadline))
        data = self._sock.recv(65536)
        if not data:
            raise _HTTPError("connection closed by the server")
        self._buffer += data

    def _line(self, deadline: float) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            if len(self._buffer) > _MAX_LINE:
                raise _HTTPError("answer line too long")
            self._fill(deadline)

    def _exact(self, n: int, deadline: float) -> bytes:
        while len(self._buffer) < n:
            self._fill(deadline)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _read_response(self, deadline: float) -> tuple[_Response, bool]:
        first = True
        while True:
            try:
                status_line = self._line(deadline)
            except _HTTPError:
                if first and not self._buffer:
                    raise _Stale("connection closed before the answer") from None
                raise
            first = False
            version, _, rest = status_line.partition(b" ")
            if not version.startswith(b"HTTP/1."):
                raise _HTTPError(f"not an HTTP answer: {status_line[:40]!r}")
            try:
                status = int(rest[:3])
            except ValueError:
                raise _HTTPError(f"bad status line: {status_line[:40]!r}") from None
            headers: dict[str, str] = {}
            while True:
                line = self._line(deadline)
                if not line:
                    break
                if len(headers) >= _MAX_HEADERS:
                    raise _HTTPError("too many header lines")
                name, sep, value = line.decode("latin-1").partition(":")
                if not sep:
                    raise _HTTPError("bad header line")
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
            if 100 <= status < 200:
                continue  # an interim answer (100 Continue): the real one follows
            break
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection and (version != b"HTTP/1.0" or "keep-alive" in connection)
        if status in (204, 304):
            return _Response(status, headers, b""), keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _Response(status, headers, self._chunked(deadline)), keep
        length = headers.get("content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise _HTTPError("bad Content-Length") from None
            if not 0 <= size <= _MAX_BODY:
                raise _HTTPError("answer body too large")
            return _Response(status, headers, self._exact(size, deadline)), keep
        # No length: the body runs to the end of the connection.
        body = bytearray(self._buffer)
        self._buffer.clear()
        assert self._sock is not None
        while len(body) <= _MAX_BODY:
            self._sock.settimeout(_remaining(deadline))
            data = self._sock.recv(65536)
            if not data:
                break
            body += data
        return _Response(status, headers, bytes(body[:_MAX_BODY])), False

    def _chunked(self, deadline: float) -> bytes:
        body = bytearray()
        while True:
            size_line = self._line(deadline).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _HTTPError("bad chunk size") from None
            if size == 0:
                while self._line(deadline):  # trailer lines, up to the empty one
                    pass
                return bytes(body)
            if len(body) + size > _MAX_BODY:
                raise _HTTPError("answer body too large")
            body += self._exact(size, deadline)
            if self._exact(2, deadline) != b"\r\n":
                raise _HTTPError("bad chunk end")


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("deadline passed")
    return remaining


def _gzip(data: bytes) -> bytes:
    # zlib with wbits=31 writes the gzip format; zlib is loaded already, gzip.py would be one more import.
    compressor = zlib.compressobj(5, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


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
        spool_path: str | None = None,
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
        self._connections: dict[tuple[str, str, int], _Connection] = {}
        self._tls: Any = None  # ssl.SSLContext, made on the first https request
        if self.api_url.lower().startswith("https:") or self.traces_url.lower().startswith("https:"):
            # Import ssl now, at start, rather than at the first send (which may be the exit flush,
            # after an unhandled KeyboardInterrupt: see the module docstring).
            import ssl  # noqa: F401
        self._lock = threading.Lock()  # one request at a time on the connections
        self._stopped = threading.Event()
        self._invalid_key = False
        self._last_status: int | None = None  # HTTP status of the last refusal
        self._logged: set[str] = set()
        # Spans left undelivered at exit go to the store file (``spool_path``), and bodies spooled
        # there by earlier processes for this URL and key are sent by this one (see spool.py).
        self._spool = Spool(spool_path, self.traces_url, api_key) if spool_path and api_key else None
        self._spool_backlog = self._spool is not None and self._spool.waiting() > 0
        self._spool_retry_at = 0.0
        self._spool_backoff = 1.0

    @classmethod
    def from_config(cls, config: Configuration) -> AgentOpsSpanExporter:
        return cls(
            config.api_key,
            api_url=config.api_url,
            traces_url=config.traces_url,
            timeout=config.export_timeout,
            spool_path=config.store_path if config.spool_undelivered else None,
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
            body = _gzip(encode_spans(spans))
        except Exception as exc:  # a span the encoder cannot take: never worth retrying
            self._log_once(f"encode-{type(exc).__name__}", "agentops_otel: cannot encode spans: %r", exc)
            return Delivery(Outcome.REJECTED, reason=f"encoding failed: {exc!r}")
        result = self._send_guarded(body, deadline)
        if result.outcome is Outcome.DELIVERED:
            self._spool_retry_at = 0.0  # the backend is back: spooled bodies may go at once
        return result

    def _send_guarded(self, body: bytes, deadline: float) -> Delivery:
        try:
            with self._lock, suppress_instrumentation(), suppress_http_instrumentation():
                return self._send(body, deadline)
        except Exception as exc:  # never raise into the processor
            self._log_once(f"unexpected-{type(exc).__name__}", "agentops_otel: export failed: %r", exc)
            return Delivery(Outcome.RETRY, reason=f"unexpected error: {exc!r}")

    # -- spool ---------------------------------------------------------------------------------------

    @property
    def has_spooled(self) -> bool:
        """Whether bodies spooled by earlier processes for this URL and key may still wait to be sent."""
        return self._spool_backlog and not self._stopped.is_set() and not self._invalid_key

    def send_spooled(self, timeout: float) -> Delivery:
        """Send at most :data:`SPOOL_ROWS_PER_ROUND` spooled bodies, oldest first, within ``timeout``.

        Called by the export processor on its worker thread between batches. A body that the backend
        refuses for good (4xx other than 401 and 429) is deleted like a delivered one; after a failure
        worth retrying, the spool waits (backing off) while fresh batches go on as usual.
        """
        spool = self._spool
        if spool is None or not self.has_spooled:
            return DELIVERED
        if time.monotonic() < self._spool_retry_at:
            return Delivery(Outcome.RETRY, reason="spool backing off")
        deadline = time.monotonic() + max(0.0, min(timeout, self.timeout))
        for _ in range(SPOOL_ROWS_PER_ROUND):
            if self._stopped.is_set():
                break
            row = spool.claim()
            if row is None:
                self._spool_backlog = spool.waiting() > 0  # 0 unless others hold claims that expire
                return DELIVERED
            row_id, body, spans = row
            self._last_status = None
            result = self._send_guarded(body, deadline)
            if result.outcome is Outcome.DELIVERED:
                spool.settle(row_id, remove=True)
                self._spool_backoff = 1.0
                logger.info("agentops_otel: sent %d span(s) spooled by an earlier process", spans)
                continue
            if result.outcome is Outcome.REJECTED and not (
                self._invalid_key or self._last_status in (401, 429) or self._stopped.is_set()
            ):
                spool.settle(row_id, remove=True)  # refused for good (logged once by _failure)
                continue
            spool.settle(row_id, remove=False)
            self._spool_retry_at = time.monotonic() + (result.retry_after or self._spool_backoff)
            self._spool_backoff = min(self._spool_backoff * 2, _SPOOL_MAX_BACKOFF)
            return result
        return DELIVERED

    def spool(self, batches: Sequence[Sequence[ReadableSpan]], deadline: float) -> int:
        """Write undelivered batches to the spool before ``deadline`` (``time.monotonic()``).

        Returns the number of spans spooled. Nothing is spooled without a spool, for a key known to be
        invalid, or past the deadline. Never raises.
        """
        if self._spool is None or self._invalid_key or not self.api_key:
            return 0
        try:
            bodies: list[tuple[int, bytes]] = []
            for batch in batches:
                if time.monotonic() >= deadline:
                    break
                if batch:
                    bodies.append((len(batch), _gzip(encode_spans(batch))))
            busy = max(0.05, min(0.25, deadline - time.monotonic()))
            return self._spool.put(bodies, busy)
        except Exception as exc:
            logger.debug("agentops_otel: cannot spool spans: %r", exc, exc_info=True)
            return 0

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
                body,
                {
                    "Content-Type": "application/x-protobuf",
                    "Content-Encoding": "gzip",
                    "Authorization": f"Bearer {token}",
                    "User-Agent": f"agentops-otel/{__version__}",
                },
            )
            if isinstance(response, Delivery):
                return response
            status = response.status
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
            json.dumps({"api_key": self.api_key}).encode("utf-8"),
            {"Content-Type": "application/json", "User-Agent": f"agentops-otel/{__version__}"},
        )
        if isinstance(response, Delivery):
            return response
        status = response.status
        if status == 200:
            try:
                payload = json.loads(response.body)
                self._token = str(payload["token"])
                self.project_id = payload.get("project_id")
            except (ValueError, KeyError, TypeError, AttributeError):
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

    def _failure(self, what: str, status: int, response: _Response) -> Delivery:
        self._last_status = status
        if status in _RETRYABLE:
            return Delivery(
                Outcome.RETRY,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                reason=f"{what} answered {status}",
            )
        url = self.traces_url if what == "traces" else self.api_url + "/v3/auth/token"
        self._log_once(
            f"{what}-{status}",
            "agentops_otel: %s refused spans with %d: %s",
            url,
            status,
            response.text()[:200].strip(),
        )
        return Delivery(Outcome.REJECTED, reason=f"{what} answered {status}")

    def _post(self, url: str, deadline: float, body: bytes, headers: dict[str, str]) -> _Response | Delivery:
        if deadline - time.monotonic() <= 0.01:
            return Delivery(Outcome.RETRY, reason="no time left for the request")
        try:
            connection, path = self._connection(url)
            return connection.request(path, headers, body, deadline)
        except (OSError, _HTTPError, ValueError) as exc:  # OSError covers timeouts and TLS errors
            return Delivery(Outcome.RETRY, reason=f"cannot reach {url}: {type(exc).__name__}")

    def _connection(self, url: str) -> tuple[_Connection, str]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname, port)
        connection = self._connections.get(key)
        if connection is None:
            tls = None
            if scheme == "https":
                if self._tls is None:
                    import ssl  # only for https: importing it is not free (see the module docstring)

                    self._tls = ssl.create_default_context()
                tls = self._tls
            connection = self._connections[key] = _Connection(scheme, parts.hostname, port, tls)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return connection, path

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
        # Close outside the lock: shutting the socket down wakes an attempt in flight.
        for connection in list(self._connections.values()):
            connection.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
