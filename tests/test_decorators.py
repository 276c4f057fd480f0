"""@tool, @agent and @action: span shapes, every callable flavour, generators, errors, content."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from agentops_otel import _runtime, semconv
from agentops_otel._content import MAX_CONTENT_CHARS, serialize
from agentops_otel._internal import context as ao_context
from agentops_otel._internal.context import agent_attributes
from agentops_otel._internal.decorators import action, agent, tool
from span_fixtures import Recorded

pytestmark = pytest.mark.usefixtures("default_config")


def current_span_name() -> str | None:
    return getattr(trace.get_current_span(), "name", None)


# -- forms ---------------------------------------------------------------------------------------------


def test_every_decorator_form_names_the_span(rec: Recorded) -> None:
    @tool
    def bare(x: int) -> int:
        return x + 1

    @tool()
    def empty_call(x: int) -> int:
        return x + 2

    @tool("positional")
    def named_positionally(x: int) -> int:
        return x + 3

    @tool(name="keyword")
    def named_by_keyword(x: int) -> int:
        return x + 4

    assert (bare(1), empty_call(1), named_positionally(1), named_by_keyword(1)) == (2, 3, 4, 5)
    names = sorted(s.name for s in rec.spans())
    assert names == sorted(
        ["execute_tool bare", "execute_tool empty_call", "execute_tool positional", "execute_tool keyword"]
    )
    span = rec.one("execute_tool keyword")
    assert span.attributes is not None
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert span.attributes["gen_ai.tool.name"] == "keyword"
    assert span.attributes[semconv.SPAN_KIND] == semconv.KIND_TOOL
    assert span.kind == trace.SpanKind.INTERNAL


def test_agent_and_action_span_shapes(rec: Recorded) -> None:
    @agent(name="planner")
    def plan() -> str:
        return "plan"

    @action
    def step() -> str:
        return "done"

    assert plan() == "plan"
    assert step() == "done"
    a = rec.one("invoke_agent planner").attributes
    assert a is not None
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert a[semconv.AGENT_NAME] == "planner"
    assert uuid.UUID(str(a[semconv.AGENT_ID]))
    assert a[semconv.SPAN_KIND] == semconv.KIND_AGENT
    s = rec.one("step").attributes
    assert s is not None
    assert s[semconv.SPAN_KIND] == semconv.KIND_ACTION
    assert s["agentops.action.type"] == "step"
    assert "gen_ai.operation.name" not in s


def test_default_name_drops_locals_prefix_and_keeps_class(rec: Recorded) -> None:
    class Helper:
        @tool
        def lookup(self) -> int:
            return 1

    Helper().lookup()
    assert rec.one("execute_tool Helper.lookup")


def test_metadata_is_preserved() -> None:
    @tool
    def sync_fn(a: int, b: str = "x") -> str:
        """Doc."""
        return b * a

    @tool
    async def async_fn(a: int) -> int:
        return a

    @tool
    def gen_fn() -> Iterator[int]:
        yield 1

    @tool
    async def agen_fn() -> AsyncIterator[int]:
        yield 1

    assert sync_fn.__name__ == "sync_fn" and sync_fn.__doc__ == "Doc."
    assert list(inspect.signature(sync_fn).parameters) == ["a", "b"]
    assert inspect.iscoroutinefunction(async_fn)
    assert inspect.isgeneratorfunction(gen_fn)
    assert inspect.isasyncgenfunction(agen_fn)
    assert not inspect.iscoroutinefunction(sync_fn)


# -- flavours ------------------------------------------------------------------------------------------


def test_async_function_span_is_current_inside(rec: Recorded) -> None:
    seen: list[str | None] = []

    @tool(name="fetch")
    async def fetch(x: int) -> int:
        await asyncio.sleep(0)
        seen.append(current_span_name())
        return x * 2

    assert asyncio.run(fetch(21)) == 42
    assert seen == ["execute_tool fetch"]
    assert rec.one("execute_tool fetch").end_time is not None


def test_generator_span_is_current_only_while_it_runs(rec: Recorded) -> None:
    inside: list[str | None] = []

    @tool(name="stream")
    def stream(n: int) -> Iterator[int]:
        for i in range(n):
            inside.append(current_span_name())
            yield i

    with rec.tracer.start_as_current_span("consumer"):
        between: list[str | None] = []
        for value in stream(3):
            between.append(current_span_name())
            assert value >= 0
    assert inside == ["execute_tool stream"] * 3
    assert between == ["consumer"] * 3
    span = rec.one("execute_tool stream")
    assert span.parent is not None and span.parent.span_id == rec.one("consumer").context.span_id
    assert span.status.status_code == StatusCode.UNSET


def test_generator_send_throw_and_return_value(rec: Recorded) -> None:
    @action
    def echo() -> Any:
        total = 0
        while True:
            try:
                got = yield total
            except KeyError:
                got = 100
            if got is None:
                return total
            total += got

    gen = echo()
    assert next(gen) == 0
    assert gen.send(5) == 5
    assert gen.throw(KeyError("k")) == 105
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == 105
    assert rec.one("echo").status.status_code == StatusCode.UNSET


def test_generator_closed_early_by_break_ends_the_span(rec: Recorded) -> None:
    cleaned: list[str | None] = []

    @tool(name="endless")
    def endless() -> Iterator[int]:
        i = 0
        try:
            while True:
                yield i
                i += 1
        finally:
            cleaned.append(current_span_name())

    gen = endless()
    for i in gen:
        if i == 2:
            break
    assert rec.named("execute_tool endless") == []  # still open: not closed yet
    gen.close()
    span = rec.one("execute_tool endless")
    assert span.end_time is not None
    assert span.status.status_code == StatusCode.UNSET
    assert cleaned == ["execute_tool endless"]  # the generator's cleanup ran inside its span


def test_generator_garbage_collected_ends_the_span(rec: Recorded) -> None:
    @tool(name="dropped")
    def dropped() -> Iterator[int]:
        yield from range(10)

    gen = dropped()
    assert next(gen) == 0
    del gen
    gc.collect()
    assert rec.one("execute_tool dropped").end_time is not None


def test_generator_never_started_makes_no_span(rec: Recorded) -> None:
    @tool
    def lazy() -> Iterator[int]:
        yield 1

    gen = lazy()
    del gen
    gc.collect()
    assert rec.spans() == []


def test_async_generator_context_and_early_close(rec: Recorded) -> None:
    inside: list[str | None] = []
    between: list[str | None] = []

    @agent(name="streamer")
    async def streamer() -> AsyncIterator[int]:
        for i in range(10):
            await asyncio.sleep(0)
            inside.append(current_span_name())
            yield i

    async def main() -> None:
        with rec.tracer.start_as_current_span("consumer"):
            agen = streamer()
            async for value in agen:
                between.append(current_span_name())
                if value == 1:
                    break
            await agen.aclose()  # type: ignore[attr-defined]

    asyncio.run(main())
    assert inside == ["invoke_agent streamer"] * 2
    assert between == ["consumer"] * 2
    span = rec.one("invoke_agent streamer")
    assert span.end_time is not None
    assert span.parent is not None and span.parent.span_id == rec.one("consumer").context.span_id


def test_async_generator_exhausted(rec: Recorded, capture_on: None) -> None:
    @tool(name="agen")
    async def agen(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def main() -> list[int]:
        return [i async for i in agen(3)]

    assert asyncio.run(main()) == [0, 1, 2]
    a = rec.one("execute_tool agen").attributes
    assert a is not None
    assert json.loads(str(a["gen_ai.tool.call.result"])) == [0, 1, 2]
    assert json.loads(str(a["gen_ai.tool.call.arguments"])) == {"n": 3}


class Calculator:
    factor = 3

    @tool
    def times(self, x: int) -> int:
        return x * self.factor

    @tool
    @classmethod
    def cls_above(cls, x: int) -> int:
        return x * cls.factor

    @classmethod
    @tool
    def cls_below(cls, x: int) -> int:
        return x * cls.factor

    @tool
    @staticmethod
    def static_above(x: int) -> int:
        return x + 1

    @staticmethod
    @tool
    def static_below(x: int) -> int:
        return x + 2

    @tool
    async def atimes(self, x: int) -> int:
        return x * self.factor


def test_methods_in_every_order(rec: Recorded, capture_on: None) -> None:
    calc = Calculator()
    assert calc.times(2) == 6
    assert Calculator.cls_above(2) == 6 and calc.cls_above(1) == 3
    assert Calculator.cls_below(2) == 6
    assert Calculator.static_above(2) == 3 and calc.static_above(2) == 3
    assert Calculator.static_below(2) == 4
    assert asyncio.run(calc.atimes(3)) == 9
    names = {s.name for s in rec.spans()}
    assert names == {
        "execute_tool Calculator.times",
        "execute_tool Calculator.cls_above",
        "execute_tool Calculator.cls_below",
        "execute_tool Calculator.static_above",
        "execute_tool Calculator.static_below",
        "execute_tool Calculator.atimes",
    }
    args = rec.one("execute_tool Calculator.times").attributes
    assert args is not None
    assert json.loads(str(args["gen_ai.tool.call.arguments"])) == {"x": 2}  # no self
    cls_args = rec.named("execute_tool Calculator.cls_above")[0].attributes
    assert cls_args is not None
    assert json.loads(str(cls_args["gen_ai.tool.call.arguments"])) == {"x": 2}  # no cls


def test_agent_id_per_instance_and_per_function(rec: Recorded) -> None:
    class Worker:
        @agent
        def work(self) -> str | None:
            ref = ao_context.current_agent()
            return ref.id if ref else None

    @agent
    def solo() -> str | None:
        ref = ao_context.current_agent()
        return ref.id if ref else None

    @agent(agent_id="fixed-id")
    def fixed() -> None:
        return None

    w1, w2 = Worker(), Worker()
    assert w1.work() == w1.work()
    assert w1.work() != w2.work()
    assert solo() == solo()
    fixed()
    ids = {str((s.attributes or {})[semconv.AGENT_ID]) for s in rec.named("invoke_agent Worker.work")}
    assert len(ids) == 2
    assert (rec.one("invoke_agent fixed").attributes or {})[semconv.AGENT_ID] == "fixed-id"


def test_agent_on_a_class_wraps_public_methods(rec: Recorded) -> None:
    @agent(name="crew")
    class Crew:
        def __init__(self) -> None:
            self.n = 0

        def run(self) -> int:
            self.n += 1
            return self.n

        def _private(self) -> int:
            return 7

    crew = Crew()
    assert crew.run() == 1 and crew._private() == 7
    span = rec.one("invoke_agent crew")
    assert (span.attributes or {})[semconv.AGENT_NAME] == "crew"


# -- errors --------------------------------------------------------------------------------------------


class ToolFailure(Exception):
    pass


def test_exception_is_recorded_and_reraised_unchanged(rec: Recorded) -> None:
    error = ToolFailure("boom")

    @tool(name="fails")
    def fails() -> None:
        raise error

    with pytest.raises(ToolFailure) as caught:
        fails()
    assert caught.value is error
    frames = [f.name for f in traceback.extract_tb(caught.value.__traceback__)]
    assert frames[-1] == "fails"  # the raising frame is still the last one
    span = rec.one("execute_tool fails")
    assert span.status.status_code == StatusCode.ERROR
    etype = str((span.attributes or {})["error.type"])
    assert etype.endswith("test_decorators.ToolFailure") and "." in etype
    event = next(e for e in span.events if e.name == "exception")
    assert (event.attributes or {})["exception.message"] == "boom"
    assert "raise error" in str((event.attributes or {})["exception.stacktrace"])


def test_builtin_exception_type_is_bare_async_and_generator(rec: Recorded) -> None:
    @action(name="async_fail")
    async def async_fail() -> None:
        raise ValueError("bad")

    @action(name="gen_fail")
    def gen_fail() -> Iterator[int]:
        yield 1
        raise KeyError("missing")

    with pytest.raises(ValueError):
        asyncio.run(async_fail())
    with pytest.raises(KeyError):
        list(gen_fail())
    for name, etype in [("async_fail", "ValueError"), ("gen_fail", "KeyError")]:
        span = rec.one(name)
        assert span.status.status_code == StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == etype


def test_exception_thrown_into_generator_and_not_handled(rec: Recorded) -> None:
    @tool(name="victim")
    def victim() -> Iterator[int]:
        yield 1
        yield 2

    gen = victim()
    next(gen)
    exc = RuntimeError("from outside")
    with pytest.raises(RuntimeError) as caught:
        gen.throw(exc)
    assert caught.value is exc
    assert rec.one("execute_tool victim").status.status_code == StatusCode.ERROR


# -- content -------------------------------------------------------------------------------------------


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def test_unserialisable_arguments_never_break_the_call(rec: Recorded, capture_on: None) -> None:
    recursive: list[Any] = [1]
    recursive.append(recursive)
    nested: dict[str, Any] = {}
    nested["self"] = nested
    huge = "x" * 1_000_000

    @tool(name="tolerant")
    def tolerant(*values: Any, **named: Any) -> Any:
        return values[0]

    bad = BadRepr()
    assert tolerant(bad, recursive, b"\x00\xff" * 1000, huge, nested=nested) is bad
    assert tolerant(huge) is huge
    spans = rec.named("execute_tool tolerant")
    assert len(spans) == 2
    for span in spans:
        a = span.attributes or {}
        for key in ("gen_ai.tool.call.arguments", "gen_ai.tool.call.result"):
            assert len(str(a[key])) <= MAX_CONTENT_CHARS + 20
    first = str((spans[0].attributes or {})["gen_ai.tool.call.arguments"])
    assert "<unrepresentable BadRepr>" in first
    assert "<recursive>" in first
    assert "bytes of 2000 bytes" in first
    assert str((spans[0].attributes or {})["gen_ai.tool.call.result"]) == '"<unrepresentable BadRepr>"'


def test_serialize_handles_awkward_values() -> None:
    assert json.loads(serialize({"a": [1, 2.5, None, True]})) == {"a": [1, 2.5, None, True]}
    assert json.loads(serialize(10**5000)).startswith("<int of")
    assert json.loads(serialize({1: "int key"})) == {"1": "int key"}
    assert len(serialize(list(range(100_000)))) <= MAX_CONTENT_CHARS + 20
    deep: list[Any] = []
    cur = deep
    for _ in range(1000):
        nxt: list[Any] = []
        cur.append(nxt)
        cur = nxt
    assert "..." in serialize(deep)


def test_content_absent_by_default(rec: Recorded) -> None:
    @tool
    def secret(password: str) -> str:
        return password[::-1]

    @agent
    def spy(password: str) -> str:
        return password

    secret("hunter2")
    spy("hunter2")
    for span in rec.spans():
        for value in (span.attributes or {}).values():
            assert "hunter2" not in str(value) and "2retnuh" not in str(value)
    assert "gen_ai.tool.call.arguments" not in (rec.one("execute_tool secret").attributes or {})
    assert "agentops.entity.input" not in (rec.one("invoke_agent spy").attributes or {})


def test_content_with_capture_on_for_agent_and_action(rec: Recorded, capture_on: None) -> None:
    @agent(name="a")
    def a(task: str) -> dict[str, str]:
        return {"answer": task.upper()}

    a("hi")
    attributes = rec.one("invoke_agent a").attributes or {}
    assert json.loads(str(attributes["agentops.entity.input"])) == {"task": "hi"}
    assert json.loads(str(attributes["agentops.entity.output"])) == {"answer": "HI"}


# -- nesting and sessions ------------------------------------------------------------------------------


def test_agent_tool_action_chain_carries_agent_and_session(rec: Recorded) -> None:
    @action(name="act")
    def act() -> None:
        with rec.tracer.start_as_current_span("user span"):
            pass

    @tool(name="use")
    def use() -> None:
        act()

    @agent(name="boss")
    def boss() -> None:
        use()

    with rec.session() as sid:
        boss()
    root = rec.one("agentops.session")
    a, t, x, u = (rec.one(n) for n in ("invoke_agent boss", "execute_tool use", "act", "user span"))
    assert a.parent is not None and a.parent.span_id == root.context.span_id
    assert t.parent is not None and t.parent.span_id == a.context.span_id
    assert x.parent is not None and x.parent.span_id == t.context.span_id
    assert u.parent is not None and u.parent.span_id == x.context.span_id
    agent_id = (a.attributes or {})[semconv.AGENT_ID]
    for span in (a, t, x, u):
        assert span.context.trace_id == root.context.trace_id
        assert (span.attributes or {})[semconv.AGENT_NAME] == "boss"
        assert (span.attributes or {})[semconv.AGENT_ID] == agent_id
        assert (span.attributes or {})[semconv.SESSION_ID] == sid
    assert semconv.AGENT_NAME not in (root.attributes or {})


def test_session_and_agent_are_given_at_start_and_written_once(
    rec: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our spans carry the session and agent from their start, so the session processor (which
    stamps every span) finds them there and writes nothing more; its work per span is the lookup."""
    from opentelemetry.sdk.trace import Span

    writes: list[Any] = []
    real = Span.set_attributes

    def counted(self: Span, attributes: Any) -> None:
        writes.append((self.name, dict(attributes)))
        real(self, attributes)

    monkeypatch.setattr(Span, "set_attributes", counted)
    monkeypatch.setattr(Span, "set_attribute", lambda self, k, v: counted(self, {k: v}))

    @tool(name="use")
    def use() -> None:
        pass

    @agent(name="boss")
    def boss() -> None:
        use()
        use()

    with rec.session() as sid:
        writes.clear()
        boss()
        boss()
    assert writes == []
    for span in rec.named("execute_tool use"):
        assert (span.attributes or {})[semconv.SESSION_ID] == sid
        assert (span.attributes or {})[semconv.AGENT_NAME] == "boss"


