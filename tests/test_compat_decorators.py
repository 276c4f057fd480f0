"""The agentops SDK's decorators (0.3's record_action/record_tool/track_agent, 0.4's
``agentops.sdk.decorators``), run with ``import agentops_otel as agentops`` against the user's provider."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import agentops_otel as agentops
from agentops_otel._internal import compat_session
from agentops_otel.sdk.decorators import agent, operation, session, task, tool, trace, workflow
from core_helpers import UserSetup


@pytest.fixture(autouse=True)
def fresh_options() -> Iterator[None]:
    yield
    compat_session.reset_options()


def start(user: UserSetup, **kwargs: Any) -> Any:
    return agentops.init(tracer_provider=user.provider, instrument_llm_calls=False, **kwargs)


def parent_of(user: UserSetup, name: str) -> str:
    span = user.one(name)
    assert span.parent is not None
    return next(s.name for s in user.spans() if s.context.span_id == span.parent.span_id)


# -- 0.4: agentops.sdk.decorators ------------------------------------------------------------------


def test_the_04_nesting_example_records_a_session_with_its_tree(user: UserSetup) -> None:
    start(user, auto_start_session=False)

    @tool(cost=0.05)
    def web_search(query: str) -> str:
        return f"results for {query}"

    @agent(name="researcher", version="2")
    class Researcher:
        @operation
        def investigate(self, topic: str) -> str:
            return web_search(topic)

    @session
    def run(topic: str) -> str:
        return Researcher().investigate(topic)

    assert run("sails") == "results for sails"
    root = user.one("run.session")
    assert root.attributes["agentops.session.end_state"] == "Success"
    assert parent_of(user, "invoke_agent researcher") == "run.session"
    assert parent_of(user, "Researcher.investigate") == "invoke_agent researcher"
    assert parent_of(user, "execute_tool web_search") == "Researcher.investigate"
    search = user.one("execute_tool web_search")
    assert search.attributes["agentops.usage.cost_usd"] == 0.05
    assert user.one("invoke_agent researcher").attributes["agentops.entity.version"] == "2"
    assert agentops.current_session_id() is None


def test_trace_ends_each_call_as_a_session_fail_on_an_exception(user: UserSetup) -> None:
    start(user, auto_start_session=False)

    @agentops.trace(name="nightly", tags=["batch"])
    def job(ok: bool) -> str:
        if not ok:
            raise RuntimeError("disk full")
        return "done"

    assert job(True) == "done"
    with pytest.raises(RuntimeError):
        job(False)
    first, second = user.named("nightly.session")
    assert first.attributes["agentops.session.end_state"] == "Success"
    assert list(first.attributes["agentops.session.tags"]) == ["batch"]
    assert second.attributes["agentops.session.end_state"] == "Fail"
    assert "RuntimeError: disk full" in second.attributes["agentops.session.end_state_reason"]
    assert first.context.trace_id != second.context.trace_id


def test_trace_on_coroutines_and_generators(user: UserSetup) -> None:
    start(user, auto_start_session=False)

    @trace
    async def fetch() -> int:
        await asyncio.sleep(0)
        return 3

    @trace
    def numbers() -> Iterator[int]:
        yield from range(3)

    @trace
    async def stream() -> Any:
        for i in range(2):
            yield i

    async def consume() -> list[int]:
        return [i async for i in stream()]

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch()) == 3
    assert list(numbers()) == [0, 1, 2]
    assert asyncio.run(consume()) == [0, 1]
    for name in ("fetch.session", "numbers.session", "stream.session"):
        assert user.one(name).attributes["agentops.session.end_state"] == "Success"


def test_trace_inside_an_active_session_is_a_span_of_it(user: UserSetup) -> None:
    sid = start(user)  # the auto-started session, as with agentops.init() in 0.4

    @trace
    def step() -> str:
        return "ok"

    assert step() == "ok"
    assert agentops.current_session_id() == sid
    agentops.end_session()
    assert parent_of(user, "step") == "agentops.session"
    assert user.one("step").attributes["session.id"] == sid


def test_task_workflow_operation_are_actions(user: UserSetup) -> None:
    start(user)

    @workflow(name="pipeline")
    def pipeline() -> None:
        prepare()

    @task
    def prepare() -> None:
        pass

    pipeline()
    agentops.end_session()
    assert user.one("pipeline").attributes["agentops.span.kind"] == "action"
    assert parent_of(user, "prepare") == "pipeline"
    assert operation is task


def test_cost_is_for_tools_and_unknown_options_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="cost= is for tools"):
        agentops.action(cost=1.0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        agentops.tool(price=1.0)


# -- 0.3: record_action, record_tool, track_agent ----------------------------------------------------


def test_record_action_and_record_tool_with_the_session_keyword(user: UserSetup) -> None:
    handle = start(user)
    seen: list[Any] = []

    @agentops.record_action("plan_trip")
    def plan(city: str) -> str:
        seen.append(city)
        return f"plan for {city}"

    @agentops.record_tool("calculator")
    async def add(a: int, b: int) -> int:
        return a + b

    @agentops.record_action("uses_session")
    def own(session: Any = None) -> Any:
        return session

    assert plan("Oslo", session=handle) == "plan for Oslo"  # 0.3 passed the session like this
    assert asyncio.run(add(2, 3, session=handle)) == 5
    assert own(session="mine") == "mine"  # a parameter of that name is left alone
    agentops.end_session()
    assert seen == ["Oslo"]
    assert user.one("plan_trip").attributes["agentops.span.kind"] == "action"
    assert user.one("execute_tool calculator").attributes["gen_ai.tool.name"] == "calculator"


def test_a_failing_record_tool_records_the_error(user: UserSetup) -> None:
    start(user)

    @agentops.record_tool("flaky")
    def flaky() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        flaky()
    agentops.end_session()
    span = user.one("execute_tool flaky")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionError"


def test_track_agent_names_instances_with_agentops_name_or_role(user: UserSetup) -> None:
    start(user)

    @agentops.track_agent(name="researcher")
    class Researcher:
        def __init__(self, topic: str) -> None:
            self.topic = topic

        def work(self) -> str:
            return self.topic

    @agentops.track_agent()
    class CrewMember:
        def __init__(self, role: str) -> None:
            self.role = role

        def act(self) -> str:
            return self.role

    assert Researcher("a").work() == "a"
    assert Researcher("b", agentops_name="r2").work() == "b"
    assert CrewMember("critic").act() == "critic"
    agentops.end_session()
    first, second = user.one("invoke_agent researcher"), user.one("invoke_agent r2")
    assert second.attributes["gen_ai.agent.name"] == "r2"
    assert first.attributes["gen_ai.agent.id"] != second.attributes["gen_ai.agent.id"]
    assert user.one("invoke_agent critic").attributes["gen_ai.agent.name"] == "critic"


def test_track_agent_and_track_tool_on_functions(user: UserSetup) -> None:
    start(user)

    @agentops.track_agent(name="planner")
    def planner() -> str:
        return fetch()

    @agentops.track_tool
    def fetch() -> str:
        return "page"

    assert planner() == "page"
    agentops.end_session()
    assert parent_of(user, "execute_tool fetch") == "invoke_agent planner"
