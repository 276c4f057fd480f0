"""The OpenAI instrumentation, driving the real ``openai`` SDK against canned HTTP responses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
import wrapt
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode

from agentops_otel._internal.context import SESSION_KEY, with_session
from agentops_otel.instrumentation.openai import OpenAIInstrumentor
from llm_fixtures import (
    CHAT_CHUNKS,
    CHAT_COMPLETION,
    EMBEDDING_RESPONSE,
    RESPONSE_OBJECT,
    USAGE_CHUNK,
    Recording,
    Server,
    attrs,
    chat_chunk,
    httpx,
    json_response,
    openai_client,
    openai_recording,  # noqa: F401  (the ``rec`` fixture)
    sse,
    sse_response,
)

MESSAGES = [{"role": "user", "content": "Say hello"}]
SESSION = "5f0c9a57-2a6e-4d5b-9a53-0f3f8b7e9b11"


def _plain(value: Any) -> Any:
    return value.model_dump() if hasattr(value, "model_dump") else value


def test_chat_create_span_attributes_cost_and_unchanged_result(rec: Recording) -> None:
    server = Server(json_response(CHAT_COMPLETION))
    result = openai_client(server).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50, top_p=0.9, stop=["\n"], seed=7
    )
    span = rec.one_llm_span()
    a = attrs(span)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert a["agentops.span.kind"] == "llm"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.id"] == "chatcmpl-123"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.usage.input_tokens"] == 1200
    assert a["gen_ai.usage.output_tokens"] == 300
    assert a["gen_ai.usage.cache_read.input_tokens"] == 200
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.stop_sequences"] == ("\n",)
    assert a["gen_ai.request.seed"] == 7
    # gpt-4o-mini: 1000 fresh input at 0.15, 200 cached at 0.075, 300 output at 0.60 per million.
    assert a["agentops.usage.cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.075 + 300 * 0.6) / 1e6)
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a

    # Same result as an uninstrumented client gets.
    OpenAIInstrumentor().uninstrument()
    plain = openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=50, top_p=0.9, stop=["\n"], seed=7
    )
    assert type(result) is type(plain)
    assert result.model_dump() == plain.model_dump()
    assert server.bodies == [json.loads(r.content) for r in server.requests]  # body sent untouched
    assert "stream_options" not in server.bodies[0]


def test_content_recorded_only_with_capture(rec: Recording, capture_on: None) -> None:
    openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )
    a = attrs(rec.one_llm_span())
    inputs = json.loads(a["gen_ai.input.messages"])
    outputs = json.loads(a["gen_ai.output.messages"])
    assert inputs == [{"role": "user", "parts": [{"type": "text", "content": "Say hello"}]}]
    assert outputs[0]["parts"] == [{"type": "text", "content": "Hello there!"}]
    assert outputs[0]["finish_reason"] == "stop"


def test_unknown_model_has_no_cost(rec: Recording) -> None:
    body = {**CHAT_COMPLETION, "model": "my-local-model"}
    openai_client(Server(json_response(body))).chat.completions.create(
        model="my-local-model", messages=MESSAGES
    )
    a = attrs(rec.one_llm_span())
    assert a["gen_ai.usage.input_tokens"] == 1200
    assert "agentops.usage.cost_usd" not in a


@pytest.mark.parametrize(
    ("status", "exc", "etype"),
    [
        (500, openai.InternalServerError, "openai.InternalServerError"),
        (429, openai.RateLimitError, "openai.RateLimitError"),
    ],
)
def test_http_errors_mark_span_and_reraise_unchanged(
    rec: Recording, status: int, exc: type, etype: str
) -> None:
    server = Server(json_response({"error": {"message": "boom", "type": "server_error"}}, status=status))
    with pytest.raises(exc) as caught:
        openai_client(server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert type(caught.value) is exc
    span = rec.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == etype
    assert "agentops.usage.cost_usd" not in attrs(span)


def test_connection_error_type(rec: Recording) -> None:
    def refuse(request: Any) -> Any:
        raise httpx.ConnectError("refused")

    with pytest.raises(openai.APIConnectionError):
        openai_client(Server(refuse)).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert attrs(rec.one_llm_span())["error.type"] == "openai.APIConnectionError"


def test_stream_with_usage_is_identical_for_the_caller(rec: Recording) -> None:
    body = sse([*CHAT_CHUNKS, USAGE_CHUNK])
    server = Server(sse_response(body))
    stream = openai_client(server).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    assert trace.get_current_span() is trace.INVALID_SPAN  # the LLM span is not current while held
    seen = [_plain(c) for c in stream]

    OpenAIInstrumentor().uninstrument()
    plain_server = Server(sse_response(sse(CHAT_CHUNKS)))  # what the server sends without include_usage
    expected = [
        _plain(c)
        for c in openai_client(plain_server).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
    ]
    assert seen == expected  # the usage-only chunk we asked for is hidden
    assert server.bodies[0]["stream_options"] == {"include_usage": True}
    assert "stream_options" not in plain_server.bodies[0]
    a = attrs(rec.one_llm_span())
    assert a["gen_ai.usage.input_tokens"] == 10
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.time_to_first_chunk"] >= 0
    assert a["agentops.usage.cost_usd"] == pytest.approx((10 * 2.5 + 3 * 10.0) / 1e6)


@pytest.mark.parametrize("is_async", [False, True])
def test_hidden_usage_chunk_is_read_from_its_json_not_built_by_the_sdk(
    rec: Recording, is_async: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK builds typed chunks for what the caller sees; the usage chunk we asked for is read from
    its JSON, with what only it carries (here the fingerprint and service tier)."""
    built: list[Any] = []
    original = openai.OpenAI._process_response_data

    def counting(self: Any, *, data: Any, cast_to: Any, response: Any) -> Any:
        built.append(data)
        return original(self, data=data, cast_to=cast_to, response=response)

    monkeypatch.setattr(openai.OpenAI, "_process_response_data", counting)
    monkeypatch.setattr(openai.AsyncOpenAI, "_process_response_data", counting)
    usage = {**USAGE_CHUNK, "system_fingerprint": "fp_u", "service_tier": "flex"}
    server = Server(sse_response(sse([*CHAT_CHUNKS, usage])))

    async def read_async() -> list[Any]:
        stream = await openai_client(server, is_async=True).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
        return [c async for c in stream]

    if is_async:
        chunks = asyncio.run(read_async())
    else:
        chunks = list(
            openai_client(server).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        )
    assert len(chunks) == len(CHAT_CHUNKS) and all(
        isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks
    )
    assert len(built) == len(CHAT_CHUNKS)  # none for the usage chunk
    a = attrs(rec.one_llm_span())
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (10, 3)
    assert a["openai.response.system_fingerprint"] == "fp_u"
    assert a["openai.response.service_tier"] == "flex"


