"""Fuzzing a real ``agentops-otel serve``: hypothesis-made OTLP bodies (protobuf and JSON, well formed,
out of range, mutated), and schemathesis against the API's own ``/openapi.json``.

The properties: never a 5xx; every answer is the documented message (an ExportTraceServiceResponse or
a google.rpc.Status); and for a well-formed export, exactly the spans the documented rule refuses are
refused (``partial_success.rejected_spans``) and every other one is stored, once.

Bounded: ``AGENTOPS_FUZZ_EXAMPLES`` examples per test (default 100): about a minute for the file here.
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz tests need hypothesis (the test extra)")
from google.protobuf import json_format  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span  # noqa: E402

from agentops_otel.backend import openapi  # noqa: E402
from agentops_otel.store.records import MAX_TIME_NS  # noqa: E402
from backend_fixtures import ApiClient, BackendServer, create_project, status_of  # noqa: E402

EXAMPLES = int(os.environ.get("AGENTOPS_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


class Target:
    """The server, one project, and what the tests know is stored in it."""

    def __init__(self, server: BackendServer) -> None:
        self.server = server
        self.api = ApiClient(server.url)
        self.key = create_project(server.db)["api_key"]
        self.stored: set[tuple[str, str, str]] = set()

    def count(self) -> int:
        from agentops_otel.store.sqlite import Store

        with Store(self.server.db) as store:
            project_id = store.project_for_key(self.key)
            return int(store.count_spans(project_id))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServer]:
    db = str(tmp_path_factory.mktemp("fuzz") / "store.db")
    server = BackendServer(db, None, "--max-body-size", str(1024 * 1024)).start()
    yield server
    server.stop()


@pytest.fixture
def target(fuzz_server: BackendServer) -> Target:
    """A project of its own for each test, so that what one test stored does not count in another."""
    return Target(fuzz_server)


# -- OTLP messages -----------------------------------------------------------------------------------

_INT64 = st.integers(-(2**63), 2**63 - 1)
_TIMES = st.one_of(
    st.sampled_from([0, 1, MAX_TIME_NS, MAX_TIME_NS + 1, 2**64 - 1]),
    st.integers(0, 2**64 - 1),
    st.integers(1_600_000_000 * 10**9, 1_900_000_000 * 10**9),
)


def _ids(size: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(min_size=size, max_size=size),
        st.just(bytes(size)),
        st.binary(max_size=size + 4),
    )


def _array(values: list[AnyValue]) -> AnyValue:
    value = AnyValue()
    value.array_value.values.extend(values)
    return value


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    value = AnyValue()
    value.kvlist_value.values.extend(KeyValue(key=k, value=v) for k, v in pairs)
    return value


_SCALARS = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), st.text(max_size=20)),
    st.builds(lambda v: AnyValue(int_value=v), _INT64),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(double_value=v), st.floats()),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=8)),
    st.just(AnyValue()),
)
# Two levels of arrays and maps (deeper nesting has a test of its own); st.recursive is far slower.
_NESTED = st.one_of(
    st.builds(_array, st.lists(_SCALARS, max_size=3)),
    st.builds(_kvlist, st.lists(st.tuples(st.text(max_size=5), _SCALARS), max_size=3)),
)
_VALUES = st.one_of(
    _SCALARS,
    _NESTED,
    st.builds(_kvlist, st.lists(st.tuples(st.text(max_size=5), _NESTED), max_size=2)),
)


_KEYS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["session.id", "agentops.span.kind", "agentops.session.tags", "agentops.usage.cost_usd"]),
)
_KINDS = st.sampled_from(["llm", "tool", "session", "session.start", "agent", "error", "x"])


@st.composite
def _span(draw: st.DrawFn) -> Span:
    span = Span(
        trace_id=draw(_ids(16)),
        span_id=draw(_ids(8)),
        parent_span_id=draw(st.one_of(st.just(b""), _ids(8))),
        name=draw(st.text(max_size=20)),
        start_time_unix_nano=draw(_TIMES),
        end_time_unix_nano=draw(_TIMES),
        kind=draw(st.integers(0, 5)),
    )
    for key, value in draw(st.lists(st.tuples(_KEYS, _VALUES), max_size=4)):
        span.attributes.add(key=key, value=value)
    if draw(st.booleans()):
        span.attributes.add(key="agentops.span.kind", value=AnyValue(string_value=draw(_KINDS)))
    if draw(st.booleans()):  # token counts that a session sums: small, so that no sum overflows
        span.attributes.add(
            key="gen_ai.usage.input_tokens", value=AnyValue(int_value=draw(st.integers(0, 10**6)))
        )
    span.status.code = draw(st.integers(0, 3))
    span.status.message = draw(st.text(max_size=10))
    for _ in range(draw(st.integers(0, 2))):
        event = span.events.add(name=draw(st.text(max_size=8)), time_unix_nano=draw(_TIMES))
        event.attributes.add(key="k", value=draw(_VALUES))
    return span


@st.composite
def exports(draw: st.DrawFn) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        resource_spans = request.resource_spans.add()
        for key, value in draw(st.lists(st.tuples(_KEYS, _VALUES), max_size=3)):
            resource_spans.resource.attributes.add(key=key, value=value)
        for _ in range(draw(st.integers(0, 2))):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = draw(st.text(max_size=8))
            scope_spans.spans.extend(draw(st.lists(_span(), max_size=4)))
    return request


def _session_of(span: Span) -> str:
    """The session the store files a span under: its (last) ``session.id`` when that reads as a
    non-empty string (a bytes value reads as its base64 text, as OTLP/JSON writes it), else its trace.
    A span is stored once per session: the same ids under another ``session.id`` are another span
    there (a real exporter never changes a span it sends again)."""
    value: AnyValue | None = None
    for attribute in span.attributes:
        if attribute.key == "session.id":
            value = attribute.value
    kind = value.WhichOneof("value") if value is not None else None
    if value is not None and kind == "string_value" and value.string_value:
        return "session:" + value.string_value
    if value is not None and kind == "bytes_value" and value.bytes_value:
        return "session:" + base64.b64encode(value.bytes_value).decode()
    return "trace:" + span.trace_id.hex()


def _expected(request: ExportTraceServiceRequest) -> tuple[int, set[tuple[str, str, str]]]:
    """The documented rule, applied by the test: ``(refused, (session, trace, span) stored)``."""
    refused, kept = 0, set()
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                valid = (
                    len(span.trace_id) == 16
                    and span.trace_id != bytes(16)
                    and len(span.span_id) == 8
                    and span.span_id != bytes(8)
                    and len(span.parent_span_id) in (0, 8)
                    and span.start_time_unix_nano <= MAX_TIME_NS
                    and span.end_time_unix_nano <= MAX_TIME_NS
                )
                if valid:
                    kept.add((_session_of(span), span.trace_id.hex(), span.span_id.hex()))
                else:
                    refused += 1
    return refused, kept


def _to_json(request: ExportTraceServiceRequest, hex_ids: bool) -> dict[str, Any]:
    """OTLP/JSON: protobuf's JSON mapping, with hex ids as the OTLP specification writes them."""
    doc = json_format.MessageToDict(request)
    if hex_ids:
        for resource_spans in doc.get("resourceSpans", []):
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    for field in ("traceId", "spanId", "parentSpanId"):
                        if field in span:
                            span[field] = base64.b64decode(span[field]).hex()
    return doc


