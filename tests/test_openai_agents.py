"""The OpenAI Agents SDK: agent runs, turns, tools, handoffs and guardrails as our spans, each model call
once (the openai span, nested under its turn); sync, async and streamed runs. The real ``openai-agents``
on the real ``openai`` client, against a canned Responses API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

agents = pytest.importorskip("agents")

from canned_http import CannedLLM, Turn  # noqa: E402
from framework_fixtures import Run, instrumented_session  # noqa: E402
from llm_fixtures import attrs  # noqa: E402

SCRIPT = [
    Turn(tool="transfer_to_weather_agent", args={}),
    Turn(tool="get_weather", args={"city": "Paris"}),
    Turn(text="It is sunny in Paris."),
]


@pytest.fixture
def llm() -> Iterator[CannedLLM]:
    import openai

    with CannedLLM(SCRIPT) as server:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="sk-test", max_retries=0)
        agents.set_default_openai_client(client, use_for_tracing=False)
        # The SDK's own exporter sends traces to OpenAI: none in tests (only 127.0.0.1).
        agents.set_trace_processors([])
        yield server


@pytest.fixture
def run(llm: CannedLLM) -> Iterator[Run]:
    with instrumented_session() as recorded:
        yield recorded


def _agents() -> Any:
    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    @agents.input_guardrail
    def polite(ctx: Any, agent: Any, text: Any) -> Any:
        return agents.GuardrailFunctionOutput(output_info="fine", tripwire_triggered=False)

    weather = agents.Agent(name="Weather agent", instructions="Answer with the tool.", tools=[get_weather])
    return agents.Agent(
        name="Triage",
        instructions="Hand weather questions over.",
        handoffs=[weather],
        input_guardrails=[polite],
    )


def _check_tree(run: Run) -> None:
    tree = run.tree()
    (workflow,) = [s for s in run.kind("action") if attrs(s).get("agentops.action.type") == "workflow"]
    assert workflow.name == "Agent workflow"
    assert run.parent(workflow) is run.root, tree
    names = {s.name for s in run.kind("agent")}
    assert names == {"invoke_agent Triage", "invoke_agent Weather agent"}, tree
    for agent_span in run.kind("agent"):
        assert attrs(agent_span)["gen_ai.operation.name"] == "invoke_agent"
        assert attrs(agent_span)["agentops.framework"] == "openai_agents"
    triage = next(s for s in run.kind("agent") if s.name == "invoke_agent Triage")
    assert attrs(triage)["agentops.agent.handoffs"] == ("Weather agent",)

    (tool,) = run.kind("tool")
    a = attrs(tool)
    assert tool.name == "execute_tool get_weather" and a["gen_ai.tool.name"] == "get_weather"
    assert json.loads(a["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert a["gen_ai.tool.call.result"] == "sunny in Paris"
    assert "invoke_agent Weather agent" in run.ancestors(tool), tree

    (handoff,) = [s for s in run.kind("action") if attrs(s).get("agentops.action.type") == "handoff"]
    assert (attrs(handoff)["agentops.handoff.from"], attrs(handoff)["agentops.handoff.to"]) == (
        "Triage",
        "Weather agent",
    )
    (guardrail,) = [s for s in run.kind("action") if attrs(s).get("agentops.action.type") == "guardrail"]
    assert guardrail.name == "guardrail polite" and attrs(guardrail)["agentops.guardrail.triggered"] is False
    turns = [s for s in run.kind("action") if attrs(s).get("agentops.action.type") == "turn"]
    assert len(turns) >= 2, tree

    # Each model call exactly once: the openai span, under a turn of its agent, never at session level.
    llm_spans = run.kind("llm")
    assert len(llm_spans) == 3, tree
    for span in llm_spans:
        assert attrs(span)["gen_ai.provider.name"] == "openai"
        assert attrs(span)["gen_ai.usage.input_tokens"] == 120
        assert run.parent(span).name.startswith("turn"), tree
    assert all(attrs(s)["session.id"] == run.session_id for s in run.spans())


def test_run_sync(run: Run) -> None:
    result = agents.Runner.run_sync(_agents(), "Weather in Paris?")
    assert result.final_output == "It is sunny in Paris."
    _check_tree(run)


def test_run_async(run: Run) -> None:
    result = asyncio.run(agents.Runner.run(_agents(), "Weather in Paris?"))
    assert result.final_output == "It is sunny in Paris."
    _check_tree(run)


def test_run_streamed(run: Run) -> None:
    async def main() -> Any:
        result = agents.Runner.run_streamed(_agents(), "Weather in Paris?")
        events = [event async for event in result.stream_events()]
        assert events
        return result

    result = asyncio.run(main())
    assert result.final_output == "It is sunny in Paris."
    _check_tree(run)
    # Streamed model calls: one span each, ended, with the stream's usage.
    assert all(attrs(s).get("gen_ai.request.stream") is True for s in run.kind("llm"))


def test_a_failing_tool_is_an_error_span_and_the_run_goes_on(run: Run) -> None:
    @agents.function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        raise RuntimeError("weather service down")

    weather = agents.Agent(name="Weather agent", instructions="Use the tool.", tools=[get_weather])
    triage = agents.Agent(name="Triage", instructions="Hand over.", handoffs=[weather])
    result = agents.Runner.run_sync(triage, "Weather in Paris?")
    assert result.final_output == "It is sunny in Paris."
    (tool,) = run.kind("tool")
    assert tool.status.status_code.name == "ERROR"
    assert attrs(tool)["error.type"] == "_OTHER"


def test_uninstrumented_runs_record_nothing(llm: CannedLLM) -> None:
    from agentops_otel.instrumentation import uninstrument_all

    with instrumented_session() as run:
        uninstrument_all()
        agents.Runner.run_sync(_agents(), "Weather in Paris?")
        assert run.spans() == []