def test_a_tapped_streams_client_can_still_be_copied(rec: Recording) -> None:
    """The stand-in for a stream's client copies like any object (copy makes it without __init__) and
    still answers as the client does."""
    import copy

    client = openai_client(Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK]))))
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    copied = copy.copy(stream._client)
    assert copied is not client and copied.base_url == client.base_url
    assert len(list(stream)) == len(CHAT_CHUNKS)


def test_usage_chunk_of_a_wrapped_stream_stays_typed(rec: Recording) -> None:
    """A stream wrapped by another instrumentation below ours is not tapped: that wrapper reads the
    usage chunk as the SDK's typed chunk (here a wrapt proxy that checks each chunk's type)."""
    seen: list[Any] = []

    class Checking(wrapt.ObjectProxy):  # type: ignore[misc,type-arg]
        def __iter__(self) -> Any:
            return self

        def __next__(self) -> Any:
            chunk = self.__wrapped__.__next__()
            seen.append(type(chunk))
            return chunk

    @wrapt.decorator  # type: ignore[misc]
    def below(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        return Checking(result) if kwargs.get("stream") else result

    completions = openai.resources.chat.completions.Completions
    OpenAIInstrumentor().uninstrument()
    original = completions.create
    completions.create = below(original)
    try:
        OpenAIInstrumentor().instrument(tracer_provider=rec.provider, meter_provider=rec.meter_provider)
        client = openai_client(Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK]))))
        chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    finally:
        OpenAIInstrumentor().uninstrument()
        completions.create = original
    assert len(chunks) == len(CHAT_CHUNKS)
    assert seen == [openai.types.chat.ChatCompletionChunk] * (len(CHAT_CHUNKS) + 1)
    assert attrs(rec.one_llm_span())["gen_ai.usage.input_tokens"] == 10


