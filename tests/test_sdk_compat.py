"""Each use of OpenTelemetry's or CPython's private API (``agentops_otel._sdk_compat``) still does what
we rely on, against the installed versions (CI installs the newest releases the ranges allow)."""

from __future__ import annotations

import subprocess
import sys
import threading
from multiprocessing.process import BaseProcess

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled, is_instrumentation_enabled
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel import _sdk_compat


def test_tracer_with_ids_gives_the_root_those_ids_and_leaves_the_tracer_alone() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    fixed = _sdk_compat.tracer_with_ids(tracer, 0x1234 << 64 | 0x99, 0x99)
    with (
        fixed.start_as_current_span("root", context=otel_context.Context()),
        tracer.start_as_current_span("child"),
    ):
        pass
    with tracer.start_as_current_span("other", context=otel_context.Context()):
        pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["root"].context.trace_id == 0x1234 << 64 | 0x99
    assert spans["root"].context.span_id == 0x99
    assert spans["child"].context.trace_id == spans["root"].context.trace_id
    assert spans["child"].context.span_id != 0x99
    assert spans["other"].context.trace_id != spans["root"].context.trace_id


def test_tracer_with_ids_on_a_non_sdk_tracer_returns_it() -> None:
    tracer = trace.NoOpTracer()
    assert _sdk_compat.tracer_with_ids(tracer, 1, 1) is tracer


def test_suppression_keys_are_the_ones_the_instrumentation_utils_read() -> None:
    ctx = otel_context.set_value(_sdk_compat.SUPPRESS_INSTRUMENTATION_KEY, True)
    token = otel_context.attach(ctx)
    try:
        assert not is_instrumentation_enabled()
    finally:
        otel_context.detach(token)
    ctx = otel_context.set_value(_sdk_compat.SUPPRESS_HTTP_INSTRUMENTATION_KEY, True)
    token = otel_context.attach(ctx)
    try:
        assert not is_http_instrumentation_enabled()
    finally:
        otel_context.detach(token)


def test_span_key_is_where_the_api_keeps_the_current_span() -> None:
    span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    ctx = otel_context.Context({_sdk_compat.SPAN_KEY: span})
    assert trace.get_current_span(ctx) is span


def test_configurator_base_is_the_sdk_one() -> None:
    from opentelemetry.sdk import _configuration

    assert _sdk_compat.BaseConfigurator is _configuration._BaseConfigurator
    assert hasattr(_sdk_compat.BaseConfigurator, "configure")


def test_thread_and_process_body_methods_exist() -> None:
    assert callable(getattr(threading.Thread, _sdk_compat.THREAD_BODY))
    assert _sdk_compat.PROCESS_BODY in BaseProcess.__dict__


def test_keyboard_interrupt_exit_status_is_restored_after_source_is_evaluated_at_exit() -> None:
    script = (
        "import atexit\n"
        "from agentops_otel import _sdk_compat\n"
        "def at_exit():\n"
        "    exec('x = 1')  # clears CPython's record of the unhandled KeyboardInterrupt\n"
        "    _sdk_compat.restore_keyboard_interrupt_exit()\n"
        "atexit.register(at_exit)\n"
        "raise KeyboardInterrupt\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode in (130, -2), done


def test_attributes_of_reads_what_the_public_attributes_hold_while_open_and_after_ending() -> None:
    tracer = TracerProvider().get_tracer("t")
    span = tracer.start_span("s", attributes={"a": 1, "b": ("x", "y")})
    assert dict(_sdk_compat.attributes_of(span)) == dict(span.attributes or {}) == {"a": 1, "b": ("x", "y")}
    span.set_attribute("c", "late")
    assert _sdk_compat.attributes_of(span)["c"] == "late"  # the live attributes, not a copy
    span.end()
    assert dict(_sdk_compat.attributes_of(span)) == dict(span.attributes or {})
    assert dict(_sdk_compat.attributes_of(trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT))) == {}


def test_global_meter_provider_set_follows_set_meter_provider() -> None:
    # In a child: the global meter provider can be set once per process.
    code = (
        "from opentelemetry import metrics\n"
        "from opentelemetry.sdk.metrics import MeterProvider\n"
        "from agentops_otel import _sdk_compat\n"
        "before = _sdk_compat.global_meter_provider_set()\n"
        "metrics.get_meter('m').create_histogram('h').record(1)\n"
        "during = _sdk_compat.global_meter_provider_set()\n"
        "metrics.set_meter_provider(MeterProvider())\n"
        "print(before, during, _sdk_compat.global_meter_provider_set())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False", "True"]


def test_attributes_of_reads_spans_that_are_not_the_sdks() -> None:
    class Plain:
        attributes = {"k": "v"}

    assert dict(_sdk_compat.attributes_of(Plain())) == {"k": "v"}
    assert dict(_sdk_compat.attributes_of(object())) == {}
    readable = ReadableSpan("r", attributes={"a": 1})  # a plain dict, not the SDK's bounded one
    assert dict(_sdk_compat.attributes_of(readable)) == {"a": 1}


def test_a_value_carried_on_a_span_lives_and_goes_with_it() -> None:
    span = TracerProvider().get_tracer("t").start_span("s")
    assert _sdk_compat.carry(span, "_k", "v")
    assert _sdk_compat.carried(span, "_k") == "v"
    assert _sdk_compat.carried(span, "_k", drop=True) == "v"
    assert _sdk_compat.carried(span, "_k") is None
    slotted = object()  # no instance __dict__, as a class with __slots__
    assert not _sdk_compat.carry(slotted, "_k", "v")
    assert _sdk_compat.carried(slotted, "_k") is None
