"""AgentOpsSpanExporter against the real backend and against a scripted server on 127.0.0.1 (for the
answers a healthy backend never gives: 503 with Retry-After, a token that stops working, silence)."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter
from agentops_otel._internal.exporters.base import Outcome
from agentops_otel._internal.exporters.rules import parse_retry_after
from backend_fixtures import OK, ApiClient, BackendServer, SpanMaker, create_project, free_port
from core_helpers import REPO

# -- a scripted server -------------------------------------------------------------------------------


class Scripted:
    """Answers each path with the next scripted ``(status, headers, body)``; the last one repeats.

    With ``keep_alive`` it speaks HTTP/1.1 and keeps connections open. Two pseudo headers shape an
    answer: ``X-Close`` closes the connection after it without saying so, ``X-No-Length`` sends the
    body without Content-Length (to the end of the connection). ``Transfer-Encoding: chunked`` sends
    the body in chunks.
    """

    def __init__(self, keep_alive: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.script: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.peers: list[tuple[str, int]] = []  # the client address of each request
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                scripted.requests.append((self.path, dict(self.headers), body))
                scripted.peers.append(self.client_address)
                answers = scripted.script.get(self.path) or [(404, {}, b"{}")]
                status, headers, payload = answers[0] if len(answers) == 1 else answers.pop(0)
                self.send_response(status)
                shaped = dict(headers)
                close = shaped.pop("X-Close", None) is not None
                no_length = shaped.pop("X-No-Length", None) is not None
                for k, v in shaped.items():
                    self.send_header(k, v)
                chunked = shaped.get("Transfer-Encoding") == "chunked"
                if not chunked and not no_length:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if chunked:
                    for i in range(0, len(payload), 7):
                        piece = payload[i : i + 7]
                        self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
                else:
                    self.wfile.write(payload)
                if close or no_length:
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def paths(self) -> list[str]:
        return [r[0] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


TOKEN_OK = (200, {"Content-Type": "application/json"}, b'{"token": "tok-1", "project_id": "p"}')


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    yield server
    server.close()


def _spans(n: int = 3) -> list[Any]:
    maker = SpanMaker()
    _, marker, rest = maker.session(children=[("t", {"agentops.span.kind": "tool"}, None)] * (n - 1))
    return marker + rest


# -- against the real backend ------------------------------------------------------------------------


def test_backend_down_then_up_loses_nothing(tmp_path: Any) -> None:
    db = str(tmp_path / "store.db")
    project = create_project(db)
    port = free_port()
    exporter = AgentOpsSpanExporter(project["api_key"], api_url=f"http://127.0.0.1:{port}", timeout=5)
    maker = SpanMaker()
    session_id, marker, rest = maker.session(
        children=[("t", {"agentops.span.kind": "tool"}, None)], root_status=OK
    )

    # Down: the batch is not delivered and not dropped (RETRY keeps it in the processor's queue).
    assert exporter.deliver(marker, 5).outcome is Outcome.RETRY
    server = BackendServer(db, port).start()
    try:
        assert exporter.deliver(marker, 5).outcome is Outcome.DELIVERED
        assert exporter.deliver(rest, 5).outcome is Outcome.DELIVERED
        api = ApiClient(server.url)
        session = api.session(api.token(project["api_key"]), session_id)
        assert session is not None
        assert session["span_count"] == 2 and session["end_state"] == "Success"
    finally:
        server.stop()
        exporter.shutdown()


def test_invalid_key_is_reported_once(
    backend: BackendServer, api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = AgentOpsSpanExporter("not-a-key", api_url=backend.url, timeout=5)
    with caplog.at_level(logging.ERROR, logger="agentops_otel"):
        results = [exporter.deliver(_spans(), 5).outcome for _ in range(3)]
    assert results == [Outcome.REJECTED] * 3
    lines = [r for r in caplog.records if "invalid API key" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].name.startswith("agentops_otel")
    # export() under a stock BatchSpanProcessor gives up at once too.
    assert exporter.export(_spans()) is SpanExportResult.FAILURE


def test_invalid_key_stops_network_use(scripted: Scripted) -> None:
    scripted.script["/v3/auth/token"] = [(401, {}, b'{"error": "unknown API key"}')]
    exporter = AgentOpsSpanExporter("bad", api_url=scripted.url, timeout=5)
    for _ in range(3):
        assert exporter.deliver(_spans(), 5).outcome is Outcome.REJECTED
    assert scripted.paths() == ["/v3/auth/token"]


# -- against the scripted server ---------------------------------------------------------------------


def test_sends_gzip_protobuf_with_bearer(scripted: Scripted) -> None:
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(200, {}, b"")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    spans = _spans(4)
    assert exporter.deliver(spans, 5).outcome is Outcome.DELIVERED
    assert exporter.deliver(spans, 5).outcome is Outcome.DELIVERED
    assert scripted.paths() == ["/v3/auth/token", "/v1/traces", "/v1/traces"]  # one token, reused
    _, headers, body = scripted.requests[1]
    assert headers["Authorization"] == "Bearer tok-1"
    assert headers["Content-Type"] == "application/x-protobuf" and headers["Content-Encoding"] == "gzip"
    request = ExportTraceServiceRequest()
    request.ParseFromString(gzip.decompress(body))
    assert sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans) == len(spans)
    assert exporter.project_id == "p"


def test_no_span_leaves_without_a_token(scripted: Scripted) -> None:
    scripted.script["/v3/auth/token"] = [(503, {"Retry-After": "2"}, b"")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    result = exporter.deliver(_spans(), 5)
    assert result.outcome is Outcome.RETRY and result.retry_after == 2.0
    assert "/v1/traces" not in scripted.paths()


def test_token_refreshed_on_401(scripted: Scripted) -> None:
    scripted.script["/v3/auth/token"] = [
        TOKEN_OK,
        (200, {}, b'{"token": "tok-2", "project_id": "p"}'),
    ]
    scripted.script["/v1/traces"] = [(200, {}, b""), (401, {}, b"{}"), (200, {}, b"")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    assert exporter.deliver(_spans(), 5).outcome is Outcome.DELIVERED
    assert exporter.deliver(_spans(), 5).outcome is Outcome.DELIVERED
    assert scripted.paths() == ["/v3/auth/token", "/v1/traces", "/v1/traces", "/v3/auth/token", "/v1/traces"]
    assert scripted.requests[-1][1]["Authorization"] == "Bearer tok-2"


def test_401_after_fresh_token_is_retried_not_looped(scripted: Scripted) -> None:
    """A 401 with a token just issued: one refresh within the attempt, then RETRY (the batch is kept
    for the processor's backoff, never dropped and never re-sent in a tight loop)."""
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(401, {}, b"{}")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    assert exporter.deliver(_spans(), 5).outcome is Outcome.RETRY
    assert scripted.paths() == ["/v3/auth/token", "/v1/traces", "/v3/auth/token", "/v1/traces"]


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_overload_is_retried_with_retry_after(scripted: Scripted, status: int) -> None:
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(status, {"Retry-After": "7"}, b"")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    result = exporter.deliver(_spans(), 5)
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 7.0


@pytest.mark.parametrize(
    ("status", "outcome", "suspect"),
    [(500, Outcome.RETRY, True), (507, Outcome.RETRY, True), (400, Outcome.REJECTED, True),
     (413, Outcome.REJECTED, True), (422, Outcome.REJECTED, True), (308, Outcome.RETRY, False)],
)  # fmt: skip
def test_answers_that_may_be_the_content_mark_the_batch_suspect(
    scripted: Scripted, status: int, outcome: Outcome, suspect: bool
) -> None:
    """5xx and 400/413/422 may be caused by one span: the processor splits such a batch (a 3xx is
    retried, never followed)."""
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(status, {"Location": "http://127.0.0.1:9/elsewhere"}, b"{}")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    result = exporter.deliver(_spans(), 5)
    assert (result.outcome, result.suspect) == (outcome, suspect)
    assert scripted.paths() == ["/v3/auth/token", "/v1/traces"]


@pytest.mark.parametrize("status", [403, 404, 410])
def test_other_refusals_are_final_and_logged_once(
    scripted: Scripted, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(status, {}, b'{"error": "no"}')]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    with caplog.at_level(logging.ERROR, logger="agentops_otel"):
        outcomes = [exporter.deliver(_spans(), 5).outcome for _ in range(2)]
    assert outcomes == [Outcome.REJECTED, Outcome.REJECTED]
    assert len([r for r in caplog.records if str(status) in r.getMessage()]) == 1


def test_export_honours_retry_after_then_succeeds(scripted: Scripted) -> None:
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(503, {"Retry-After": "1"}, b""), (200, {}, b"")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    started = time.monotonic()
    assert exporter.export(_spans()) is SpanExportResult.SUCCESS
    assert time.monotonic() - started >= 0.9  # it waited as told before trying again
    assert scripted.paths().count("/v1/traces") == 2


def test_hung_server_returns_within_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections (kernel backlog), never answers
    try:
        exporter = AgentOpsSpanExporter(
            "key", api_url=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5
        )
        started = time.monotonic()
        result = exporter.deliver(_spans(), 0.5)
        elapsed = time.monotonic() - started
        assert result.outcome is Outcome.RETRY
        assert elapsed < 3.0  # bounded by the 0.5 s given, with room for a busy machine
    finally:
        listener.close()


def test_shutdown_makes_later_calls_quick(scripted: Scripted) -> None:
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    exporter.shutdown()
    assert exporter.deliver(_spans(), 5).outcome is Outcome.REJECTED
    assert exporter.export(_spans()) is SpanExportResult.FAILURE
    assert scripted.requests == []


def test_own_requests_are_not_traced(scripted: Scripted, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every HTTP client instrumentation of the test extra is live, yet our sends make no span: they
    run under "suppress instrumentation" (checked while each request is on the wire)."""
    import httpx
    import requests
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, get_value
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    from agentops_otel._internal.exporters import http

    suppressed: list[object] = []
    real_post = http.Transport.post

    def watched(self: Any, *args: Any, **kwargs: Any) -> Any:
        suppressed.append(get_value(_SUPPRESS_INSTRUMENTATION_KEY))
        return real_post(self, *args, **kwargs)

    monkeypatch.setattr(http.Transport, "post", watched)
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(200, {}, b"")]
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentors = [RequestsInstrumentor(), HTTPXClientInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    try:
        requests.get(scripted.url + "/probe", timeout=5)  # traced: the instrumentations are live
        httpx.get(scripted.url + "/probe", timeout=5)
        traced_before = len(memory.get_finished_spans())
        exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
        assert exporter.deliver(_spans(), 5).outcome is Outcome.DELIVERED
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
    assert traced_before == 2
    assert len(memory.get_finished_spans()) == 2
    assert suppressed == [True, True]  # the token exchange and the traces


# -- the HTTP client ---------------------------------------------------------------------------------


def test_keep_alive_connection_is_reused() -> None:
    server = Scripted(keep_alive=True)
    try:
        server.script["/v3/auth/token"] = [TOKEN_OK]
        server.script["/v1/traces"] = [(200, {}, b"")]
        exporter = AgentOpsSpanExporter("key", api_url=server.url, timeout=5)
        for _ in range(3):
            assert exporter.deliver(_spans(), 5).outcome is Outcome.DELIVERED
        assert server.paths() == ["/v3/auth/token"] + ["/v1/traces"] * 3
        assert len(set(server.peers)) == 1
        exporter.shutdown()
    finally:
        server.close()


@pytest.mark.parametrize("how", ["Connection", "X-Close"])
def test_connection_reopened_after_the_server_closes_it(how: str) -> None:
    """Said (``Connection: close``) or silent (closed while idle): the next batch goes on a new one."""
    server = Scripted(keep_alive=True)
    try:
        server.script["/v3/auth/token"] = [TOKEN_OK]
        server.script["/v1/traces"] = [(200, {how: "close"}, b""), (200, {}, b"")]
        exporter = AgentOpsSpanExporter("key", api_url=server.url, timeout=5)
        assert exporter.deliver(_spans(), 5).outcome is Outcome.DELIVERED
        time.sleep(0.1)  # let the close reach us
        assert exporter.deliver(_spans(), 5).outcome is Outcome.DELIVERED
        assert server.paths() == ["/v3/auth/token", "/v1/traces", "/v1/traces"]
        assert len(set(server.peers)) == 2
    finally:
        server.close()


def test_connection_reset_mid_answer_is_retry_then_recovers() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def answer_then_reset() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"tok')  # cut short
        conn.close()

    thread = threading.Thread(target=answer_then_reset, daemon=True)
    thread.start()
    try:
        exporter = AgentOpsSpanExporter("key", api_url=url, timeout=2)
        result = exporter.deliver(_spans(), 2)
        assert result.outcome is Outcome.RETRY and "cannot reach" in result.reason
    finally:
        thread.join(5)
        listener.close()


def test_chunked_and_unsized_answers() -> None:
    server = Scripted(keep_alive=True)
    try:
        server.script["/v3/auth/token"] = [(200, {"Transfer-Encoding": "chunked"}, TOKEN_OK[2])]
        server.script["/v1/traces"] = [
            (200, {"X-No-Length": "1"}, b"accepted"),
            (503, {"Retry-After": "3"}, b""),
        ]
        exporter = AgentOpsSpanExporter("key", api_url=server.url, timeout=5)
        assert exporter.deliver(_spans(), 5).outcome is Outcome.DELIVERED
        assert exporter.project_id == "p"  # the chunked JSON was read whole
        result = exporter.deliver(_spans(), 5)
        assert result.outcome is Outcome.RETRY and result.retry_after == 3.0
    finally:
        server.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_checks_the_certificate(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = Scripted(keep_alive=True, tls=tls)
    try:
        server.script["/v3/auth/token"] = [TOKEN_OK]
        server.script["/v1/traces"] = [(200, {}, b"")]
        # Not trusted: nothing is sent, the batch waits.
        untrusted = AgentOpsSpanExporter("key", api_url=server.url, timeout=5)
        assert untrusted.deliver(_spans(), 5).outcome is Outcome.RETRY
        assert server.requests == []
        # Trusted through the usual OpenSSL variable: delivered, on one connection.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = AgentOpsSpanExporter("key", api_url=server.url, timeout=5)
        assert trusted.deliver(_spans(), 5).outcome is Outcome.DELIVERED
        assert trusted.deliver(_spans(), 5).outcome is Outcome.DELIVERED
        assert server.paths() == ["/v3/auth/token", "/v1/traces", "/v1/traces"]
        assert len(set(server.peers)) == 1
    finally:
        server.close()


# -- the exit code -----------------------------------------------------------------------------------

INTERRUPTED = "{sdk}raise KeyboardInterrupt\n"


def _exit_code(tmp_path: Any, sdk: str, env: dict[str, str]) -> int:
    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED.format(sdk=sdk))
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, timeout=60).returncode


@pytest.mark.parametrize("backend_up", [False, True])
def test_keyboard_interrupt_keeps_its_exit_code(tmp_path: Any, scripted: Scripted, backend_up: bool) -> None:
    """``init(); raise KeyboardInterrupt`` exits as the same program without the SDK (130 on POSIX),
    whether the exit flush finds the backend down or sends the session to it."""
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(200, {}, b"")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    env["AGENTOPS_API_KEY"] = "k"
    env["AGENTOPS_API_ENDPOINT"] = scripted.url if backend_up else f"http://127.0.0.1:{free_port()}"
    env["AGENTOPS_SHUTDOWN_TIMEOUT"] = "2" if backend_up else "0.5"
    expected = _exit_code(tmp_path, "", env)
    assert expected != 0
    for _ in range(2):
        assert _exit_code(tmp_path, "import agentops_otel\nagentops_otel.init()\n", env) == expected
    if backend_up:
        assert scripted.paths().count("/v1/traces") >= 2  # the flush at exit did send


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOPS_API_KEY", "env-key")
    monkeypatch.setenv("AGENTOPS_API_ENDPOINT", "http://127.0.0.1:9/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2.5")
    exporter = AgentOpsSpanExporter()
    assert exporter.api_key == "env-key"
    assert exporter.api_url == "http://127.0.0.1:9"
    assert exporter.traces_url == "http://127.0.0.1:9/v1/traces"
    assert exporter.timeout == 2.5
    monkeypatch.setenv("AGENTOPS_EXPORTER_ENDPOINT", "http://127.0.0.1:10/otlp/v1/traces")
    assert AgentOpsSpanExporter().traces_url == "http://127.0.0.1:10/otlp/v1/traces"


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("100000") == 300.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    parsed = parse_retry_after(future)
    assert parsed is not None and 20 <= parsed <= 31
