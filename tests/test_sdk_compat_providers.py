"""The private OpenTelemetry API that issue 10's work relies on, run against the installed SDK: the
hook on refused global providers, attributes added while a span ends, no-op tracers seen through the
proxy, and the resolution of wrapped providers (Logfire-like, OpenTelemetry's proxy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel import _sdk_compat
from agentops_otel._internal import providers
from core_helpers import run_script


class _AddOnEnding(SpanProcessor):
    def _on_ending(self, span: Span) -> None:
        assert _sdk_compat.set_attributes_on_ending(span, {"added": 1})


@pytest.mark.skipif(
    not hasattr(SpanProcessor, "_on_ending"),
    reason="this opentelemetry-sdk calls no SpanProcessor._on_ending (added in 1.40): another "
    "instrumentation's LLM span gets no cost attribute from us there (docs/existing-setups.md)",
)
def test_attributes_added_on_ending_reach_every_exporter() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))  # added first: still sees the attribute
    provider.add_span_processor(_AddOnEnding())
    provider.get_tracer("t").start_span("s").end()
    (span,) = memory.get_finished_spans()
    assert span.attributes is not None and span.attributes["added"] == 1


def test_records_nothing() -> None:
    assert _sdk_compat.records_nothing(trace.NoOpTracer())
    assert not _sdk_compat.records_nothing(TracerProvider().get_tracer("t"))
    proxy = trace.ProxyTracer("t")
    assert _sdk_compat.records_nothing(proxy) == (trace._TRACER_PROVIDER is None)


def test_refused_provider_hook(tmp_path: Path) -> None:
    body = """
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from agentops_otel import _sdk_compat
seen = []
assert _sdk_compat.on_refused_tracer_provider(seen.append)
first, late = TracerProvider(), TracerProvider()
trace.set_tracer_provider(first)
from opentelemetry.trace import set_tracer_provider  # imported by name after the hook: still seen
set_tracer_provider(late)
trace.set_tracer_provider(first)  # the same one again: not a refusal
print(seen == [late])
"""
    proc = run_script(body, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


@dataclass
class _Wrapper:  # shaped like Logfire's ProxyTracerProvider: a dataclass (unhashable) holding .provider
    provider: Any

    def add_span_processor(self, processor: Any) -> None:
        self.provider.add_span_processor(processor)


def test_resolve_unwraps_to_the_sdk_provider() -> None:
    inner = TracerProvider()
    wrapper = _Wrapper(inner)
    assert providers.resolve(wrapper) is inner
    assert providers.resolve(_Wrapper(_Wrapper(inner))) is inner
    attached = providers.Attached()
    attached.add(wrapper)  # unhashable, still tracked by identity
    assert wrapper in attached and _Wrapper(inner) not in attached
    assert providers.resolve(trace.NoOpTracerProvider()).__class__ is trace.NoOpTracerProvider


def test_a_new_provider_with_a_freed_ones_id_gets_its_own_tracer() -> None:
    """The tracer cache is keyed by the provider's id: a provider made after another was freed often
    reuses its id, and must still get a tracer of its own (else its spans go to the freed one)."""
    import gc

    from agentops_otel import _runtime

    first = TracerProvider(shutdown_on_exit=False)  # no atexit hook holding it: it can be freed
    freed_id = id(first)
    _runtime.tracer("probe", first)
    del first
    gc.collect()
    for _ in range(1000):
        memory = InMemorySpanExporter()
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(memory))
        if id(provider) == freed_id:
            break  # (while the cache holds the first provider, its id is never reused: no break)
    _runtime.tracer("probe", provider).start_span("mine").end()
    assert [s.name for s in memory.get_finished_spans()] == ["mine"]
