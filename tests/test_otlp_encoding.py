"""Our hand-written OTLP encoder against the official one: for each span shape, the bytes we write
parse (with the official protobuf classes) to a message equal to ``encode_spans(spans)``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from agentops_otel._internal.exporters.otlp_encoding import encode_spans

ALL_TYPES = {
    "s": "plain",
    "empty": "",
    "unicode": "héllo ✓ 🚀 中文",
    "t": True,
    "f": False,
    "zero": 0,
    "neg": -42,
    "min64": -(2**63),
    "max64": 2**63 - 1,
    "small": 127,
    "big": 2**40 + 3,
    "pi": 3.14159,
    "fzero": 0.0,
    "negf": -1.5e-300,
    "inf": float("inf"),
    "raw": b"\x00\xff\x10",
    "noraw": b"",
    "strs": ["a", "", "ü"],
    "bools": [True, False],
    "ints": [0, -1, 2**62],
    "floats": (1.5, -0.0),
    "nothing": [],
}


def _official_keeps_none() -> bool:
    """The official encoder writes a None value (in an array, or the value of a key) as an empty
    AnyValue from opentelemetry-exporter-otlp-proto-common 1.4x on; older releases drop the attribute.
    Ours writes the newer form: against an older release, None values are left out of the comparison."""
    span = ReadableSpan("probe", context=SpanContext(1, 2, False), attributes={"n": [None]})
    request = ExportTraceServiceRequest()
    request.ParseFromString(official_encode([span]).SerializeToString())
    return bool(request.resource_spans[0].scope_spans[0].spans[0].attributes)


_KEEPS_NONE = _official_keeps_none()
if _KEEPS_NONE:
    ALL_TYPES["none_in"] = ["x", None]


def _recorder(
    resource: Resource | None = None, limits: SpanLimits | None = None
) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=resource or Resource.create({"service.name": "svc"}), span_limits=limits
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def assert_same(spans: Sequence[ReadableSpan]) -> bytes:
    ours = encode_spans(spans)
    parsed = ExportTraceServiceRequest()
    parsed.ParseFromString(ours)
    official = official_encode(spans)
    assert parsed == official, f"ours:\n{parsed}\nofficial:\n{official}"
    return ours


def _remote(trace_id: int = 0xABC, span_id: int = 0xDEF, state: TraceState | None = None) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)


def test_nested_spans_with_every_attribute_type() -> None:
    provider, memory = _recorder()
    tracer = provider.get_tracer("tests.encoding", "1.2.3")
    with (
        tracer.start_as_current_span("root", attributes=ALL_TYPES),
        tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child,
    ):
        child.set_attribute("llm.prompt", "word " * 700)
        with tracer.start_as_current_span("grandchild", kind=SpanKind.CONSUMER):
            pass
    spans = memory.get_finished_spans()
    assert len(spans) == 3
    assert_same(spans)


def test_every_kind_and_status() -> None:
    provider, memory = _recorder()
    tracer = provider.get_tracer("kinds")
    statuses = [
        Status(StatusCode.UNSET),
        Status(StatusCode.OK),
        Status(StatusCode.ERROR, "it broke: ✗"),
        Status(StatusCode.ERROR),
        Status(StatusCode.ERROR, ""),
    ]
    for kind, status in zip(SpanKind, statuses, strict=True):
        with tracer.start_as_current_span(f"k{kind.value}", kind=kind) as span:
            span.set_status(status)
    assert len(memory.get_finished_spans()) == 5
    assert_same(memory.get_finished_spans())


def test_remote_parent_trace_state_events_and_links() -> None:
    provider, memory = _recorder()
    tracer = provider.get_tracer("links", schema_url="https://opentelemetry.io/schemas/1.21.0")
    state = TraceState([("vendor", "v1"), ("other", "x=y")])
    parent_ctx = trace.set_span_in_context(NonRecordingSpan(_remote(0x1234, 0x5678, state)))
    links = [
        Link(_remote(0x99, 0x98), {"link.kind": "follows", "n": 3}),
        Link(SpanContext(0x77, 0x76, is_remote=False), None),
        Link(_remote(0x55, 0x54, state)),
    ]
    with tracer.start_as_current_span("from-remote", context=parent_ctx, links=links) as span:
        span.add_event("started")
        span.add_event("tool.call", {"tool": "search", "args": ["a", "b"], "ok": True}, timestamp=123)
        span.add_event("", {"empty": ""})
        span.record_exception(ValueError("bad value"))
        with tracer.start_as_current_span("local-child"):
            pass
    spans = memory.get_finished_spans()
    assert spans[1].parent is not None and spans[1].parent.is_remote
    assert_same(spans)


def test_several_resources_and_scopes_interleaved() -> None:
    first, memory_1 = _recorder(Resource.create({"service.name": "a", "host.cpus": 2}))
    second, memory_2 = _recorder(Resource({"service.name": "b", "ratio": 0.5}, schema_url="https://x/schema"))
    scopes = [
        first.get_tracer("one"),
        first.get_tracer("two", "0.1", attributes={"scope.attr": "v", "n": 1}),
        second.get_tracer("one"),
        second.get_tracer("three", schema_url="https://x/s"),
    ]
    for round_ in range(3):
        for i, tracer in enumerate(scopes):
            with tracer.start_as_current_span(f"s{round_}.{i}"):
                pass
    # Interleave the two providers' spans: grouping must follow first appearance.
    spans = [
        s
        for pair in zip(memory_1.get_finished_spans(), memory_2.get_finished_spans(), strict=True)
        for s in pair
    ]
    assert len(spans) == 12
    assert_same(spans)
    request = ExportTraceServiceRequest.FromString(encode_spans(spans))
    assert [len(rs.scope_spans) for rs in request.resource_spans] == [2, 2]


def test_equal_resources_made_twice_are_one_group() -> None:
    spans = [
        ReadableSpan(
            "s",
            context=SpanContext(1, i + 1, False),
            resource=Resource({"service.name": "same"}),
            instrumentation_scope=InstrumentationScope("scope", "1"),
            start_time=10,
            end_time=20,
        )
        for i in range(3)
    ]
    assert_same(spans)
    assert len(ExportTraceServiceRequest.FromString(encode_spans(spans)).resource_spans) == 1


def test_dropped_counts() -> None:
    limits = SpanLimits(max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1)
    provider, memory = _recorder(limits=limits)
    tracer = provider.get_tracer("limits")
    links = [Link(_remote(1, 2)), Link(_remote(3, 4))]
    with tracer.start_as_current_span("full", attributes={"a": 1, "b": 2, "c": 3}, links=links) as span:
        span.add_event("e1", {"x": 1, "y": 2})
        span.add_event("e2")
    (readable,) = memory.get_finished_spans()
    assert readable.dropped_attributes and readable.dropped_events and readable.dropped_links
    assert_same([readable])


def test_unusual_spans() -> None:
    """Built directly: no times, no scope, mapping and None values, a non-ASCII name."""
    spans = [
        ReadableSpan("unended", context=SpanContext(5, 6, False), resource=Resource({}), start_time=1),
        ReadableSpan(
            "ñame",
            context=SpanContext(2**128 - 1, 2**64 - 1, False),
            parent=SpanContext(2**128 - 1, 1, True),
            resource=Resource({"r": "x"}),
            attributes={
                "map": {"k": "v", "inner": {"n": 1}, "list": [1, 2]},
                **({"none": None} if _KEEPS_NONE else {}),
            },
            events=[Event("no-time", {"a": 1}, timestamp=0)],
            instrumentation_scope=None,
            start_time=2**63 + 5,
            end_time=2**64 - 1,
        ),
    ]
    assert_same(spans)


def test_values_the_protocol_cannot_hold_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    span = ReadableSpan(
        "s",
        context=SpanContext(1, 2, False),
        resource=Resource({}),
        attributes={"ok": 1, "huge": 2**64, "tiny": -(2**63) - 1, "odd": object(), "after": "kept"},
        start_time=1,
        end_time=2,
    )
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        ours = ExportTraceServiceRequest.FromString(encode_spans([span]))
    keys = [kv.key for kv in ours.resource_spans[0].scope_spans[0].spans[0].attributes]
    assert keys == ["ok", "after"]
    assert len([r for r in caplog.records if r.name.startswith("agentops_otel")]) == 3
    logging.getLogger("opentelemetry").disabled = True  # the official encoder logs tracebacks for these
    try:
        assert_same([span])
    finally:
        logging.getLogger("opentelemetry").disabled = False


def test_cached_resource_and_scope_are_not_stale() -> None:
    """Caches are per object: a new resource at the same address must not reuse old bytes."""
    for i in range(20):
        provider, memory = _recorder(Resource({"service.name": f"svc-{i}"}))
        with provider.get_tracer(f"scope-{i}").start_as_current_span("s"):
            pass
        request = ExportTraceServiceRequest.FromString(assert_same(memory.get_finished_spans()))
        assert request.resource_spans[0].resource.attributes[0].value.string_value == f"svc-{i}"
        assert request.resource_spans[0].scope_spans[0].scope.name == f"scope-{i}"
        provider.shutdown()
        del provider, memory


def test_empty_batch() -> None:
    assert encode_spans([]) == b""
    assert official_encode([]).SerializeToString() == b""


def test_the_export_path_clamps_times_out_of_range_and_keeps_the_span() -> None:
    """``encode_batch`` (what the exporter sends) clamps a time before 1970 or after 2262 into int64,
    where ``encode_spans`` (the official encoder's twin) would fail or write a value a backend cannot
    store; the other spans of the batch are untouched."""
    from agentops_otel._internal.exporters.otlp_encoding import encode_batch

    good = ReadableSpan(
        "good", context=SpanContext(1, 2, False), resource=Resource({}), start_time=5, end_time=6
    )
    early = ReadableSpan(
        "early", context=SpanContext(1, 3, False), resource=Resource({}), start_time=-10, end_time=7
    )
    late = ReadableSpan(
        "late",
        context=SpanContext(1, 4, False),
        resource=Resource({}),
        start_time=2**63 + 1,
        end_time=2**64 - 1,
        events=[Event("e", {}, timestamp=2**63 + 9)],
    )
    body, kept, clamped = encode_batch([good, early, late])
    assert [s.name for s in kept] == ["good", "early", "late"] and clamped == 2
    parsed = ExportTraceServiceRequest()
    parsed.ParseFromString(body)
    spans = {s.name: s for rs in parsed.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert (spans["good"].start_time_unix_nano, spans["good"].end_time_unix_nano) == (5, 6)
    assert spans["early"].start_time_unix_nano == 0 and spans["early"].end_time_unix_nano == 7
    assert spans["late"].start_time_unix_nano == 2**63 - 1 and spans["late"].end_time_unix_nano == 2**63 - 1
    assert spans["late"].events[0].time_unix_nano == 2**63 - 1
    with pytest.raises(Exception):  # noqa: B017 - the twin of the official encoder refuses it
        encode_spans([early])


def test_a_span_no_encoder_can_write_is_left_out_alone() -> None:
    from agentops_otel._internal.exporters.otlp_encoding import encode_batch

    class Broken(ReadableSpan):
        @property
        def name(self) -> str:  # type: ignore[override]
            raise RuntimeError("a broken span")

    good = ReadableSpan("good", context=SpanContext(1, 2, False), resource=Resource({}), start_time=5)
    broken = Broken("x", context=SpanContext(1, 3, False), resource=Resource({}), start_time=5)
    body, kept, clamped = encode_batch([good, broken, good])
    assert kept == [good, good] and clamped == 0
    parsed = ExportTraceServiceRequest()
    parsed.ParseFromString(body)
    assert [s.name for rs in parsed.resource_spans for ss in rs.scope_spans for s in ss.spans] == [
        "good",
        "good",
    ]
