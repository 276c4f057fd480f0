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
from agentops_otel.instrumentation._call import LLMCall, call_template
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
    return LLMCall(Telemetry(provider, None), call_template("chat", "openai", "gpt-4o-mini", {}), Context())


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


def test_our_spans_get_the_processs_session_where_their_context_names_none(setup: tuple) -> None:
    """An LLM call and a tool call in a context that names no session (a thread that was handed no
    context): they cannot start stamped, and the processor gives them the process's active session.
    In a context that names it, they start stamped with it."""
    import openai
    from opentelemetry import context as otel_context

    from agentops_otel import _runtime
    from agentops_otel._internal.decorators import tool
    from agentops_otel.instrumentation.openai import OpenAIInstrumentor
    from llm_fixtures import CHAT_COMPLETION, Server, json_response, openai_client

    provider, _, exporter = setup
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    previous, previous_provider = _runtime.session_id(), _runtime._state.provider
    _runtime.set_session_id(SID)
    _runtime.set_provider(provider)  # what init does: the decorators' tracer is this provider's
    client = openai_client(Server(json_response(CHAT_COMPLETION)))
    assert isinstance(client, openai.OpenAI)
    work = tool("work")(lambda: 1)
    try:
        for ctx in (Context(), Context({SESSION_KEY: "named-in-context"})):
            token = otel_context.attach(ctx)
            try:
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
                work()
            finally:
                otel_context.detach(token)
    finally:
        _runtime.set_session_id(previous)
        _runtime.set_provider(previous_provider)
        instrumentor.uninstrument()
    sessions = [(span.attributes or {}).get(semconv.SESSION_ID) for span in exporter.get_finished_spans()]
    assert sessions == [SID, SID, "named-in-context", "named-in-context"]