def test_the_session_processor_still_overwrites_a_different_session_or_agent(rec: Recorded) -> None:
    @agent(name="boss")
    def boss() -> None:
        with rec.tracer.start_as_current_span(
            "user span", attributes={semconv.SESSION_ID: "stale", semconv.AGENT_ID: "someone else"}
        ):
            pass

    with rec.session() as sid:
        boss()
    span, agent_span = rec.one("user span"), rec.one("invoke_agent boss")
    assert (span.attributes or {})[semconv.SESSION_ID] == sid
    assert (span.attributes or {})[semconv.AGENT_ID] == (agent_span.attributes or {})[semconv.AGENT_ID]
    assert (span.attributes or {})[semconv.AGENT_NAME] == "boss"


def test_inner_agent_replaces_outer_for_its_own_spans(rec: Recorded) -> None:
    @tool(name="t")
    def t() -> None:
        pass

    @agent(name="inner")
    def inner() -> None:
        t()

    @agent(name="outer")
    def outer() -> None:
        inner()
        t()

    outer()
    tools = rec.named("execute_tool t")
    assert sorted(str((s.attributes or {})[semconv.AGENT_NAME]) for s in tools) == ["inner", "outer"]
    assert (rec.one("invoke_agent inner").attributes or {})[semconv.AGENT_NAME] == "inner"


