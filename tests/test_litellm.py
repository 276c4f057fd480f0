"""LiteLLM: one LLM span per call with the real provider, tokens and cost; streams; embeddings; its
own OTel callback kept off our spans. The real ``litellm`` against a canned server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace

from agentops_otel.instrumentation import uninstrument_all

litellm = pytest.importorskip("litellm")

from canned_http import CannedLLM, Turn  # noqa: E402
from framework_fixtures import Run, instrumented_session  # noqa: E402
from llm_fixtures import attrs  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def llm() -> Iterator[CannedLLM]:
    with CannedLLM([Turn(text="Hello from the canned model")]) as server:
        yield server


@pytest.fixture
def run() -> Iterator[Run]:
    with instrumented_session() as recorded:
        yield recorded


def _call(llm: CannedLLM, **kwargs: Any) -> dict[str, Any]:
    return {
        "model": "openai/gpt-4o-mini",
        "messages": MESSAGES,
        "api_base": llm.url + "/v1",
        "api_key": "sk-x",
        **kwargs,
    }


def _one_llm(run: Run) -> Any:
    spans = run.kind("llm")
    assert len(spans) == 1, run.tree()
    return spans[0]


def test_completion_is_one_llm_span_with_provider_tokens_and_cost(llm: CannedLLM, run: Run) -> None:
    response = litellm.completion(**_call(llm), temperature=0.3)
    assert response.choices[0].message.content == "Hello from the canned model"
    span = _one_llm(run)
    a = attrs(span)
    assert span.name == "chat gpt-4o-mini"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.request.temperature"] == 0.3
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (120, 30)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 20
    assert a["agentops.usage.cost_usd"] == pytest.approx((100 * 0.15 + 20 * 0.075 + 30 * 0.6) / 1e6)
    assert a["session.id"] == run.session_id
    assert run.parent(span) is not None and run.parent(span).name == "agentops.session"
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"] == "Hello from the canned model"


def test_positional_arguments_and_tool_calls(run: Run) -> None:
    with CannedLLM([Turn(tool="get_weather", args={"city": "Paris"})]) as llm:
        call = _call(llm)
        litellm.completion(call.pop("model"), call.pop("messages"), **call)
    a = attrs(_one_llm(run))
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    (message,) = json.loads(a["gen_ai.output.messages"])
    assert message["parts"][-1]["name"] == "get_weather"
    assert message["parts"][-1]["arguments"] == {"city": "Paris"}


def test_stream_sees_the_same_chunks_and_records_usage(llm: CannedLLM, run: Run) -> None:
    chunks = list(litellm.completion(**_call(llm), stream=True))
    assert "stream_options" in llm.bodies[-1]  # asked for, since the caller did not set it
    texts = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert texts.strip() == "Hello from the canned model"
    assert all(c.choices for c in chunks)  # the usage-only chunk is not the caller's
    a = attrs(_one_llm(run))
    assert a["gen_ai.request.stream"] is True
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (120, 30)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.response.time_to_first_chunk" in a
    assert (
        json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"].strip()
        == "Hello from the canned model"
    )


def test_stream_with_the_callers_own_stream_options(llm: CannedLLM, run: Run) -> None:
    chunks = list(litellm.completion(**_call(llm), stream=True, stream_options={"include_usage": True}))
    assert any(getattr(c, "usage", None) for c in chunks)  # theirs: they see it
    assert attrs(_one_llm(run))["gen_ai.usage.output_tokens"] == 30


def test_acompletion_plain_and_streamed(llm: CannedLLM, run: Run) -> None:
    async def main() -> list[Any]:
        first = await litellm.acompletion(**_call(llm))
        stream = await litellm.acompletion(**_call(llm), stream=True)
        return [first, [c async for c in stream]]

    first, chunks = asyncio.run(main())
    assert first.choices[0].message.content and chunks
    spans = run.kind("llm")
    assert len(spans) == 2, run.tree()
    assert all(attrs(s)["gen_ai.usage.input_tokens"] == 120 for s in spans)
    assert all(run.parent(s).name == "agentops.session" for s in spans)


def test_embedding_and_aembedding(llm: CannedLLM, run: Run) -> None:
    kwargs = {"model": "openai/text-embedding-3-small", "api_base": llm.url + "/v1", "api_key": "sk-x"}
    litellm.embedding(input=["a", "b"], **kwargs)
    asyncio.run(litellm.aembedding(input=["c"], **kwargs))
    spans = run.kind("llm")
    assert len(spans) == 2, run.tree()
    for span in spans:
        a = attrs(span)
        assert span.name == "embeddings text-embedding-3-small"
        assert a["gen_ai.usage.input_tokens"] == 8
        assert a["gen_ai.embeddings.dimension.count"] == 3
        assert a["agentops.usage.cost_usd"] == pytest.approx(8 * 0.02 / 1e6)


def test_provider_behind_the_model_string_prices_the_call(llm: CannedLLM, run: Run) -> None:
    litellm.completion(**_call(llm, model="groq/llama-3.3-70b-versatile"))
    litellm.completion(**_call(llm, model="hosted_vllm/meta-llama/Llama-3.1-8B-Instruct"))
    groq, vllm = sorted(run.kind("llm"), key=lambda s: s.start_time or 0)
    assert attrs(groq)["gen_ai.provider.name"] == "groq"
    assert attrs(groq)["gen_ai.request.model"] == "llama-3.3-70b-versatile"
    assert attrs(groq)["agentops.usage.cost_usd"] == pytest.approx((120 * 0.59 + 30 * 0.79) / 1e6)
    assert attrs(vllm)["gen_ai.provider.name"] == "vllm"
    assert "agentops.usage.cost_usd" not in attrs(vllm)  # self-hosted: no cost


def test_errors_are_recorded_and_reach_the_caller_unchanged(run: Run) -> None:
    with pytest.raises(Exception) as raised:
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=MESSAGES,
            api_base="http://127.0.0.1:9/v1",
            api_key="x",
            max_retries=0,
        )
    a = attrs(_one_llm(run))
    assert a["error.type"] == f"litellm.{type(raised.value).__qualname__}"


def test_litellm_otel_callback_writes_its_own_span_not_ours(llm: CannedLLM, run: Run) -> None:
    """``callbacks=["otel"]``: its attributes land on its own child span, never on our LLM span or the
    session root, and the session still counts one LLM call with our tokens."""
    from litellm.integrations.opentelemetry import OpenTelemetry, OpenTelemetryConfig

    if "tracer_provider" not in inspect.signature(OpenTelemetry.__init__).parameters:
        # e.g. 1.75: it sets a global provider of its own (refused once one is set) and exports there
        pytest.skip("this LiteLLM's OTel callback cannot be given a tracer provider")
    try:
        callback = OpenTelemetry(
            config=OpenTelemetryConfig(exporter="console"), tracer_provider=run.rec.provider
        )
    except ModuleNotFoundError as missing:  # older LiteLLM releases want the OTLP gRPC exporter
        pytest.skip(f"LiteLLM's OTel callback needs {missing.name}")
    previous = list(litellm.callbacks)
    litellm.callbacks = [callback]
    try:
        litellm.completion(**_call(llm))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(s.name == "litellm_request" for s in run.spans()):
            time.sleep(0.05)
    finally:
        litellm.callbacks = previous
    span = _one_llm(run)
    assert not any(k.startswith("gen_ai.") for k in attrs(run.root)), attrs(run.root)
    (theirs,) = [s for s in run.spans() if s.name == "litellm_request"]
    # Our LLM span starts once the provider returned (so another instrumentation's span of the call can
    # be adopted instead of doubled): a span LiteLLM starts during the call sits beside it, in the session.
    assert run.parent(theirs) in (span, run.root), run.tree()
    assert theirs.context.trace_id == span.context.trace_id
    assert attrs(theirs)["session.id"] == run.session_id
    assert "agentops.span.kind" not in attrs(theirs) and "gen_ai.usage.total_tokens" not in attrs(span)
    assert attrs(span)["gen_ai.usage.input_tokens"] == 120


def test_async_errors_are_recorded_and_the_next_call_is_too(llm: CannedLLM, run: Run) -> None:
    """A failed call leaves the caller's context as it was: the calls after it, sync and async, are
    recorded in the session (not skipped as if still inside the failed call)."""
    dead = {"api_base": "http://127.0.0.1:9/v1", "max_retries": 0}

    async def main() -> BaseException:
        with pytest.raises(Exception) as raised:
            await litellm.acompletion(**_call(llm, **dead))
        assert trace.get_current_span() is run.root
        await litellm.acompletion(**_call(llm))
        return raised.value

    error = asyncio.run(main())
    with pytest.raises(Exception) as sync_error:
        litellm.completion(**_call(llm, **dead))
    assert trace.get_current_span() is run.root
    litellm.completion(**_call(llm))
    spans = sorted(run.kind("llm"), key=lambda s: s.start_time or 0)
    assert len(spans) == 4, run.tree()
    failed, async_ok, sync_failed, sync_ok = spans
    assert [s.status.status_code.name for s in (failed, sync_failed)] == ["ERROR", "ERROR"]
    assert attrs(failed)["error.type"] == f"litellm.{type(error).__qualname__}"
    assert attrs(sync_failed)["error.type"] == f"litellm.{type(sync_error.value).__qualname__}"
    assert attrs(async_ok)["gen_ai.usage.input_tokens"] == attrs(sync_ok)["gen_ai.usage.input_tokens"] == 120
    assert all(run.parent(s) is run.root for s in spans), run.tree()


def test_a_function_imported_before_uninstrument_passes_through(llm: CannedLLM) -> None:
    """``from litellm import completion`` keeps our wrapper after ``uninstrument``: it passes through."""
    with instrumented_session() as run:
        completion, acompletion = litellm.completion, litellm.acompletion
        uninstrument_all()
        assert completion(**_call(llm)).choices[0].message.content == "Hello from the canned model"
        assert asyncio.run(acompletion(**_call(llm))).choices[0].message.content
        assert len(llm.bodies) == 2 and run.spans() == []
