"""A backend on 127.0.0.1 that misbehaves as real ones do, for the fault suite (tests/test_faults_*.py).

It speaks the two endpoints the exporter uses (``POST /v3/auth/token``, ``POST /v1/traces``) and
decodes what it accepts (gzip'd OTLP protobuf), so a test can say which spans arrived and how often.
A :class:`Behaviour` says how each request is answered: a status (maybe only the first N times),
headers, a raw answer that is not proper HTTP, a delay, silence, or a rule on the batch's content.

A child process plays the user's program (:data:`USER_PROGRAM`): ``init()``, N ``@tool`` calls, the
session ended, a flush; it prints what the client counted and how long its calls took, and the test
measures the exit.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from core_helpers import REPO

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Behaviour:
    """How the fake backend answers. ``traces`` may depend on the request's spans (their names)."""

    token: bytes = b'{"token": "tok-1", "project_id": "p"}'
    auth: Callable[[int], Answer | bytes | None] | None = None
    traces: Callable[[int, list[str]], Answer | bytes | None] | None = None
    #: Seconds to wait before answering traces (never answering: a huge value).
    delay: float = 0.0


@dataclass
class Seen:
    path: str
    at: float
    headers: dict[str, str]
    span_ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    status: int = 0


def decode(body: bytes, encoding: str | None) -> ExportTraceServiceRequest:
    data = gzip.decompress(body) if encoding == "gzip" else body
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    return request


class FaultServer:
    """The fake backend; ``stored`` counts every span id it accepted (answered 2xx for)."""

    def __init__(self, behaviour: Behaviour | None = None, port: int = 0, tls: Any = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.seen: list[Seen] = []
        self.stored: Counter[str] = Counter()
        self.stored_names: Counter[str] = Counter()
        self.spans: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    server._answer(self, body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:  # an ssl.SSLContext for the server side
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.port = int(self.httpd.server_address[1])
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        seen = Seen(handler.path, time.monotonic(), dict(handler.headers))
        with self._lock:
            self.seen.append(seen)
            index = sum(1 for s in self.seen if s.path == handler.path) - 1
        behaviour = self.behaviour
        answer: Answer | bytes | None
        request: ExportTraceServiceRequest | None = None
        if handler.path == "/v3/auth/token":
            answer = behaviour.auth(index) if behaviour.auth else (200, {}, behaviour.token)
        elif handler.path == "/v1/traces":
            try:
                request = decode(body, handler.headers.get("Content-Encoding"))
            except Exception:
                answer = (400, {}, b'{"error": "cannot decode"}')
            else:
                for rs in request.resource_spans:
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            seen.span_ids.append(span.span_id.hex())
                            seen.names.append(span.name)
                if behaviour.delay:
                    self._stop.wait(behaviour.delay)
                answer = behaviour.traces(index, seen.names) if behaviour.traces else (200, {}, b"{}")
        else:
            answer = (404, {}, b"{}")
        if answer is None:  # silence: keep the connection open until the server stops
            self._stop.wait(60)
            handler.close_connection = True
            return
        if isinstance(answer, bytes):  # raw bytes, not (necessarily) HTTP
            handler.wfile.write(answer)
            handler.wfile.flush()
            handler.close_connection = True
            seen.status = int(answer[9:12]) if answer[:5] == b"HTTP/" and answer[9:12].isdigit() else -1
            self._record(seen, request)
            return
        status, headers, payload = answer
        seen.status = status
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        self._record(seen, request)

    def _record(self, seen: Seen, request: ExportTraceServiceRequest | None) -> None:
        if request is None or not 200 <= seen.status < 300:
            return
        with self._lock:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        self.stored[span.span_id.hex()] += 1
                        self.stored_names[span.name] += 1
                        self.spans[span.span_id.hex()] = span

    def traces_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/v1/traces"]

    def auth_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path == "/v3/auth/token"]

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def refused_url() -> str:
    """A URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


USER_PROGRAM = """
import json, os, sys, time
started = time.monotonic()
import agentops_otel
from agentops_otel import tool
sid = agentops_otel.init(instrument_llm_calls=False, tags=["faults"])

@tool
def step(i):
    return i

calls = time.monotonic()
for i in range(int(os.environ["N_SPANS"])):
    step(i)
    if os.environ.get("PACE"):
        time.sleep(float(os.environ["PACE"]))
calls = time.monotonic() - calls
END
client = agentops_otel.get_client()
flush_started = time.monotonic()
flushed = client.flush(float(os.environ.get("FLUSH_TIMEOUT", "5")))
flush_s = time.monotonic() - flush_started
print(json.dumps({
    "sid": sid, "flushed": flushed, "flush_s": flush_s, "calls_s": calls,
    "delivered": client.delivered_spans, "rejected": client.rejected_spans,
    "dropped": client.dropped_spans, "spooled": client.spooled_spans,
}), flush=True)
EXTRA
"""


@dataclass
class Run:
    report: dict[str, Any]
    stderr: str
    returncode: int
    exit_s: float  # from the report line to the process's end
    stdout_rest: str = ""  # what the program printed after its report


def run_user(
    tmp_path: Path,
    url: str,
    *,
    spans: int = 200,
    end: str = "agentops_otel.end_session('Success')",
    extra: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> Run:
    """The user's program against ``url``; its report, its stderr, and how long its exit took."""
    script = tmp_path / "user.py"
    script.write_text(USER_PROGRAM.replace("END", end).replace("EXTRA", extra))
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    full.update(
        PYTHONPATH=str(REPO / "src"),
        AGENTOPS_API_ENDPOINT=url,
        AGENTOPS_API_KEY="key",
        AGENTOPS_DB=str(tmp_path / "client.db"),
        AGENTOPS_SHUTDOWN_TIMEOUT="3",
        AGENTOPS_HEARTBEAT_INTERVAL="0",
        OTEL_BSP_SCHEDULE_DELAY="200",
        N_SPANS=str(spans),
    )
    full.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    reported = time.monotonic()
    stdout_rest, stderr = proc.communicate(timeout=timeout)
    exit_s = time.monotonic() - reported
    assert line.strip(), f"no report (rc {proc.returncode}): {stderr}"
    return Run(json.loads(line), stderr, proc.returncode, exit_s, stdout_rest)


def spool_rows(store: Path) -> list[tuple[int, int]]:
    """``(spans, body bytes)`` of each spool row in the store file."""
    import sqlite3

    if not store.exists():
        return []
    with sqlite3.connect(store) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'spool'").fetchone():
            return []
        return [(int(n), int(size)) for n, size in conn.execute("SELECT spans, length(body) FROM spool")]