def test_agent_attributes_reads_the_context() -> None:
    assert agent_attributes() == {}
    ctx = ao_context.otel_context.set_value(ao_context.AGENT_KEY, ao_context.AgentRef("n", "i"))
    assert agent_attributes(ctx) == {semconv.AGENT_NAME: "n", semconv.AGENT_ID: "i"}


def test_span_without_parent_joins_the_active_session_root(rec: Recorded) -> None:
    sid = str(uuid.uuid4())

    @tool(name="orphan")
    def orphan() -> None:
        pass

    _runtime.set_session_id(sid)
    try:
        orphan()
    finally:
        _runtime.set_session_id(None)
    span = rec.one("execute_tool orphan")
    assert format(span.context.trace_id, "032x") == uuid.UUID(sid).hex
    assert span.parent is not None and span.parent.span_id == ao_context.root_span_id_of(sid)
    assert (span.attributes or {})[semconv.SESSION_ID] == sid


def test_no_session_no_parent_is_a_plain_root(rec: Recorded) -> None:
    @tool(name="free")
    def free() -> None:
        pass

    free()
    assert rec.one("execute_tool free").parent is None


def test_async_generator_dropped_inside_the_loop_ends_its_span(rec: Recorded) -> None:
    @tool(name="abandoned")
    async def abandoned() -> AsyncIterator[int]:
        for i in range(10):
            yield i

    async def main() -> None:
        agen = abandoned()
        assert await agen.__anext__() == 0  # type: ignore[attr-defined]
        del agen  # asyncio's async-generator hooks close it

    asyncio.run(main())
    gc.collect()
    assert rec.one("execute_tool abandoned").end_time is not None


class BrokenProvider:
    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracing is broken")


def test_broken_tracing_never_breaks_the_call() -> None:
    from agentops_otel import _runtime

    @tool
    def f(x: int) -> int:
        return x + 1

    @tool
    async def af(x: int) -> int:
        return x + 2

    @tool
    def gen(n: int) -> Iterator[int]:
        yield from range(n)

    @tool
    async def agen(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def collect() -> list[int]:
        return [i async for i in agen(2)]

    _runtime.set_provider(BrokenProvider())  # type: ignore[arg-type]
    try:
        assert f(1) == 2
        assert asyncio.run(af(1)) == 3
        assert list(gen(3)) == [0, 1, 2]
        assert asyncio.run(collect()) == [0, 1]
    finally:
        _runtime.set_provider(None)
