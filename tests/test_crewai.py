"""CrewAI: crew, task, agent and tool spans, each model call once (the SDK span under its agent), and
CrewAI's own telemetry neither exported with ours nor broken, nor sending anything off the machine.
The real ``crewai`` (its native OpenAI provider, on the real ``openai`` client) against a canned server
on 127.0.0.1. CrewAI needs openai < 3: CI runs this file in a venv of its own (``.[test-base,crewai]``)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace

crewai = pytest.importorskip("crewai")

from crewai.tools import tool  # noqa: E402

from canned_http import CannedLLM, Turn  # noqa: E402
from framework_fixtures import Run, instrumented_session  # noqa: E402
from llm_fixtures import attrs  # noqa: E402

SCRIPT = [Turn(tool="get_weather", args={"city": "Paris"}), Turn(text="It is sunny in Paris.")]


@pytest.fixture(autouse=True)
def nothing_leaves_the_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    refused: list[Any] = []
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and not str(host).startswith(("127.", "::1")):
            refused.append(address)
            raise OSError(f"no connection off this machine in tests: {address!r}")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield refused
    assert refused == []


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


def _crew(llm: CannedLLM, tools: list[Any] | None = None) -> Any:
    model = crewai.LLM(model="openai/gpt-4o-mini", base_url=llm.url + "/v1", api_key="sk-test")
    forecaster = crewai.Agent(
        role="Forecaster",
        goal="Tell the weather",
        backstory="A meteorologist.",
        tools=tools or [get_weather],
        llm=model,
    )
    task = crewai.Task(
        name="forecast",
        description="What is the weather in Paris?",
        expected_output="One line.",
        agent=forecaster,
    )
    return crewai.Crew(agents=[forecaster], tasks=[task], name="weather crew")


def test_crew_task_agent_tool_and_llm_spans(llm: CannedLLM, run: Run) -> None:
    result = _crew(llm).kickoff()
    assert "sunny" in str(result.raw).lower()
    tree = run.tree()
    (crew,) = [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "crew"]
    assert crew.name == "crew weather crew" and run.parent(crew) is run.root, tree
    (task,) = [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "task"]
    assert task.name == "task forecast" and run.parent(task) is crew, tree
    (agent,) = run.kind("agent")
    assert agent.name == "invoke_agent Forecaster" and run.parent(agent) is task, tree
    assert attrs(agent)["gen_ai.agent.name"] == "Forecaster" and attrs(agent)["gen_ai.agent.id"]
    (tool_span,) = run.kind("tool")
    assert tool_span.name == "execute_tool get_weather", tree
    assert "invoke_agent Forecaster" in run.ancestors(tool_span), tree
    assert attrs(tool_span)["gen_ai.tool.call.result"] == "sunny in Paris"
    assert json.loads(attrs(tool_span)["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    # Each model call once: the openai span, under the agent.
    llm_spans = run.kind("llm")
    assert len(llm_spans) == 2, tree
    for span in llm_spans:
        assert "invoke_agent Forecaster" in run.ancestors(span), tree
        assert attrs(span)["gen_ai.usage.input_tokens"] == 120
    assert all(attrs(s)["session.id"] == run.session_id for s in run.spans())


def test_a_failing_tool_is_an_error_span(llm: CannedLLM, run: Run) -> None:
    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        raise RuntimeError("weather service down")

    _crew(llm, [get_weather]).kickoff()
    tools = run.kind("tool")
    assert tools and tools[0].status.status_code.name == "ERROR", run.tree()
    assert attrs(tools[0])["error.type"] == "RuntimeError"


def test_crewai_telemetry_is_off_and_not_ours(llm: CannedLLM, run: Run) -> None:
    """CREWAI_DISABLE_TELEMETRY (set for every test) keeps CrewAI's telemetry from starting; it never
    writes into our provider either way (its own provider), so none of its spans is in our session."""
    from crewai.telemetry import Telemetry

    telemetry = Telemetry()
    assert telemetry.ready is False
    _crew(llm).kickoff()
    assert not [
        s for s in run.spans() if s.instrumentation_scope and "crewai" in s.instrumentation_scope.name
    ]
    assert all(
        s.instrumentation_scope.name.startswith("agentops_otel")
        for s in run.spans()
        if s.instrumentation_scope
    )


def test_uninstrumented_crews_record_nothing(llm: CannedLLM) -> None:
    from agentops_otel.instrumentation import uninstrument_all

    with instrumented_session() as run:
        uninstrument_all()
        _crew(llm).kickoff()
        assert run.spans() == []


def test_native_async_crews_record_the_same_spans(llm: CannedLLM, run: Run) -> None:
    """``akickoff`` goes through the async methods (``_aexecute_core``, ``aexecute_task``, ...)."""
    result = asyncio.run(_crew(llm).akickoff())
    assert "sunny" in str(result.raw).lower()
    tree = run.tree()
    (task,) = [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "task"]
    assert task.name == "task forecast", tree
    (agent,) = run.kind("agent")
    assert agent.name == "invoke_agent Forecaster" and run.parent(agent) is task, tree
    (tool_span,) = run.kind("tool")
    assert "invoke_agent Forecaster" in run.ancestors(tool_span), tree
    assert attrs(tool_span)["gen_ai.tool.call.result"] == "sunny in Paris"
    llm_spans = run.kind("llm")
    assert len(llm_spans) == 2 and all("invoke_agent Forecaster" in run.ancestors(s) for s in llm_spans), tree
    assert trace.get_current_span() is run.root
