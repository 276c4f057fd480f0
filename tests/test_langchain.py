"""LangChain / LangGraph: graphs as agents, nodes and chains as actions, tools as tools, and each model
call once, our openai ``chat`` span nested under LangChain's model run. The real ``langchain`` and
``langgraph`` with the real ``ChatOpenAI`` against a canned server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace

pytest.importorskip("langgraph")
langchain_openai = pytest.importorskip("langchain_openai")

from langchain.agents import create_agent  # noqa: E402
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402
from langchain_core.tools import BaseTool, tool  # noqa: E402

from canned_http import CannedLLM, Turn  # noqa: E402
from framework_fixtures import Run, instrumented_session  # noqa: E402
from llm_fixtures import attrs  # noqa: E402

_PASSES_CALL_ID = "tool_call_id=tool_call_id" in inspect.getsource(BaseTool.run)
SCRIPT = [Turn(tool="get_weather", args={"city": "Paris"}), Turn(text="It is sunny in Paris.")]


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
def llm() -> Iterator[CannedLLM]:
    with CannedLLM(SCRIPT) as server:
        yield server


@pytest.fixture
def run() -> Iterator[Run]:
    with instrumented_session() as recorded:
        yield recorded


def _model(llm: CannedLLM, **kwargs: Any) -> Any:
    return langchain_openai.ChatOpenAI(
        model="gpt-4o-mini", base_url=llm.url + "/v1", api_key="sk-test", max_retries=0, **kwargs
    )


def _check_agent_tree(run: Run) -> None:
    tree = run.tree()
    (agent,) = run.kind("agent")
    assert agent.name == "invoke_agent LangGraph" and run.parent(agent) is run.root, tree
    nodes = [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "node"]
    assert {s.name for s in nodes} >= {"model", "tools"}, tree
    (tool_span,) = run.kind("tool")
    a = attrs(tool_span)
    assert tool_span.name == "execute_tool get_weather"
    if _PASSES_CALL_ID:  # langchain-core passes the tool call's id to callbacks since 1.x releases after 1.0
        assert a["gen_ai.tool.call.id"] == "call_0"
    assert json.loads(a["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert a["gen_ai.tool.call.result"] == "sunny in Paris"
    assert "invoke_agent LangGraph" in run.ancestors(tool_span), tree
    # Two model calls, each once: our chat span, under LangChain's ChatOpenAI run, under the model node.
    llm_spans = run.kind("llm")
    assert len(llm_spans) == 2, tree
    for span in llm_spans:
        assert span.name == "chat gpt-4o-mini"
        assert run.parent(span).name == "ChatOpenAI", tree
        assert "agentops.span.kind" not in attrs(run.parent(span))  # grouping only: not a second call
        assert "model" in run.ancestors(span), tree
        assert attrs(span)["gen_ai.usage.input_tokens"] == 120
    assert all(attrs(s)["session.id"] == run.session_id for s in run.spans())


def test_create_agent_invoke(llm: CannedLLM, run: Run) -> None:
    agent = create_agent(_model(llm), tools=[get_weather])
    result = agent.invoke({"messages": [{"role": "user", "content": "Weather in Paris?"}]})
    assert result["messages"][-1].content == "It is sunny in Paris."
    _check_agent_tree(run)


def test_create_agent_stream_and_astream(llm: CannedLLM, run: Run) -> None:
    agent = create_agent(_model(llm, streaming=True), tools=[get_weather])
    chunks = list(
        agent.stream({"messages": [{"role": "user", "content": "Weather?"}]}, stream_mode="updates")
    )
    assert chunks
    _check_agent_tree(run)
    streamed = run.kind("llm")
    assert all(attrs(s).get("gen_ai.request.stream") is True for s in streamed)
    assert all("gen_ai.response.time_to_first_chunk" in attrs(s) for s in streamed)

    async def main() -> list[Any]:
        chunks = [c async for c in agent.astream({"messages": [{"role": "user", "content": "Again?"}]})]
        # Nothing of LangChain's runs is left current in the caller's context.
        assert trace.get_current_span() is run.root
        return chunks

    asyncio.run(main())
    assert trace.get_current_span() is run.root
    assert len(run.kind("agent")) == 2 and len(run.kind("llm")) == 3, (
        run.tree()
    )  # the script is done: one reply
    for span in run.kind("llm"):
        assert run.parent(span).name == "ChatOpenAI", run.tree()


@pytest.mark.parametrize("how", ["stream", "astream"])
def test_a_models_own_stream(run: Run, how: str) -> None:
    with CannedLLM([Turn(text="one two three")]) as server:
        model = _model(server)
        if how == "stream":
            text = "".join(str(c.content) for c in model.stream("Count"))
        else:

            async def main() -> str:
                return "".join([str(c.content) async for c in model.astream("Count")])

            text = asyncio.run(main())
    assert text.strip() == "one two three"
    (span,) = run.kind("llm")
    assert run.parent(span).name == "ChatOpenAI", run.tree()
    assert attrs(span)["gen_ai.usage.output_tokens"] == 30
    assert trace.get_current_span() is run.root


def test_lcel_chain(llm: CannedLLM, run: Run) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{question}")])
    chain = prompt | _model(llm) | StrOutputParser()
    with CannedLLM([Turn(text="Brief.")]) as short:
        chain = prompt | _model(short) | StrOutputParser()
        assert chain.invoke({"question": "Why?"}) == "Brief."
    tree = run.tree()
    (sequence,) = [s for s in run.kind("action") if s.name == "RunnableSequence"]
    assert run.parent(sequence) is run.root, tree
    (span,) = run.kind("llm")
    assert run.ancestors(span)[:2] == ["ChatOpenAI", "RunnableSequence"], tree
    inputs = json.loads(attrs(sequence)["agentops.entity.input"])
    assert inputs == {"question": "Why?"}
    assert attrs(sequence)["agentops.entity.output"] == "Brief."


def test_a_model_no_sdk_records_becomes_the_llm_span(run: Run) -> None:
    """A model reaching its provider through no SDK we wrap: LangChain's run is the one LLM span."""
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    reply = AIMessage(
        content="Hi!",
        usage_metadata={"input_tokens": 1000, "output_tokens": 100, "total_tokens": 1100},
        response_metadata={"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"},
    )
    model = GenericFakeChatModel(messages=iter([reply]))
    assert model.invoke("Hello").content == "Hi!"
    (span,) = run.kind("llm")
    a = attrs(span)
    assert span.name == "chat GenericFakeChatModel" or span.name.startswith("chat")
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (1000, 100)
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["content"] == "Hi!"


def test_a_failing_tool_is_an_error_span(llm: CannedLLM, run: Run) -> None:
    @tool
    def broken(city: str) -> str:
        """Always fails."""
        raise ValueError("no weather today")

    with CannedLLM([Turn(tool="broken", args={"city": "Oslo"}), Turn(text="Sorry.")]) as failing:
        agent = create_agent(_model(failing), tools=[broken])
        with pytest.raises(ValueError, match="no weather today"):
            agent.invoke({"messages": [{"role": "user", "content": "Weather?"}]})
    (tool_span,) = run.kind("tool")
    assert tool_span.status.status_code.name == "ERROR"
    assert attrs(tool_span)["error.type"] == "ValueError"
    (agent_span,) = run.kind("agent")
    assert agent_span.status.status_code.name == "ERROR" and agent_span.end_time is not None


def test_uninstrumented_langchain_records_nothing(llm: CannedLLM) -> None:
    from agentops_otel.instrumentation import uninstrument_all

    with instrumented_session() as run:
        uninstrument_all()
        create_agent(_model(llm), tools=[get_weather]).invoke(
            {"messages": [{"role": "user", "content": "?"}]}
        )
        assert run.spans() == []
