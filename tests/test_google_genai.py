"""The Google Gen AI SDK: generate_content (plain, streamed, async), embed_content, with usage, cost and
content. The real ``google-genai`` client pointed at a canned server on 127.0.0.1 (``http_options``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace

from agentops_otel.instrumentation import uninstrument_all

genai = pytest.importorskip("google.genai")

from google.genai import types  # noqa: E402

from canned_http import CannedLLM, Turn  # noqa: E402
from framework_fixtures import Run, instrumented_session  # noqa: E402
from llm_fixtures import attrs  # noqa: E402


@pytest.fixture
def llm() -> Iterator[CannedLLM]:
    with CannedLLM([Turn(text="Bonjour from Gemini")]) as server:
        yield server


@pytest.fixture
def run() -> Iterator[Run]:
    with instrumented_session() as recorded:
        yield recorded


def _client(llm: CannedLLM) -> Any:
    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=llm.url))


def _check(run: Run, *, stream: bool = False) -> Any:
    (span,) = run.kind("llm")
    a = attrs(span)
    assert span.name == "generate_content gemini-2.5-flash"
    assert a["gen_ai.operation.name"] == "generate_content"
    assert a["gen_ai.provider.name"] == "gcp.gemini"
    assert a["gen_ai.request.model"] == "gemini-2.5-flash"
    assert a["gen_ai.response.model"] == "gemini-2.5-flash"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (120, 30)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 20
    assert a["server.address"] == "127.0.0.1"
    # gemini-2.5-flash: 0.30 input, 0.03 cached input, 2.50 output per million.
    assert a["agentops.usage.cost_usd"] == pytest.approx((100 * 0.3 + 20 * 0.03 + 30 * 2.5) / 1e6)
    (message,) = json.loads(a["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "text", "content": "Bonjour from Gemini"}]
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hi"}]}
    ]
    assert run.parent(span) is run.root
    if stream:
        assert "gen_ai.response.time_to_first_chunk" in a
    return a


def test_generate_content(llm: CannedLLM, run: Run) -> None:
    config = types.GenerateContentConfig(temperature=0.4, max_output_tokens=64, system_instruction="Be warm.")
    client = _client(llm)  # kept: a collected Client closes its HTTP client
    response = client.models.generate_content(model="gemini-2.5-flash", contents="Say hi", config=config)
    assert response.text == "Bonjour from Gemini"
    a = _check(run)
    assert (a["gen_ai.request.temperature"], a["gen_ai.request.max_tokens"]) == (0.4, 64)
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be warm."}]
    (path,) = llm.paths  # /v1beta/ in 2.x releases, /v1/ in 3.x
    assert path.endswith("/models/gemini-2.5-flash:generateContent")


def test_generate_content_stream(llm: CannedLLM, run: Run) -> None:
    client = _client(llm)
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Say hi"))
    assert "".join(c.text or "" for c in chunks) == "Bonjour from Gemini"
    assert len(chunks) == 3
    _check(run, stream=True)


def test_async_generate_and_stream(llm: CannedLLM, run: Run) -> None:
    async def main() -> tuple[Any, list[Any]]:
        client = _client(llm)
        first = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="Say hi")
        stream = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="Say hi")
        return first, [c async for c in stream]

    first, chunks = asyncio.run(main())
    assert first.text == "Bonjour from Gemini" and chunks
    spans = run.kind("llm")
    assert len(spans) == 2, run.tree()
    assert all(attrs(s)["gen_ai.usage.input_tokens"] == 120 for s in spans)


def test_function_calls_in_and_out(run: Run) -> None:
    with CannedLLM([Turn(tool="get_weather", args={"city": "Paris"})]) as llm:
        history = [
            types.Content(role="user", parts=[types.Part(text="Weather?")]),
            types.Content(
                role="model",
                parts=[
                    types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"}))
                ],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(name="get_weather", response={"temp": 3})
                    )
                ],
            ),
        ]
        client = _client(llm)
        client.models.generate_content(model="gemini-2.5-flash", contents=history)
    a = attrs(run.kind("llm")[0])
    inputs = json.loads(a["gen_ai.input.messages"])
    assert inputs[1] == {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"city": "Oslo"}}],
    }
    assert inputs[2]["parts"][0]["type"] == "tool_call_response"
    assert inputs[2]["parts"][0]["response"] == {"temp": 3}
    (message,) = json.loads(a["gen_ai.output.messages"])
    assert message["parts"] == [
        {"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"city": "Paris"}}
    ]


def test_errors_are_recorded_and_reach_the_caller(run: Run) -> None:
    client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url="http://127.0.0.1:9"))
    with pytest.raises(Exception) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents="Say hi")
    (span,) = run.kind("llm")
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["error.type"].endswith(type(raised.value).__qualname__)


def test_async_errors_are_recorded_and_the_next_call_is_too(llm: CannedLLM, run: Run) -> None:
    """A failed call leaves the caller's context as it was: the calls after it, sync and async, are
    recorded in the session (not skipped as if still inside the failed call)."""
    dead = genai.Client(api_key="k", http_options=types.HttpOptions(base_url="http://127.0.0.1:9"))
    client = _client(llm)

    async def main() -> BaseException:
        with pytest.raises(Exception) as raised:
            await dead.aio.models.generate_content(model="gemini-2.5-flash", contents="Say hi")
        assert trace.get_current_span() is run.root
        await client.aio.models.generate_content(model="gemini-2.5-flash", contents="Say hi")
        return raised.value

    error = asyncio.run(main())
    with pytest.raises(Exception) as sync_error:
        dead.models.generate_content(model="gemini-2.5-flash", contents="Say hi")
    assert trace.get_current_span() is run.root
    client.models.generate_content(model="gemini-2.5-flash", contents="Say hi")
    failed, async_ok, sync_failed, sync_ok = sorted(run.kind("llm"), key=lambda s: s.start_time or 0)
    assert [s.status.status_code.name for s in (failed, sync_failed)] == ["ERROR", "ERROR"]
    assert attrs(failed)["error.type"].endswith(type(error).__qualname__)
    assert attrs(sync_failed)["error.type"].endswith(type(sync_error.value).__qualname__)
    assert attrs(async_ok)["gen_ai.usage.input_tokens"] == attrs(sync_ok)["gen_ai.usage.input_tokens"] == 120
    assert all(run.parent(s) is run.root for s in (failed, async_ok, sync_failed, sync_ok)), run.tree()


def test_a_bound_method_kept_past_uninstrument_passes_through(llm: CannedLLM) -> None:
    with instrumented_session() as run:
        client = _client(llm)
        generate, agenerate = client.models.generate_content, client.aio.models.generate_content
        uninstrument_all()
        assert generate(model="gemini-2.5-flash", contents="Say hi").text == "Bonjour from Gemini"
        response = asyncio.run(agenerate(model="gemini-2.5-flash", contents="Say hi"))
        assert response.text == "Bonjour from Gemini"
        assert run.spans() == []