def test_user_stream_options_are_respected_and_usage_chunk_shown(rec: Recording) -> None:
    server = Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK])))
    chunks = list(
        openai_client(server).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the user asked: the user sees it
    assert server.bodies[0]["stream_options"] == {"include_usage": True}

    server2 = Server(sse_response(sse(CHAT_CHUNKS)))
    list(
        openai_client(server2).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_obfuscation": False}
        )
    )
    assert server2.bodies[0]["stream_options"] == {"include_obfuscation": False}
    spans = rec.llm_spans()
    assert len(spans) == 2
    assert "gen_ai.usage.input_tokens" not in attrs(spans[1])


def test_usage_request_keeps_the_callers_extra_body(rec: Recording) -> None:
    server = Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK])))
    extra = {"metadata_tag": "x"}
    chunks = list(
        openai_client(server).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True, extra_body=extra
        )
    )
    assert server.bodies[0]["metadata_tag"] == "x"
    assert server.bodies[0]["stream_options"] == {"include_usage": True}
    assert extra == {"metadata_tag": "x"}  # the caller's dict is not changed
    assert all(c.choices for c in chunks)  # the usage-only chunk we asked for is hidden
    assert attrs(rec.one_llm_span())["gen_ai.usage.input_tokens"] == 10

    # stream_options given through extra_body is the caller's choice: left alone, chunk shown.
    server2 = Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK])))
    chunks = list(
        openai_client(server2).chat.completions.create(
            model="gpt-4o",
            messages=MESSAGES,
            stream=True,
            extra_body={"stream_options": {"include_usage": True, "x": 1}},
        )
    )
    assert server2.bodies[0]["stream_options"] == {"include_usage": True, "x": 1}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


def test_odd_chunks_do_not_reach_the_loop_as_errors(rec: Recording, capture_on: None) -> None:
    odd = [
        {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": None},
        chat_chunk("A"),
        {"weird": True},
        {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": [None, 3]},
        chat_chunk(finish="length"),
    ]
    stream = openai_client(Server(sse_response(sse(odd)))).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    received = list(stream)
    assert len(received) == len(odd)
    span = rec.one_llm_span()
    assert span.status.status_code is StatusCode.UNSET
    assert attrs(span)["gen_ai.response.finish_reasons"] == ("length",)


def test_stream_cut_off_midway(rec: Recording) -> None:
    from llm_fixtures import cut_sse_response

    server = Server(cut_sse_response(sse(CHAT_CHUNKS[:2], done=False)))
    stream = openai_client(server).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    got = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            got.append(chunk)
    assert len(got) == 2
    span = rec.one_llm_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == "openai.APIConnectionError"


def test_stream_manager_and_close(rec: Recording) -> None:
    server = Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK])))
    with openai_client(server).chat.completions.stream(model="gpt-4o", messages=MESSAGES) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_completion()
    assert "content.done" in events
    assert final.choices[0].message.content == "Hello!"
    assert final.usage is None  # as without instrumentation: the user did not ask for usage
    a = attrs(rec.one_llm_span())
    assert a["gen_ai.usage.output_tokens"] == 3

    # Leaving the manager early ends the span at exit, not at garbage collection.
    rec.exporter.clear()
    with openai_client(Server(sse_response(sse(CHAT_CHUNKS)))).chat.completions.stream(
        model="gpt-4o", messages=MESSAGES
    ) as stream:
        next(iter(stream))
        assert rec.llm_spans() == []
    assert len(rec.llm_spans()) == 1


