"""Sessions follow the work: spans in threads, thread pools and asyncio tasks join the session's trace."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from agentops_otel import semconv
from agentops_otel._internal import threads
from agentops_otel._internal.decorators import agent, tool
from span_fixtures import Recorded

pytestmark = pytest.mark.usefixtures("default_config")


@pytest.fixture
def propagation() -> Iterator[None]:
    was = threads.is_enabled()
    threads.enable()
    try:
        yield
    finally:
        if not was:
            threads.disable()


@pytest.fixture
def no_propagation() -> Iterator[None]:
    was = threads.is_enabled()
    threads.disable()
    try:
        yield
    finally:
        if was:
            threads.enable()


def assert_one_session_trace(rec: Recorded, sid: str) -> list[ReadableSpan]:
    root = rec.one("agentops.session")
    spans = rec.spans()
    ids = {s.span_id for s in (x.context for x in spans)}
    for span in spans:
        assert span.context.trace_id == root.context.trace_id, span.name
        assert (span.attributes or {}).get(semconv.SESSION_ID) == sid, span.name
        if span is not root:
            assert span.parent is not None and span.parent.span_id in ids, f"orphan {span.name}"
    return spans


@tool(name="work")
def work(i: int) -> int:
    return i * 2


def test_multithreaded_agent_lands_in_one_trace(rec: Recorded, propagation: None) -> None:
    results: list[int] = []

    class Worker(threading.Thread):  # overrides run(): still covered
        def run(self) -> None:
            results.append(work(100))

    @agent(name="crew")
    def crew() -> None:
        plain = [threading.Thread(target=lambda i=i: results.append(work(i))) for i in range(3)]
        custom = Worker()
        for t in [*plain, custom]:
            t.start()
        with ThreadPoolExecutor(max_workers=2) as pool:
            results.extend(pool.map(work, range(10, 14)))
            results.append(pool.submit(work, 20).result())
        for t in [*plain, custom]:
            t.join()

    with rec.session() as sid:
        crew()
    assert sorted(results) == sorted([0, 2, 4, 200, 20, 22, 24, 26, 40])
    assert_one_session_trace(rec, sid)
    agent_span = rec.one("invoke_agent crew")
    tools = rec.named("execute_tool work")
    assert len(tools) == 9
    for span in tools:
        assert span.parent is not None and span.parent.span_id == agent_span.context.span_id
        assert (span.attributes or {})[semconv.AGENT_NAME] == "crew"


def test_asyncio_agent_lands_in_one_trace(rec: Recorded) -> None:
    @tool(name="fetch")
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.001 * (3 - i))
        return i

    @agent(name="gatherer")
    async def gatherer() -> list[int]:
        return list(await asyncio.gather(*(fetch(i) for i in range(3))))

    async def main() -> list[int]:
        tasks = [asyncio.create_task(gatherer()) for _ in range(2)]
        out: list[int] = []
        for result in await asyncio.gather(*tasks):
            out.extend(result)
        return out

    with rec.session() as sid:
        assert asyncio.run(main()) == [0, 1, 2, 0, 1, 2]
    assert_one_session_trace(rec, sid)
    agents = {s.context.span_id for s in rec.named("invoke_agent gatherer")}
    fetches = rec.named("execute_tool fetch")
    assert len(agents) == 2 and len(fetches) == 6
    for span in fetches:
        assert span.parent is not None and span.parent.span_id in agents


def test_context_is_taken_at_start_not_construction(rec: Recorded, propagation: None) -> None:
    seen: list[trace.Span] = []
    t = threading.Thread(target=lambda: seen.append(trace.get_current_span()))
    with rec.tracer.start_as_current_span("hand over") as span:
        t.start()
    t.join()
    assert seen == [span]


def test_pool_worker_does_not_keep_the_first_submitters_context(rec: Recorded, propagation: None) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        with rec.tracer.start_as_current_span("first"):
            first = pool.submit(trace.get_current_span).result()
        later = pool.submit(trace.get_current_span).result()
    assert getattr(first, "name", None) == "first"
    assert not later.get_span_context().is_valid


def test_thread_started_before_enable_is_untouched(rec: Recorded, no_propagation: None) -> None:
    go = threading.Event()
    seen: list[Any] = []

    def body() -> None:
        go.wait(5)
        seen.append(trace.get_current_span().get_span_context().is_valid)
        seen.append(work(1))

    t = threading.Thread(target=body)
    with rec.tracer.start_as_current_span("before"):
        t.start()
    threads.enable()
    try:
        go.set()
        t.join(5)
    finally:
        threads.disable()
    assert seen == [False, 2]


def test_disable_restores_and_stops_propagation(rec: Recorded) -> None:
    originals = (threading.Thread.start, ThreadPoolExecutor.submit)
    was = threads.is_enabled()
    threads.disable()
    try:
        raw = (threading.Thread.start, ThreadPoolExecutor.submit)
        threads.enable()
        threads.enable()  # idempotent: one layer only
        assert threading.Thread.start.__wrapped__ is raw[0]  # type: ignore[attr-defined]
        assert ThreadPoolExecutor.submit.__wrapped__ is raw[1]  # type: ignore[attr-defined]
        threads.disable()
        assert (threading.Thread.start, ThreadPoolExecutor.submit) == raw
        seen: list[bool] = []
        with rec.tracer.start_as_current_span("off"):
            t = threading.Thread(
                target=lambda: seen.append(trace.get_current_span().get_span_context().is_valid)
            )
            t.start()
            t.join()
            with ThreadPoolExecutor(max_workers=1) as pool:
                seen.append(
                    pool.submit(lambda: trace.get_current_span().get_span_context().is_valid).result()
                )
        assert seen == [False, False]
    finally:
        if was:
            threads.enable()
    assert (threading.Thread.start, ThreadPoolExecutor.submit) == originals or was


def test_own_threads_inherit_nothing(rec: Recorded, propagation: None) -> None:
    seen: list[bool] = []
    t = threading.Thread(
        target=lambda: seen.append(trace.get_current_span().get_span_context().is_valid),
        name="agentops-test-worker",
    )
    with rec.tracer.start_as_current_span("user"):
        t.start()
    t.join()
    assert seen == [False]


def test_thread_exceptions_still_reach_the_excepthook(rec: Recorded, propagation: None) -> None:
    caught: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: caught.append(args.exc_value)
    try:
        with rec.tracer.start_as_current_span("parent"):
            t = threading.Thread(target=lambda: work("x" * 0) + 1 / 0)  # type: ignore[operator]
            t.start()
        t.join()
    finally:
        threading.excepthook = previous
    assert len(caught) == 1 and isinstance(caught[0], TypeError | ZeroDivisionError)


# -- through the public API: init() turns propagation on and the core stamps session.id ----------------


@pytest.fixture
def user() -> Iterator[Recorded]:
    from agentops_otel._internal.client import reset_client

    was = threads.is_enabled()
    recorded = Recorded()
    try:
        yield recorded
    finally:
        reset_client()
        recorded.provider.shutdown()
        if was:
            threads.enable()
        else:
            threads.disable()


def test_public_api_session_follows_threads_pools_and_tasks(user: Recorded) -> None:
    import uuid

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import agentops_otel

    threads.disable()  # init() must turn it on (the default)
    sid = agentops_otel.init(tracer_provider=user.provider, exporter=InMemorySpanExporter(),
                             instrument_llm_calls=False)  # fmt: skip
    assert sid is not None and threads.is_enabled()

    @agentops_otel.tool(name="step")
    def step(i: int) -> int:
        return i

    @agentops_otel.tool(name="astep")
    async def astep(i: int) -> int:
        await asyncio.sleep(0)
        return i

    @agentops_otel.agent(name="lead")
    def lead() -> None:
        t = threading.Thread(target=step, args=(1,))
        t.start()
        t.join()
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(step, range(3)))

        async def fan_out() -> None:
            await asyncio.gather(*(astep(i) for i in range(3)))

        asyncio.run(fan_out())

    lead()
    agentops_otel.end_session()
    root = user.one("agentops.session")
    assert format(root.context.trace_id, "032x") == uuid.UUID(sid).hex
    spans = [s for s in user.spans() if (s.attributes or {}).get(semconv.SPAN_KIND) in ("tool", "agent")]
    assert len(spans) == 1 + 4 + 3
    lead_span = user.one("invoke_agent lead")
    for span in spans:
        assert span.context.trace_id == root.context.trace_id, span.name
        assert (span.attributes or {})[semconv.SESSION_ID] == sid, span.name
        if span is not lead_span:
            assert span.parent is not None and span.parent.span_id == lead_span.context.span_id


def test_opt_out_keeps_our_spans_in_the_session_but_not_the_parent(user: Recorded) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import agentops_otel

    threads.disable()
    sid = agentops_otel.init(tracer_provider=user.provider, exporter=InMemorySpanExporter(),
                             instrument_llm_calls=False, propagate_context_to_threads=False)  # fmt: skip
    assert sid is not None and not threads.is_enabled()

    @agentops_otel.tool(name="lonely")
    def lonely() -> None:
        pass

    with user.tracer.start_as_current_span("handed over"):
        t = threading.Thread(target=lonely)
        t.start()
        t.join()
    agentops_otel.end_session()
    root = user.one("agentops.session")
    span = user.one("execute_tool lonely")
    # No context reached the thread, yet our span is no orphan root: it hangs off the session root.
    assert span.parent is not None and span.parent.span_id == root.context.span_id
    assert span.context.trace_id == root.context.trace_id
    assert (span.attributes or {})[semconv.SESSION_ID] == sid
