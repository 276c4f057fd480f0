"""AgentOpsSpanExporter against the real backend and against a scripted server on 127.0.0.1 (for the
answers a healthy backend never gives: 503 with Retry-After, a token that stops working, silence)."""

from __future__ import annotations

import gzip
import logging
import socket
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

from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter, parse_retry_after
from agentops_otel._internal.exporters.base import Outcome
from backend_fixtures import OK, ApiClient, BackendServer, SpanMaker, create_project, free_port

# -- a scripted server -------------------------------------------------------------------------------


class Scripted:
    """Answers each path with the next scripted ``(status, headers, body)``; the last one repeats."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                scripted.requests.append((self.path, dict(self.headers), body))
                answers = scripted.script.get(self.path) or [(404, {}, b"{}")]
                status, headers, payload = answers[0] if len(answers) == 1 else answers.pop(0)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
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


def test_401_after_fresh_token_is_not_a_loop(scripted: Scripted) -> None:
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(401, {}, b"{}")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    assert exporter.deliver(_spans(), 5).outcome is Outcome.REJECTED
    assert scripted.paths() == ["/v3/auth/token", "/v1/traces"]


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_overload_is_retried_with_retry_after(scripted: Scripted, status: int) -> None:
    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(status, {"Retry-After": "7"}, b"")]
    exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
    result = exporter.deliver(_spans(), 5)
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 7.0


@pytest.mark.parametrize("status", [400, 404, 413, 500])
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


def test_own_requests_are_not_traced(scripted: Scripted) -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    scripted.script["/v3/auth/token"] = [TOKEN_OK]
    scripted.script["/v1/traces"] = [(200, {}, b"")]
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        import requests

        requests.get(scripted.url + "/probe", timeout=5)  # traced: the instrumentation is live
        traced_before = len(memory.get_finished_spans())
        exporter = AgentOpsSpanExporter("key", api_url=scripted.url, timeout=5)
        assert exporter.deliver(_spans(), 5).outcome is Outcome.DELIVERED
    finally:
        instrumentor.uninstrument()
    assert traced_before == 1
    assert len(memory.get_finished_spans()) == 1


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