def _check_answer(response: Any, protobuf: bool) -> int | None:
    """The rejected count of a 200, None for a 4xx; fails on anything else."""
    assert response.status_code < 500, response.text[:500]
    expected_type = "application/x-protobuf" if protobuf else "application/json"
    assert response.headers["content-type"].startswith(expected_type)
    if response.status_code != 200:
        assert response.status_code in (400, 413), response.text[:500]
        code, message = status_of(response)
        assert code == 3 if response.status_code == 400 else code == 8
        assert message
        return None
    if protobuf:
        answer = ExportTraceServiceResponse()
        answer.ParseFromString(response.content)
        return int(answer.partial_success.rejected_spans)
    partial = response.json().get("partialSuccess") or {}
    return int(partial.get("rejectedSpans", "0"))


def _send_and_check(target: Target, request: ExportTraceServiceRequest, body: bytes, protobuf: bool) -> None:
    refused, kept = _expected(request)
    before = target.count()
    response = target.api.post_traces(
        target.key, body, "application/x-protobuf" if protobuf else "application/json"
    )
    rejected = _check_answer(response, protobuf)
    assert rejected == refused, response.text[:500]
    new = kept - target.stored
    assert target.count() - before == len(new)
    target.stored |= kept


@FUZZ
@given(request=exports())
def test_protobuf_exports(target: Target, request: ExportTraceServiceRequest) -> None:
    _send_and_check(target, request, request.SerializeToString(), True)


