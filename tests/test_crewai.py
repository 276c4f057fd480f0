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


def _crew_spans(run: Run) -> list[Any]:
    return [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "crew"]


def test_native_async_crews_record_the_same_spans(llm: CannedLLM, run: Run) -> None:
    """``akickoff`` goes through the async methods (``_aexecute_core``, ``aexecute_task``, ...), under a
    crew span like the one ``kickoff`` makes."""
    with CannedLLM(SCRIPT) as other:
        _crew(other).kickoff(inputs={"city": "Paris"})
    (sync_crew,) = _crew_spans(run)
    result = asyncio.run(_crew(llm).akickoff(inputs={"city": "Paris"}))
    assert "sunny" in str(result.raw).lower()
    tree = run.tree()
    crew, other_crew = _crew_spans(run)
    crew = other_crew if crew is sync_crew else crew
    assert crew.name == sync_crew.name == "crew weather crew" and run.parent(crew) is run.root, tree
    assert attrs(crew) == attrs(sync_crew) and attrs(crew)["agentops.entity.input"], tree
    tasks = [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "task"]
    (task,) = [t for t in tasks if run.parent(t) is crew]
    assert task.name == "task forecast" and len(tasks) == 2, tree
    agents = [a for a in run.kind("agent") if run.parent(a) is task]
    assert [a.name for a in agents] == ["invoke_agent Forecaster"], tree
    (tool_span,) = [t for t in run.kind("tool") if _under(run, t, crew)]
    assert "invoke_agent Forecaster" in run.ancestors(tool_span), tree
    assert attrs(tool_span)["gen_ai.tool.call.result"] == "sunny in Paris"
    llm_spans = [s for s in run.kind("llm") if _under(run, s, crew)]
    assert len(llm_spans) == 2 and all("invoke_agent Forecaster" in run.ancestors(s) for s in llm_spans), tree
    assert trace.get_current_span() is run.root


def _under(run: Run, span: Any, ancestor: Any) -> bool:
    found = run.parent(span)
    while found is not None and found is not ancestor:
        found = run.parent(found)
    return found is ancestor


def test_kickoff_async_records_one_crew_span(llm: CannedLLM, run: Run) -> None:
    """``kickoff_async`` runs the wrapped ``kickoff`` in a thread: its span, once, under the session."""
    asyncio.run(_crew(llm).kickoff_async())
    tree = run.tree()
    (crew,) = _crew_spans(run)
    assert run.parent(crew) is run.root, tree
    (task,) = [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "task"]
    assert run.parent(task) is crew, tree


class _HandingOver(crewai.Crew):  # type: ignore[misc]
    """A crew whose native async run hands its work to ``kickoff``, as a CrewAI release could."""

    async def _arun_sequential_process(self) -> Any:
        return await asyncio.to_thread(self.kickoff)


def test_a_kickoff_inside_a_crews_own_run_is_the_same_crew_span(llm: CannedLLM, run: Run) -> None:
    """``akickoff`` reaching the wrapped ``kickoff`` (in a thread, with the crew span current) is one
    run: one crew span, the task under it."""
    crew = _crew(llm)
    handing_over = _HandingOver(agents=crew.agents, tasks=crew.tasks, name="weather crew")
    result = asyncio.run(handing_over.akickoff())
    assert "sunny" in str(result.raw).lower()
    tree = run.tree()
    (crew_span,) = _crew_spans(run)
    assert run.parent(crew_span) is run.root, tree
    (task,) = [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "task"]
    assert run.parent(task) is crew_span, tree


def test_a_crew_inside_a_tool_is_a_crew_span_of_its_own(llm: CannedLLM, run: Run) -> None:
    """A crew kicked off by another crew's tool is another run: its own crew span, under the tool."""
    with CannedLLM([Turn(text="Inner answer.")]) as inner_llm:

        @tool
        def get_weather(city: str) -> str:
            """The weather in a city."""
            inner = _crew(inner_llm)
            inner.name = "inner crew"
            return f"sunny in {city}: {inner.kickoff().raw}"

        _crew(llm, [get_weather]).kickoff()
    tree = run.tree()
    outer, inner = sorted(_crew_spans(run), key=lambda s: s.start_time or 0)
    assert outer.name == "crew weather crew" and inner.name == "crew inner crew", tree
    assert run.parent(inner).name == "execute_tool get_weather" and _under(run, inner, outer), tree


def test_a_streaming_kickoff_records_one_crew_span(llm: CannedLLM, run: Run) -> None:
    """``stream=True``: ``kickoff`` returns the stream and the run happens as it is read (a kickoff of
    its own): one crew span, over the run."""
    crew = _crew(llm)
    crew.stream = True
    streaming = crew.kickoff()
    chunks = list(streaming)
    assert chunks and "sunny" in str(streaming.result.raw).lower()
    tree = run.tree()
    (crew_span,) = _crew_spans(run)
    assert run.parent(crew_span) is run.root, tree
    (task,) = [s for s in run.kind("action") if attrs(s)["agentops.action.type"] == "task"]
    assert run.parent(task) is crew_span, tree
