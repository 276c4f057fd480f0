"""The Anthropic instrumentation, driving the real ``anthropic`` SDK against canned HTTP responses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import anthropic
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from agentops_otel import _runtime
from agentops_otel._internal.context import with_session
from agentops_otel.instrumentation.anthropic import AnthropicInstrumentor
from llm_fixtures import (
    ANTHROPIC_MESSAGE,
    Recording,
    Server,
    anthropic_client,
    anthropic_events,
    attrs,
    cut_sse_response,
    json_response,
    make_recording,
    sse,
    sse_response,
)

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

MESSAGES = [{"role": "user", "content": "Say hello"}]
MODEL = "claude-sonnet-4-5-20250929"
SESSION = "5f0c9a57-2a6e-4d5b-9a53-0f3f8b7e9b11"


@pytest.fixture
def rec() -> Iterator[Recording]:
    recording = make_recording()
    # The SDK's native tracing uses the global provider: make it a recording one so a duplicate would show.
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = recording.provider
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=recording.provider, meter_provider=recording.meter_provider)
    try:
        yield recording
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        trace._TRACER_PROVIDER = previous


def _events_body() -> bytes:
    return sse(anthropic_events(), events=True, done=False)


def test_create_span_attributes_and_cost(rec: Recording) -> None:
    server = Server(json_response(ANTHROPIC_MESSAGE))
    result = anthropic_client(server).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stop_sequences=["END"]
    )
    assert result.content[0].text == "Bonjour"
    span = rec.one_llm_span()
    a = attrs(span)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.response.id"] == "msg_01"
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    # input_tokens of the convention include cache reads and writes.
    assert a["gen_ai.usage.input_tokens"] == 1150
    assert a["gen_ai.usage.cache_read.input_tokens"] == 1000
    assert a["gen_ai.usage.cache_creation.input_tokens"] == 50
    assert a["gen_ai.usage.output_tokens"] == 40
    expected = (100 * 3.0 + 1000 * 0.3 + 50 * 3.75 + 40 * 15.0) / 1e6
    assert a["agentops.usage.cost_usd"] == pytest.approx(expected)
    assert "gen_ai.input.messages" not in a
    # The SDK's native span for the same call is not produced, and no trace headers were sent.
    assert [s.name for s in rec.spans()] == [f"chat {MODEL}"]
    assert "traceparent" not in server.requests[0].headers
    assert "baggage" not in server.requests[0].headers


def test_native_tracing_is_restored_after_uninstrument(rec: Recording) -> None:
    AnthropicInstrumentor().uninstrument()
    server = Server(json_response(ANTHROPIC_MESSAGE))
    anthropic_client(server).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    names = [s.name for s in rec.spans()]
    assert rec.llm_spans() == []
    assert names == ["anthropic.messages.create"]  # the SDK's own span is back
    assert "traceparent" in server.requests[0].headers  # and so is its propagation


def test_no_baggage_or_traceparent_even_with_a_session(rec: Recording) -> None:
    server = Server(json_response(ANTHROPIC_MESSAGE))
    token = otel_context.attach(with_session(None, SESSION))
    try:
        anthropic_client(server).messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        # An endpoint we do not wrap: the native span stays, its header injection does not.
        server.respond = json_response({"input_tokens": 3})
        anthropic_client(server).messages.count_tokens(model=MODEL, messages=MESSAGES)
    finally:
        otel_context.detach(token)
    for request in server.requests:
        assert "baggage" not in request.headers
        assert "traceparent" not in request.headers


def test_content_capture(rec: Recording) -> None:
    previous = _runtime.config()
    _runtime.set_config(previous.replace(capture_content=True))
    try:
        anthropic_client(Server(json_response(ANTHROPIC_MESSAGE))).messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, system="Be brief"
        )
    finally:
        _runtime.set_config(previous)
    a = attrs(rec.one_llm_span())
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief"}]
    assert json.loads(a["gen_ai.input.messages"])[0]["parts"][0]["content"] == "Say hello"
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": "Bonjour"}]


def test_http_error(rec: Recording) -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    with pytest.raises(anthropic.InternalServerError):
        anthropic_client(Server(json_response(body, status=500))).messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES
        )
    span = rec.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "anthropic.InternalServerError"
    with pytest.raises(anthropic.RateLimitError):
        anthropic_client(Server(json_response(body, status=429))).messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES
        )
    assert attrs(rec.llm_spans()[1])["error.type"] == "anthropic.RateLimitError"


def test_stream_true_events_unchanged_and_usage_not_double_counted(rec: Recording) -> None:
    stream = anthropic_client(Server(sse_response(_events_body()))).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    assert isinstance(stream, anthropic.Stream)
    assert trace.get_current_span() is trace.INVALID_SPAN
    seen = [e.model_dump() for e in stream]
    AnthropicInstrumentor().uninstrument()
    plain = [
        e.model_dump()
        for e in anthropic_client(Server(sse_response(_events_body()))).messages.create(
            model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
        )
    ]
    assert seen == plain
    a = attrs(rec.llm_spans()[0])
    assert a["gen_ai.usage.input_tokens"] == 25
    assert a["gen_ai.usage.output_tokens"] == 4  # message_delta usage is cumulative: not 1 + 4
    assert a["gen_ai.response.model"] == "claude-3-5-haiku-20241022"
    assert a["gen_ai.response.time_to_first_chunk"] >= 0


def test_stream_manager_text_stream_and_final_message(rec: Recording) -> None:
    client = anthropic_client(Server(sse_response(_events_body())))
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream) == "Bonjour"
        final = stream.get_final_message()
    assert final.usage.output_tokens == 4
    a = attrs(rec.one_llm_span())
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.usage.output_tokens"] == 4

    # Early exit ends the span at exit.
    rec.exporter.clear()
    with anthropic_client(Server(sse_response(_events_body()))).messages.stream(
        model=MODEL, max_tokens=64, messages=MESSAGES
    ) as stream:
        next(iter(stream))
        assert rec.llm_spans() == []
    assert len(rec.llm_spans()) == 1
    # A manager never entered makes no request and no span.
    rec.exporter.clear()
    server = Server(sse_response(_events_body()))
    anthropic_client(server).messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert server.requests == [] and rec.llm_spans() == []


def test_stream_cut_off(rec: Recording) -> None:
    body = sse(anthropic_events()[:3], events=True, done=False)
    stream = anthropic_client(Server(cut_sse_response(body))).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES, stream=True
    )
    # This SDK lets the HTTP library's error through: the caller sees exactly that exception.
    from llm_fixtures import httpx

    with pytest.raises(httpx.ReadError):
        for _ in stream:
            pass
    span = rec.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == f"{httpx.__name__}.ReadError"


def test_with_raw_response(rec: Recording) -> None:
    raw = anthropic_client(Server(json_response(ANTHROPIC_MESSAGE))).messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=MESSAGES
    )
    assert raw.parse().id == "msg_01"
    assert attrs(rec.one_llm_span())["gen_ai.usage.output_tokens"] == 40


def test_async_create_stream_and_manager(rec: Recording) -> None:
    async def main() -> None:
        client = anthropic_client(Server(json_response(ANTHROPIC_MESSAGE)), is_async=True)
        assert (await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)).id == "msg_01"
        streamer = anthropic_client(Server(sse_response(_events_body())), is_async=True)
        stream = await streamer.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
        assert isinstance(stream, anthropic.AsyncStream)
        assert len([e async for e in stream]) == len(anthropic_events())
        manager_client = anthropic_client(Server(sse_response(_events_body())), is_async=True)
        async with manager_client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as managed:
            text = "".join([t async for t in managed.text_stream])
        assert text == "Bonjour"
        raw_client = anthropic_client(Server(json_response(ANTHROPIC_MESSAGE)), is_async=True)
        raw = await raw_client.messages.with_raw_response.create(
            model=MODEL, max_tokens=64, messages=MESSAGES
        )
        assert (await raw.parse()).id == "msg_01"

    asyncio.run(main())
    spans = rec.llm_spans()
    assert len(spans) == 4
    assert [attrs(s)["gen_ai.usage.output_tokens"] for s in spans] == [40, 4, 4, 40]
    assert all(s.name.startswith("chat ") for s in rec.spans())  # no native duplicates


def test_uninstrument_symmetry(rec: Recording) -> None:
    from anthropic._base_client import BaseClient

    AnthropicInstrumentor().uninstrument()
    import anthropic._base_client as base
    import anthropic._tracing as native

    assert BaseClient.__dict__["_tracer"].fget.__qualname__ == "BaseClient._tracer"
    assert base.inject_trace_headers is native.inject_trace_headers
    AnthropicInstrumentor().instrument(tracer_provider=rec.provider)
    anthropic_client(Server(json_response(ANTHROPIC_MESSAGE))).messages.create(
        model=MODEL, max_tokens=64, messages=MESSAGES
    )
    assert len(rec.llm_spans()) == 1
