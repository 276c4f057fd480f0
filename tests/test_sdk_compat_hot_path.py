"""The private OpenTelemetry API an LLM call's hot path uses, against the installed API and SDK:
``context_var_methods`` (the wrappers' shortcut to the runtime context must be the very state
``context.get_current`` and ``detach`` use) and ``add_valid_attributes`` (a span must end up with what
``set_attributes`` would have given it, and the SDK's way must be taken wherever a limit applies)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import context
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel import _sdk_compat
from agentops_otel.instrumentation import _core


def test_get_and_set_are_the_runtime_contexts_own() -> None:
    methods = _sdk_compat.context_var_methods()
    assert methods is not None  # the installed API's default runtime context is the contextvars one
    get, set_ = methods
    key = context.create_key("compat-test")
    before = context.get_current()
    assert get() is before
    token = set_(context.set_value(key, "on"))
    try:
        assert context.get_value(key) == "on"  # what attach would have made current
        assert get() is context.get_current()
    finally:
        context.detach(token)  # OpenTelemetry's detach takes the token set returned
    assert context.get_current() is before and context.get_value(key) is None


def test_the_wrappers_use_them() -> None:
    methods = _sdk_compat.context_var_methods()
    assert methods is not None
    assert _core.current_context == methods[0] and _core.attach_context == methods[1]


def test_none_for_another_runtime_context(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other:
        _current_context: Any = None

    monkeypatch.setattr(context, "_RUNTIME_CONTEXT", Other())
    assert _sdk_compat.context_var_methods() is None


END = {
    "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.response.finish_reasons": ("stop", "length"),
    "gen_ai.usage.input_tokens": 12,
    "agentops.usage.cost_usd": 0.25,
    "agentops.flag": True,
}


def _two_spans(limits: SpanLimits | None = None) -> tuple[Any, Any, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits) if limits is not None else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("compat-test")
    start = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1}
    return tracer.start_span("ours", attributes=start), tracer.start_span("sdk", attributes=start), exporter


def _ended(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_valid_attributes_end_as_set_attributes_would_leave_them() -> None:
    ours, sdk, exporter = _two_spans()
    assert _sdk_compat.add_valid_attributes(ours, END)
    sdk.set_attributes(END)
    ours.end()
    sdk.end()
    spans = _ended(exporter)
    assert dict(spans["ours"].attributes or {}) == dict(spans["sdk"].attributes or {})
    assert spans["ours"].dropped_attributes == spans["sdk"].dropped_attributes == 0
    assert spans["ours"].attributes["gen_ai.usage.input_tokens"] == 12  # overwritten, as the SDK does


@pytest.mark.parametrize(
    "limits",
    [SpanLimits(max_span_attribute_length=4), SpanLimits(max_span_attributes=5)],
    ids=["value length limit", "count limit within reach"],
)
def test_where_a_limit_applies_the_sdks_way_is_left_to_take(limits: SpanLimits) -> None:
    ours, sdk, exporter = _two_spans(limits)
    assert not _sdk_compat.add_valid_attributes(ours, END)
    ours.set_attributes(END)  # what the LLM call does then
    sdk.set_attributes(END)
    ours.end()
    sdk.end()
    spans = _ended(exporter)
    assert dict(spans["ours"].attributes or {}) == dict(spans["sdk"].attributes or {})
    assert spans["ours"].dropped_attributes == spans["sdk"].dropped_attributes


def test_nothing_is_written_to_an_ended_or_a_non_sdk_span() -> None:
    ours, _, exporter = _two_spans()
    ours.end()
    assert not _sdk_compat.add_valid_attributes(ours, END)
    assert "gen_ai.response.id" not in (_ended(exporter)["ours"].attributes or {})
    assert not _sdk_compat.add_valid_attributes(object(), END)
    from opentelemetry.trace import NonRecordingSpan, SpanContext

    assert not _sdk_compat.add_valid_attributes(NonRecordingSpan(SpanContext(1, 2, False)), END)