def test_with_raw_response(rec: Recording) -> None:
    server = Server(json_response(CHAT_COMPLETION, headers={"x-request-id": "req_1"}))
    raw = openai_client(server).chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.headers["x-request-id"] == "req_1"
    parsed = raw.parse()
    assert parsed.choices[0].message.content == "Hello there!"
    assert attrs(rec.one_llm_span())["gen_ai.usage.output_tokens"] == 300

    rec.exporter.clear()
    server = Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK])))
    raw = openai_client(server).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    assert rec.llm_spans() == []
    assert len(list(stream)) == 5
    assert attrs(rec.one_llm_span())["gen_ai.usage.input_tokens"] == 10


def test_with_streaming_response_is_recorded_without_reading(rec: Recording) -> None:
    server = Server(json_response(CHAT_COMPLETION))
    with openai_client(server).chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES
    ) as response:
        assert json.loads(response.read())["id"] == "chatcmpl-123"
    span = rec.one_llm_span()
    assert attrs(span)["gen_ai.request.model"] == "gpt-4o"


def test_responses_api_and_stream(rec: Recording) -> None:
    result = openai_client(Server(json_response(RESPONSE_OBJECT))).responses.create(
        model="gpt-4.1", input="hi"
    )
    assert result.output_text == "Hi from responses"
    a = attrs(rec.one_llm_span())
    assert a["gen_ai.response.id"] == "resp_1"
    assert a["gen_ai.usage.input_tokens"] == 50
    assert a["gen_ai.usage.cache_read.input_tokens"] == 10
    assert a["gen_ai.usage.reasoning.output_tokens"] == 5
    assert a["agentops.usage.cost_usd"] == pytest.approx((40 * 2.0 + 10 * 0.5 + 20 * 8.0) / 1e6)

    rec.exporter.clear()
    in_progress = {**RESPONSE_OBJECT, "status": "in_progress", "output": [], "usage": None}
    events = [
        {"type": "response.created", "sequence_number": 0, "response": in_progress},
        {
            "type": "response.output_text.delta",
            "sequence_number": 1,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hi",
            "logprobs": [],
        },
        {"type": "response.completed", "sequence_number": 2, "response": RESPONSE_OBJECT},
    ]
    client = openai_client(Server(sse_response(sse(events))))
    assert [e.type for e in client.responses.create(model="gpt-4.1", input="hi", stream=True)] == [
        e["type"] for e in events
    ]
    assert attrs(rec.one_llm_span())["gen_ai.usage.output_tokens"] == 20

    rec.exporter.clear()
    # The helper wants output_item events before deltas: created + completed is a valid minimal stream.
    minimal = [events[0], events[2]]
    with openai_client(Server(sse_response(sse(minimal)))).responses.stream(
        model="gpt-4.1", input="hi"
    ) as stream:
        final = stream.get_final_response()
    assert final.id == "resp_1"
    assert attrs(rec.one_llm_span())["gen_ai.response.finish_reasons"] == (
        "stop",
    )  # status completed, no function call


def test_embeddings(rec: Recording) -> None:
    result = openai_client(Server(json_response(EMBEDDING_RESPONSE))).embeddings.create(
        model="text-embedding-3-small", input="hello", encoding_format="float"
    )
    assert result.data[0].embedding == [0.1, 0.2, 0.3, 0.4]
    span = rec.one_llm_span()
    a = attrs(span)
    assert span.name == "embeddings text-embedding-3-small"
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.usage.input_tokens"] == 8
    assert a["gen_ai.embeddings.dimension.count"] == 4
    assert a["agentops.usage.cost_usd"] == pytest.approx(8 * 0.02 / 1e6)


