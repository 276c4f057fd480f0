"""Any OTLP sender into a real ``agentops-otel serve``: OpenTelemetry's own exporters (HTTP protobuf
with gzip, configured as a Collector's ``otlphttp`` would be, with a static API-key header; OTLP/JSON;
OTLP/gRPC), and hand-made requests with ``http.client`` as curl would send them."""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from backend_fixtures import (
    ApiClient,
    BackendServer,
    SpanMaker,
    create_project,
    encode,
    free_port,
    partial_success,
    status_of,
)

grpc = pytest.importorskip("grpc", reason="OTLP/gRPC needs the grpc extra (grpcio)")

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Served:
    def __init__(self, server: BackendServer, grpc_port: int) -> None:
        self.server = server
        self.grpc_port = grpc_port
        self.api = ApiClient(server.url)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    db = str(tmp_path_factory.mktemp("otlp-clients") / "store.db")
    grpc_port = free_port()
    server = BackendServer(
        db, None, "--grpc-port", str(grpc_port), "--max-inflight", "1", "--max-body-size", str(1024 * 1024)
    ).start()
    yield Served(server, grpc_port)
    server.stop()


def _send_with(exporter: SpanExporter, session_id: str, count: int = 3) -> None:
    """Spans of a plain service (no agentops code) through ``exporter``, as an application would."""
    provider = TracerProvider(resource=Resource.create({"service.name": "other-sender"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("other.sender")
    with tracer.start_as_current_span("GET /orders", attributes={"session.id": session_id}):
        for i in range(count - 1):
            with tracer.start_as_current_span(f"step {i}", attributes={"session.id": session_id, "i": i}):
                pass
    assert provider.force_flush(10_000)
    provider.shutdown()


def test_official_http_exporter_with_gzip_and_the_api_key_as_a_static_header(served: Served) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    project = create_project(served.server.db)
    session_id = str(uuid.uuid4())
    exporter = OTLPSpanExporter(
        endpoint=served.server.url + "/v1/traces",
        headers={"Authorization": f"Bearer {project['api_key']}"},
        compression=Compression.Gzip,
    )
    _send_with(exporter, session_id)
    session = served.api.session(project["api_key"], session_id)
    assert session is not None and session["span_count"] == 3
    assert {s["name"] for s in session["spans"]} == {"GET /orders", "step 0", "step 1"}


def test_a_process_configured_only_by_otel_environment_variables(served: Served) -> None:
    """The zero-code configuration a Collector's otlphttp exporter mirrors: endpoint, static headers
    (percent-encoded, as OTEL_EXPORTER_OTLP_HEADERS is) and gzip, and the stock SDK."""
    project = create_project(served.server.db)
    session_id = str(uuid.uuid4())
    script = textwrap.dedent(
        f"""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        with provider.get_tracer("env").start_as_current_span("job", attributes={{"session.id": {session_id!r}}}):
            pass
        assert provider.force_flush(10_000)
        """
    )
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": served.server.url,
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{project['api_key']}",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Failed to export" not in done.stderr
    session = served.api.session(project["api_key"], session_id)
    assert session is not None and [s["name"] for s in session["spans"]] == ["job"]


def test_official_otlp_json_exporter(served: Served) -> None:
    try:
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        pytest.skip(
            "opentelemetry-exporter-otlp-json-http is not installed (its releases pin other SDK versions)"
        )
    project = create_project(served.server.db)
    session_id = str(uuid.uuid4())
    exporter = OTLPSpanExporter(
        endpoint=served.server.url + "/v1/traces", headers={"Authorization": f"Bearer {project['api_key']}"}
    )
    _send_with(exporter, session_id)
    session = served.api.session(project["api_key"], session_id)
    assert session is not None and session["span_count"] == 3


def _curl(
    port: int, body: bytes, headers: dict[str, str], *, chunked: bool = False
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if chunked:
            connection.request(
                "POST", "/v1/traces", body=iter([body[:10], body[10:]]), headers=headers, encode_chunked=True
            )
        else:
            connection.request("POST", "/v1/traces", body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def test_hand_written_otlp_json_as_the_specification_shows_it(served: Served) -> None:
    """An OTLP/JSON body as the opentelemetry-proto examples write one: upper-case hex ids, an integer
    span kind, scope attributes, links, trace state, flags, an unknown field; sent by a curl-like
    client, also chunked and with a charset."""
    project = create_project(served.server.db)
    session_id = str(uuid.uuid4())
    trace_id = uuid.uuid4().hex.upper()
    body = json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "curl"}}]},
                    "scopeSpans": [
                        {
                            "scope": {
                                "name": "my.library",
                                "version": "1.0.0",
                                "attributes": [
                                    {
                                        "key": "my.scope.attribute",
                                        "value": {"stringValue": "some scope attribute"},
                                    }
                                ],
                            },
                            "spans": [
                                {
                                    "traceId": trace_id,
                                    "spanId": "EEE19B7EC3C1B174",
                                    "parentSpanId": "",
                                    "name": "I'm a server span",
                                    "startTimeUnixNano": "1544712660000000000",
                                    "endTimeUnixNano": "1544712661000000000",
                                    "kind": 2,
                                    "traceState": "k=v",
                                    "flags": 257,
                                    "attributes": [
                                        {"key": "session.id", "value": {"stringValue": session_id}},
                                        {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                                        {"key": "retries", "value": {"intValue": "3"}},
                                    ],
                                    "links": [{"traceId": trace_id, "spanId": "AAA19B7EC3C1B174"}],
                                    "status": {"code": 2, "message": "it broke"},
                                    "aFieldFromTheFuture": {"x": 1},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Authorization": f"Bearer {project['api_key']}",
    }
    for chunked in (False, True):
        status, answer_headers, answer = _curl(served.server.port, body, headers, chunked=chunked)
        assert (
            status == 200
            and answer_headers["content-type"] == "application/json"
            and json.loads(answer) == {}
        )
    session = served.api.session(project["api_key"], session_id)
    assert session is not None and session["span_count"] == 1 and session["end_state"] == "Fail"
    span = session["spans"][0]
    assert span["span_id"] == "eee19b7ec3c1b174" and span["trace_id"] == trace_id.lower()
    assert span["attributes"]["retries"] == 3 and span["status"] == "ERROR"
    # A malformed protobuf body: a protobuf google.rpc.Status, as an OTLP client expects.
    status, answer_headers, answer = _curl(
        served.server.port, b"\xff\xff", {**headers, "Content-Type": "application/x-protobuf"}
    )
    from google.rpc.status_pb2 import Status

    assert status == 400 and answer_headers["content-type"] == "application/x-protobuf"
    parsed = Status()
    parsed.ParseFromString(answer)
    assert parsed.code == 3 and "ExportTraceServiceRequest" in parsed.message


# -- OTLP/gRPC ---------------------------------------------------------------------------------------


def test_official_grpc_exporter_with_the_api_key_and_a_token(served: Served) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    project = create_project(served.server.db)
    token = served.api.token(project["api_key"])
    for bearer, compression in (
        (project["api_key"], grpc.Compression.Gzip),
        (token, grpc.Compression.NoCompression),
    ):
        session_id = str(uuid.uuid4())
        exporter = OTLPSpanExporter(
            endpoint=f"127.0.0.1:{served.grpc_port}",
            insecure=True,
            headers={"authorization": f"Bearer {bearer}"},
            compression=compression,
        )
        _send_with(exporter, session_id, count=4)
        session = served.api.session(token, session_id)
        assert session is not None and session["span_count"] == 4, compression


def _call(served: Served, body: bytes, bearer: str | None, **kwargs: Any) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{served.grpc_port}") as channel:
        export = channel.unary_unary(_EXPORT)
        metadata = [("authorization", f"Bearer {bearer}")] if bearer else []
        result: bytes = export(body, metadata=metadata, timeout=20, **kwargs)
        return result


def _details(error: Any) -> tuple[Any, str, dict[str, bytes]]:
    trailers = {k: v for k, v in (error.trailing_metadata() or ()) if isinstance(v, bytes)}
    return error.code(), error.details(), trailers


def test_grpc_refusals_carry_codes_and_a_status(served: Served) -> None:
    from google.rpc.status_pb2 import Status

    project = create_project(served.server.db)
    _, marker, rest = SpanMaker().session()
    good = encode(marker + rest)
    cases = [
        (good, None, grpc.StatusCode.UNAUTHENTICATED),
        (good, str(uuid.uuid4()), grpc.StatusCode.UNAUTHENTICATED),
        (b"\xff\xff not protobuf", project["api_key"], grpc.StatusCode.INVALID_ARGUMENT),
        (good + b"\0" * (2 * 1024 * 1024), project["api_key"], grpc.StatusCode.RESOURCE_EXHAUSTED),
    ]
    for body, bearer, expected in cases:
        with pytest.raises(grpc.RpcError) as refused:
            _call(served, body, bearer)
        code, message, trailers = _details(refused.value)
        assert code == expected, message
        if expected != grpc.StatusCode.RESOURCE_EXHAUSTED:  # that one is grpcio's own
            status = Status()
            status.ParseFromString(trailers["grpc-status-details-bin"])
            assert status.message == message and status.code == expected.value[0]
    # A gzip bomb: grpcio's limit holds after decompression too.
    bomb = encode(marker + rest) + b"\0" * (8 * 1024 * 1024)
    with pytest.raises(grpc.RpcError) as too_big:
        _call(served, bomb, project["api_key"], compression=grpc.Compression.Gzip)
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_grpc_partial_success_counts_the_span_refused_alone(served: Served) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    project = create_project(served.server.db)
    session_id, marker, rest = SpanMaker().session(children=[("late", {"agentops.span.kind": "tool"}, None)])
    request = ExportTraceServiceRequest()
    request.ParseFromString(encode(marker + rest))
    late = next(s for s in request.resource_spans[0].scope_spans[0].spans if s.name == "late")
    late.end_time_unix_nano = 2**64 - 1
    answer = ExportTraceServiceResponse()
    answer.ParseFromString(_call(served, request.SerializeToString(), project["api_key"]))
    assert answer.partial_success.rejected_spans == 1 and "2262" in answer.partial_success.error_message
    session = served.api.session(project["api_key"], session_id)
    assert session is not None and session["span_count"] == 1 and session["tool_calls"] == 0


def test_grpc_overload_and_a_busy_store_are_unavailable_with_retry_info(served: Served) -> None:
    """``--max-inflight 1``, the store's write lock held by another process: the one export that gets
    the slot waits for the lock; the others are UNAVAILABLE at once, with a RetryInfo."""
    from google.rpc.error_details_pb2 import RetryInfo

    project = create_project(served.server.db)
    bodies = []
    for _ in range(3):
        _, marker, rest = SpanMaker().session()
        bodies.append(encode(marker + rest))
    holder = sqlite3.connect(served.server.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    refused: list[Any] = []
    two_refused = threading.Event()

    def send(body: bytes) -> bytes | None:
        try:
            return _call(served, body, project["api_key"])
        except grpc.RpcError as exc:
            refused.append(exc)
            if len(refused) >= 2:
                two_refused.set()
            return None

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(send, body) for body in bodies]
        try:
            assert two_refused.wait(15), [e.code() for e in refused]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        results = [f.result(30) for f in futures]
    assert sum(r is not None for r in results) == 1  # the one in the slot, stored once the lock went
    for error in refused:
        code, message, trailers = _details(error)
        assert code == grpc.StatusCode.UNAVAILABLE and "overloaded" in message
        info = RetryInfo()
        info.ParseFromString(trailers["google.rpc.retryinfo-bin"])
        assert info.retry_delay.seconds == 1
    assert len(served.api.sessions(project["api_key"])) == 1


def test_http_success_and_partial_success_answers_are_otlp_messages(served: Served) -> None:
    project = create_project(served.server.db)
    _, marker, rest = SpanMaker().session()
    answer = served.api.post_traces(project["api_key"], encode(marker + rest))
    assert answer.headers["content-type"] == "application/x-protobuf" and partial_success(answer) == (0, "")
    refused = served.api.post_traces(project["api_key"], b"\x0a\x02\x12\x00", "text/plain")
    assert refused.status_code == 415 and status_of(refused)[0] == 3