@FUZZ
@given(request=exports(), hex_ids=st.booleans())
def test_json_exports(target: Target, request: ExportTraceServiceRequest, hex_ids: bool) -> None:
    _send_and_check(target, request, json.dumps(_to_json(request, hex_ids)).encode(), False)


_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.text(max_size=10),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def _mutate(doc: Any, rng: random.Random, replacement: Any) -> Any:
    """``doc`` with one of its values, chosen by ``rng``, replaced."""
    paths: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            paths.append((node, key))
            stack.append(value)
    if not paths:
        return replacement
    node, key = rng.choice(paths)
    node[key] = replacement
    return doc


@FUZZ
@given(request=exports(), seed=st.integers(0, 2**32), replacement=_JSON)
def test_mutated_json_exports(
    target: Target, request: ExportTraceServiceRequest, seed: int, replacement: Any
) -> None:
    """A value anywhere replaced by any JSON: a 400, or a 200 whose counts add up."""
    doc = _mutate(_to_json(request, True), random.Random(seed), replacement)
    before = target.count()
    response = target.api.post_traces(target.key, json.dumps(doc).encode(), "application/json")
    rejected = _check_answer(response, False)
    if rejected is None:
        assert target.count() == before  # a 400 stores nothing
    else:
        sent = sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        assert target.count() - before <= sent  # a span more or less (the mutation), never more spans


@FUZZ
@given(
    request=exports(),
    cuts=st.lists(st.integers(0, 10_000), min_size=1, max_size=3),
    noise=st.binary(max_size=8),
)
def test_damaged_protobuf_exports(
    target: Target, request: ExportTraceServiceRequest, cuts: list[int], noise: bytes
) -> None:
    """Truncated or overwritten protobuf: a 400, or a 200 (some damage still parses)."""
    body = bytearray(request.SerializeToString())
    for cut in cuts:
        position = cut % (len(body) + 1)
        body[position : position + len(noise)] = noise
    _check_answer(target.api.post_traces(target.key, bytes(body)), True)


# -- the REST API, against its OpenAPI description ----------------------------------------------------

schemathesis = pytest.importorskip(
    "schemathesis", reason="the API fuzz test needs schemathesis (the test extra)"
)


schemathesis.openapi.media_type(
    "application/x-protobuf", st.builds(lambda r: r.SerializeToString(), exports())
)
# The description the server serves at /openapi.json (test_backend_api checks that it is served).
schema = schemathesis.openapi.from_dict(openapi.document())


@schema.parametrize()
@settings(
    max_examples=max(20, EXAMPLES // 2), deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
def test_the_api_answers_as_its_description_says(case: Any, target: Target) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    case.call_and_validate(
        base_url=target.server.url,
        headers={"Authorization": f"Bearer {target.key}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