def test_async_create_stream_and_errors(rec: Recording) -> None:
    async def main() -> list[Any]:
        client = openai_client(Server(json_response(CHAT_COMPLETION)), is_async=True)
        result = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert result.id == "chatcmpl-123"
        stream_client = openai_client(Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK]))), is_async=True)
        stream = await stream_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        chunks = [c async for c in stream]
        failing = openai_client(Server(json_response({"error": {"message": "x"}}, status=500)), is_async=True)
        with pytest.raises(openai.InternalServerError):
            await failing.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        async with openai_client(
            Server(sse_response(sse(CHAT_CHUNKS))), is_async=True
        ).chat.completions.stream(model="gpt-4o", messages=MESSAGES) as managed:
            async for _ in managed:
                break
        return chunks

    chunks = asyncio.run(main())
    assert len(chunks) == len(CHAT_CHUNKS)
    spans = rec.llm_spans()
    assert len(spans) == 4
    assert attrs(spans[1])["gen_ai.usage.output_tokens"] == 3
    assert attrs(spans[2])["error.type"] == "openai.InternalServerError"


def test_requests_carry_no_session_baggage_but_spans_keep_session(rec: Recording) -> None:
    from opentelemetry.propagate import inject

    def respond(request: Any) -> Any:
        return httpx.Response(200, json=CHAT_COMPLETION)

    seen: list[dict[str, str]] = []

    def handler(request: Any) -> Any:
        # What an HTTP-client instrumentation would inject from the context the request is sent in.
        carrier: dict[str, str] = {}
        inject(carrier)
        seen.append(carrier)
        return respond(request)

    server = Server(handler)
    token = otel_context.attach(with_session(None, SESSION))
    try:
        openai_client(server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert baggage.get_baggage("session.id") == SESSION  # the caller's context is untouched
    finally:
        otel_context.detach(token)
    request = server.requests[0]
    assert "baggage" not in request.headers and "traceparent" not in request.headers
    assert "session.id" not in seen[0].get("baggage", "")
    assert otel_context.get_value(SESSION_KEY) is None


def test_uninstrument_is_symmetric(rec: Recording) -> None:
    from openai.resources.chat.completions.completions import Completions

    client = openai_client(Server(json_response(CHAT_COMPLETION)))
    raw_create = client.chat.completions.with_raw_response.create  # cached bound wrapper
    OpenAIInstrumentor().uninstrument()
    assert not isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    raw_create(model="gpt-4o", messages=MESSAGES).parse()
    assert rec.llm_spans() == []
    OpenAIInstrumentor().instrument(tracer_provider=rec.provider, meter_provider=rec.meter_provider)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(rec.llm_spans()) == 1


def test_no_span_without_a_recording_provider() -> None:
    from opentelemetry.trace import NoOpTracerProvider

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=NoOpTracerProvider())
    try:
        result = openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(
            model="gpt-4o", messages=MESSAGES
        )
        assert result.id == "chatcmpl-123"
        stream = openai_client(Server(sse_response(sse(CHAT_CHUNKS)))).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=True
        )
        assert type(stream) is openai.Stream  # no proxy when nothing records
    finally:
        instrumentor.uninstrument()


def test_instrumentation_failure_does_not_break_the_call(
    rec: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentops_otel.instrumentation import _openai as instr
    from agentops_otel.instrumentation import _openai_request as request

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("our bug")

    monkeypatch.setattr(instr, "usage_of_chat", broken)
    result = openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )
    assert result.id == "chatcmpl-123"
    assert len(rec.llm_spans()) == 1  # ended anyway
    monkeypatch.setattr(request, "server_attributes", broken)
    result = openai_client(Server(json_response(CHAT_COMPLETION))).chat.completions.create(
        model="gpt-4o", messages=MESSAGES
    )
    assert result.id == "chatcmpl-123"


