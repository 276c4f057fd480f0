"""An LLM span under the SDK's attribute limits, with the real ``openai`` SDK on canned HTTP: a count
limit drops the oldest attributes first, and what says which call a span records (kind, operation,
provider, model, session) must not be among them; and the finish reasons the SDK would not take."""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

import pytest
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel._internal.session_processor import SessionSpanProcessor
from agentops_otel.instrumentation._call import LLMCall, call_template
from agentops_otel.instrumentation._keys import SESSION_KEY
from agentops_otel.instrumentation._telemetry import Telemetry
from agentops_otel.instrumentation.openai import OpenAIInstrumentor
from llm_fixtures import CHAT_COMPLETION, Server, json_response, openai_client

SID = "7d3b5c1e-0c4f-4a8e-9b1d-2f6a0e9c4b21"
IDENTITY = ("agentops.span.kind", "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")
PARAMS = {
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 100,
    "stop": ["x"],
    "seed": 1,
    "n": 2,
    "frequency_penalty": 0.1,
    "presence_penalty": 0.1,
    "service_tier": "default",
    "response_format": {"type": "json_object"},
}


def limited(limit: int) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=limit), shutdown_on_exit=False)
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield provider, exporter
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@pytest.mark.parametrize("limit", [12, 16, 20])
def test_a_count_limit_keeps_what_says_which_call_the_span_records(limit: int) -> None:
    for _, exporter in limited(limit):
        client = openai_client(Server(json_response(CHAT_COMPLETION)))
        token = otel_context.attach(Context({SESSION_KEY: SID}))
        try:
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], **PARAMS
            )
        finally:
            otel_context.detach(token)
        (span,) = exporter.get_finished_spans()
        attributes = dict(span.attributes or {})
        assert len(attributes) == limit and span.dropped_attributes > 0  # the limit did apply
        assert [attributes.get(key) for key in IDENTITY] == ["llm", "chat", "openai", "gpt-4o"]
        assert attributes["session.id"] == SID
        assert attributes["gen_ai.usage.input_tokens"] > 0  # the end's attributes are the newest


def test_finish_reasons_that_are_not_exact_strings_are_left_out() -> None:
    """The SDK takes only exact ``str`` items in a sequence (it would drop the whole attribute)."""

    class Reason(str, Enum):
        STOP = "stop"

    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    call = LLMCall(Telemetry(provider, None), call_template("chat", "openai", "gpt-4o", {}), Context())
    call.resolve()
    call.set_response("id-1", "gpt-4o", [Reason.STOP, "length", None])  # type: ignore[list-item]
    call.end()
    (span,) = exporter.get_finished_spans()
    reasons = (span.attributes or {})["gen_ai.response.finish_reasons"]
    assert reasons == ("length",) and all(type(r) is str for r in reasons)
