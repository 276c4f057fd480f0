"""The shared stream proxy: every way a stream ends ends the span exactly once."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from agentops_otel.instrumentation._core import LLMCall, Telemetry, start_call
from agentops_otel.instrumentation._streams import AsyncStreamProxy, StreamProxy
from llm_fixtures import (
    CHAT_CHUNKS,
    Recording,
    Server,
    attrs,
    make_recording,
    openai_client,
    openai_recording,  # noqa: F401  (the ``rec`` fixture)
    sse,
    sse_response,
)

MESSAGES = [{"role": "user", "content": "hi"}]


def _stream(**kwargs: Any) -> Any:
    return openai_client(Server(sse_response(sse(CHAT_CHUNKS)))).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, **kwargs
    )


def _async_stream() -> Any:
    client = openai_client(Server(sse_response(sse(CHAT_CHUNKS))), is_async=True)
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)


def test_keeps_type_and_response(rec: Recording) -> None:
    stream = _stream()
    assert isinstance(stream, openai.Stream)
    assert isinstance(stream, StreamProxy)
    assert stream.response.status_code == 200
    stream.close()


@pytest.mark.parametrize("how", ["exhaust", "close", "with", "with_break", "next_then_gc"])
def test_sync_endings_end_once(rec: Recording, how: str) -> None:
    stream = _stream()
    if how == "exhaust":
        assert len(list(stream)) == len(CHAT_CHUNKS)
    elif how == "close":
        next(stream)
        stream.close()
        stream.close()
    elif how == "with":
        with stream as s:
            assert s is stream
            list(s)
    elif how == "with_break":
        with stream as s:
            for _ in s:
                break
    else:
        next(stream)
        del stream
        gc.collect()
    spans = rec.llm_spans()
    assert len(spans) == 1
    assert spans[0].status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("how", ["exhaust", "close", "aclose", "async_with_break"])
def test_async_endings_end_once(rec: Recording, how: str) -> None:
    async def main() -> None:
        stream = await _async_stream()
        assert isinstance(stream, openai.AsyncStream)
        if how == "exhaust":
            assert len([c async for c in stream]) == len(CHAT_CHUNKS)
        elif how == "close":
            await stream.__anext__()
            await stream.close()
        elif how == "aclose":
            await stream.__anext__()
            await stream.aclose()
        else:
            async with stream as s:
                async for _ in s:
                    break
        assert len(rec.llm_spans()) == 1

    asyncio.run(main())
    assert len(rec.llm_spans()) == 1


def test_span_is_not_current_while_the_caller_holds_the_stream(rec: Recording) -> None:
    tracer = rec.provider.get_tracer("user")
    with tracer.start_as_current_span("user-parent") as parent:
        stream = _stream()
        assert trace.get_current_span() is parent
        next(stream)
        with tracer.start_as_current_span("user-child") as child:
            pass
        list(stream)
    spans = {s.name: s for s in rec.spans()}
    # The user's span made during the stream is a child of the user's parent, not of the LLM span.
    assert child.parent is not None and child.parent.span_id == parent.get_span_context().span_id
    llm = spans["chat gpt-4o"]
    assert llm.parent is not None and llm.parent.span_id == parent.get_span_context().span_id


class _Exploding:
    def item(self, item: Any) -> bool:
        raise RuntimeError("accumulator bug")

    def finish(self, call: LLMCall) -> None:
        raise RuntimeError("finish bug")


def test_accumulator_failures_never_reach_the_loop() -> None:
    recording = make_recording()
    call = start_call(Telemetry(recording.provider, recording.meter_provider), "chat", "openai", "m", {})
    assert call is not None
    proxy = StreamProxy(iter([1, 2, 3]), call, _Exploding())
    assert list(proxy) == [1, 2, 3]
    assert len(recording.llm_spans()) == 1


def test_error_while_reading_marks_error_once() -> None:
    recording = make_recording()
    call = start_call(Telemetry(recording.provider, None), "chat", "openai", "m", {})
    assert call is not None

    def items() -> Iterator[int]:
        yield 1
        raise ConnectionResetError("gone")

    proxy = StreamProxy(items(), call, _Exploding())
    with pytest.raises(ConnectionResetError):
        list(proxy)
    proxy.close()  # a later close does not end it again
    del proxy
    gc.collect()
    spans = recording.llm_spans()
    assert len(spans) == 1
    assert spans[0].status.status_code is StatusCode.ERROR
    assert attrs(spans[0])["error.type"] == "ConnectionResetError"


def test_async_proxy_over_plain_async_iterator() -> None:
    recording = make_recording()
    call = start_call(Telemetry(recording.provider, None), "chat", "openai", "m", {})
    assert call is not None

    async def agen() -> Any:
        for i in range(3):
            yield i

    async def main() -> list[int]:
        proxy = AsyncStreamProxy(agen(), call, _Exploding())
        out = [i async for i in proxy]
        await proxy.aclose()
        return out

    assert asyncio.run(main()) == [0, 1, 2]
    assert len(recording.llm_spans()) == 1
    assert attrs(recording.llm_spans()[0])["gen_ai.response.time_to_first_chunk"] >= 0
