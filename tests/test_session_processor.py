"""The session span processor on its own: spans marked stamped are passed over, other spans are
stamped as before, and another instrumentation's span that records one of our calls is adopted,
enriched once when it ends, and never kept alive when it does not end."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel import semconv
from agentops_otel._internal.session_processor import SessionSpanProcessor
from agentops_otel.instrumentation._call import LLMCall
from agentops_otel.instrumentation._keys import AGENT_KEY, IN_LLM_CALL, SESSION_KEY, STAMPED, AgentRef
from agentops_otel.instrumentation._telemetry import Telemetry

SID = "7d3b5c1e-0c4f-4a8e-9b1d-2f6a0e9c4b21"
GENAI = {semconv.OPERATION_NAME: "chat", "gen_ai.request.model": "gpt-4o-mini"}


@pytest.fixture
def setup() -> Iterator[tuple[TracerProvider, SessionSpanProcessor, InMemorySpanExporter]]:
    provider = TracerProvider(shutdown_on_exit=False)
    processor = SessionSpanProcessor()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(processor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, processor, exporter
    provider.shutdown()


def session_context() -> Context:
    return Context({SESSION_KEY: SID, AGENT_KEY: AgentRef("planner", "agent-1")})


def test_a_span_started_stamped_gets_nothing_written_and_its_neighbour_is_stamped(setup: tuple) -> None:
    provider, _, exporter = setup
    tracer = provider.get_tracer("t")
    ctx = session_context()
    stamped = Context({**ctx, STAMPED: True})
    tracer.start_span("ours", context=stamped, attributes={semconv.SESSION_ID: "other-session"}).end()
    tracer.start_span("theirs", context=ctx).end()
    by_name = {span.name: dict(span.attributes or {}) for span in exporter.get_finished_spans()}
    assert by_name["ours"] == {semconv.SESSION_ID: "other-session"}  # kept, and no agent added
    assert by_name["theirs"] == {
        semconv.SESSION_ID: SID,
        semconv.AGENT_NAME: "planner",
        semconv.AGENT_ID: "agent-1",
    }


def llm_call(provider: TracerProvider) -> LLMCall:
    return LLMCall(Telemetry(provider, None), "chat", "openai", "gpt-4o-mini")


def test_a_stamped_span_inside_our_call_is_not_adopted(setup: tuple) -> None:
    provider, processor, _ = setup
    call = llm_call(provider)
    ctx = Context({**session_context(), IN_LLM_CALL: call, STAMPED: True})
    provider.get_tracer("t").start_span("chat gpt-4o-mini", context=ctx, attributes=GENAI).end()
    assert call.other is None and not processor._adopted
    # The same span unmarked is another instrumentation's, and is adopted.
    ctx = Context({**session_context(), IN_LLM_CALL: call})
    span = provider.get_tracer("t").start_span("chat gpt-4o-mini", context=ctx, attributes=GENAI)
    assert call.other is span and len(processor._adopted) == 1
    span.end()


def test_an_adopted_span_that_ends_is_enriched_once_and_forgotten(setup: tuple) -> None:
    provider, processor, exporter = setup
    call = llm_call(provider)
    ctx = Context({**session_context(), IN_LLM_CALL: call})
    span = provider.get_tracer("contrib").start_span("chat gpt-4o-mini", context=ctx, attributes=GENAI)
    call.resolve()  # the provider returned (their span records it: we start none)
    span.end()
    (ended,) = exporter.get_finished_spans()
    assert ended.attributes is not None and ended.attributes[semconv.SPAN_KIND] == semconv.KIND_LLM
    assert ended.attributes[semconv.SESSION_ID] == SID
    assert not processor._adopted
    processor._on_ending(span)  # a second ending finds nothing to do (and fails nothing)
    assert not processor._adopted


def test_an_adopted_span_dropped_without_ending_is_collected_with_its_entry(setup: tuple) -> None:
    provider, processor, exporter = setup
    call = llm_call(provider)
    ctx = Context({**session_context(), IN_LLM_CALL: call})
    span = provider.get_tracer("contrib").start_span("chat gpt-4o-mini", context=ctx, attributes=GENAI)
    assert call.other is span and len(processor._adopted) == 1
    gone = weakref.ref(span)
    del span, call, ctx  # the call refers to the span: neither may be kept alive by the processor
    gc.collect()
    assert gone() is None
    assert not processor._adopted
    assert not exporter.get_finished_spans()
