"""Session roots and start markers reach the exporter at once, not at the export worker's next round;
an ordinary span waits for the round (and costs the export processor no attribute read)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentops_otel
from agentops_otel import semconv
from agentops_otel._internal.processors import ExportProcessor
from agentops_otel._internal.urgent import end_urgently
from core_helpers import UserSetup

ROUND = 60.0  # the worker's schedule: nothing here may wait for it


def wait_for(found: Callable[[], list[ReadableSpan]], within: float = 10.0) -> list[ReadableSpan]:
    deadline = time.monotonic() + within
    while not found() and time.monotonic() < deadline:
        time.sleep(0.02)
    return found()


@pytest.fixture
def pair() -> Iterator[tuple[TracerProvider, ExportProcessor, InMemorySpanExporter]]:
    provider = TracerProvider(shutdown_on_exit=False)
    exporter = InMemorySpanExporter()
    processor = ExportProcessor(exporter, schedule_delay=ROUND)
    provider.add_span_processor(processor)
    yield provider, processor, exporter
    provider.shutdown()


def test_a_session_span_ended_urgently_is_delivered_at_once_and_an_ordinary_one_waits(pair: tuple) -> None:
    provider, processor, exporter = pair
    tracer = provider.get_tracer("t")
    processor.start()
    # Marked as a session span but ended plainly: the processor reads no kind, so it waits its round.
    tracer.start_span("plain", attributes={semconv.SPAN_KIND: semconv.KIND_SESSION_START}).end()
    time.sleep(0.3)
    assert processor.queued_spans == 1 and not exporter.get_finished_spans()
    marker = tracer.start_span("x.session.start", attributes={semconv.SPAN_KIND: semconv.KIND_SESSION_START})
    end_urgently(marker)
    delivered = wait_for(exporter.get_finished_spans)
    assert {span.name for span in delivered} == {"plain", "x.session.start"}
    # Ended urgently but not a session span: no wake for it.
    tracer.start_span("tool").end()
    end_urgently(tracer.start_span("other"))
    time.sleep(0.3)
    assert processor.queued_spans == 2


def test_a_session_under_the_users_provider_reaches_our_exporter_at_once(user: UserSetup) -> None:
    ours = InMemorySpanExporter()
    agentops_otel.init(
        tracer_provider=user.provider,
        exporter=ours,
        instrument_llm_calls=False,
        schedule_delay=ROUND,
        tags=["first"],
    )

    def of_kind(kind: str) -> Callable[[], list[ReadableSpan]]:
        return lambda: [
            s for s in ours.get_finished_spans() if (s.attributes or {}).get(semconv.SPAN_KIND) == kind
        ]

    assert len(wait_for(of_kind(semconv.KIND_SESSION_START))) == 1  # no flush: the marker woke the worker
    agentops_otel.set_tags(["second"])
    assert len(wait_for(lambda: of_kind(semconv.KIND_SESSION_START)()[1:])) == 1  # the new tags' marker
    user.tracer.start_span("user-span").end()
    agentops_otel.end_session("Success")
    (root,) = wait_for(of_kind(semconv.KIND_SESSION))
    assert root.attributes is not None and root.attributes[semconv.SESSION_END_STATE] == "Success"
    assert "user-span" in {s.name for s in ours.get_finished_spans()}  # queued before the root: sent with it


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_while_a_session_span_ends_leaves_the_child_no_mark() -> None:
    """The thread that was ending a session span is not in the child: its mark must not be either."""
    from agentops_otel._internal import urgent

    token = object()
    urgent.ENDING.add(token)
    try:
        pid = os.fork()
        if pid == 0:  # the child: exit at once with what it found
            os._exit(0 if not urgent.ENDING else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        urgent.ENDING.discard(token)
    assert os.waitstatus_to_exitcode(status) == 0