def test_a_span_that_fails_to_start_costs_the_call_nothing(
    rec: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our span starts once the provider returned, beside the user's call, plain or streamed: a tracer
    that fails there leaves the call unrecorded, and its result (or stream) untouched."""
    from opentelemetry.sdk.trace import Tracer

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a tracer's bug")

    monkeypatch.setattr(Tracer, "start_span", broken)
    client = openai_client(Server(json_response(CHAT_COMPLETION)))
    assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES).id == "chatcmpl-123"
    streaming = openai_client(Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK]))))
    chunks = list(streaming.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert len(chunks) == len(CHAT_CHUNKS)  # the usage chunk we asked for stays hidden
    assert rec.llm_spans() == []


def test_server_attributes_follow_the_clients_base_url(rec: Recording) -> None:
    """``server.*`` are read once per base URL object: two clients, and one whose base URL is changed
    between calls, each get their own (the transport is canned, so any host answers)."""
    server = Server(json_response(CHAT_COMPLETION))
    first, second = openai_client(server), openai_client(server)
    second.base_url = "http://127.0.0.2:8443/v1"
    first.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    second.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    first.base_url = "http://127.0.0.3:9443/v1"
    first.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    seen = [(s.attributes or {}).get("server.address") for s in rec.llm_spans()]
    ports = [(s.attributes or {}).get("server.port") for s in rec.llm_spans()]
    assert seen == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert ports[1:] == [8443, 9443]


def test_a_clients_call_template_follows_model_and_configuration(rec: Recording) -> None:
    """A client's calls start from a template kept per model and configuration: another model gets
    its own name and attributes, and a new configuration (content capture on) applies at once."""
    from agentops_otel import _runtime

    client = openai_client(Server(json_response(CHAT_COMPLETION)))
    config = _runtime.config()
    try:
        _runtime.set_config(config.replace(capture_content=False))
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.5)
        _runtime.set_config(config.replace(capture_content=True))
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        _runtime.set_config(config)
    first, second, third = rec.llm_spans()
    assert [s.name for s in (first, second, third)] == ["chat gpt-4o", "chat gpt-4o-mini", "chat gpt-4o-mini"]
    assert (
        attrs(first)["gen_ai.request.model"] == "gpt-4o"
        and attrs(third)["gen_ai.request.model"] == "gpt-4o-mini"
    )
    # The parameters of one call are not the template's: the next call of the model has none.
    assert attrs(second)["gen_ai.request.temperature"] == 0.5 and "gen_ai.request.temperature" not in attrs(
        third
    )
    assert "gen_ai.input.messages" not in attrs(second)
    assert "Say hello" in attrs(third)["gen_ai.input.messages"]
    assert "gen_ai.output.messages" in attrs(third)


def test_the_llm_span_starts_with_its_session_and_agent(rec: Recording) -> None:
    """The session and the enclosing agent are in the span's start attributes, so the session span
    processor, which stamps every span, has nothing to write (one locked write less per call)."""
    from opentelemetry.sdk.trace import SpanProcessor

    from agentops_otel._internal.context import AGENT_KEY, AgentRef

    at_start: list[dict[str, Any]] = []

    class AtStart(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            at_start.append(dict(span.attributes or {}))

    rec.provider.add_span_processor(AtStart())
    server = Server(json_response(CHAT_COMPLETION))
    ctx = otel_context.set_value(AGENT_KEY, AgentRef("planner", "agent-1"), with_session(None, SESSION))
    token = otel_context.attach(ctx)
    try:
        openai_client(server).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    finally:
        otel_context.detach(token)
    assert at_start[0]["session.id"] == SESSION
    assert at_start[0]["gen_ai.agent.name"] == "planner" and at_start[0]["gen_ai.agent.id"] == "agent-1"
    assert attrs(rec.one_llm_span())["session.id"] == SESSION
