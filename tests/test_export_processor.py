"""The export processor: bounded queue, counted drops, retries, deadlines, fork safety."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel._internal.exporters.base import DELIVERED, DeliveringExporter, Delivery, Encoded, Outcome
from agentops_otel._internal.processors import ExportProcessor


class Gate(SpanExporter):
    """Blocks every export until opened; records what it was given."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.spans: list[ReadableSpan] = []
        self.suppressed: list[bool] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.suppressed.append(bool(otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY)))
        self.open.wait()
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


class Flaky(DeliveringExporter):
    """Down for the first ``down`` attempts (like a backend that is restarting), then up."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.attempts = 0
        self.spans: list[ReadableSpan] = []

    def deliver(self, spans: Sequence[ReadableSpan], timeout: float) -> Delivery:
        self.attempts += 1
        if self.attempts <= self.down:
            return Delivery(Outcome.RETRY, reason="connection refused")
        self.spans.extend(spans)
        return DELIVERED


_providers: list[TracerProvider] = []


@pytest.fixture(autouse=True)
def _shut_down_providers() -> Iterator[None]:
    yield
    while _providers:
        _providers.pop().shutdown()  # here, not at interpreter exit, so its log lines stay captured


def make(exporter: SpanExporter, **kwargs: float) -> tuple[TracerProvider, ExportProcessor]:
    provider = TracerProvider(shutdown_on_exit=False)
    _providers.append(provider)
    processor = ExportProcessor(exporter, **{"schedule_delay": 0.05, **kwargs})  # type: ignore[arg-type]
    provider.add_span_processor(processor)
    return provider, processor


def emit(provider: TracerProvider, n: int, prefix: str = "s") -> None:
    tracer = provider.get_tracer("t")
    for i in range(n):
        tracer.start_span(f"{prefix}{i}").end()


def test_everything_is_delivered_in_batches() -> None:
    exporter = InMemorySpanExporter()
    provider, processor = make(exporter, max_export_batch_size=64)
    emit(provider, 1000)
    assert processor.flush(10)
    assert len(exporter.get_finished_spans()) == 1000
    assert processor.delivered_spans == 1000 and processor.dropped_spans == 0


def test_full_queue_drops_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    gate = Gate()
    provider, processor = make(gate, max_queue_size=50, max_export_batch_size=10)
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        emit(provider, 500)
        assert processor.dropped_spans > 0
        gate.open.set()
        assert processor.flush(10) is False  # spans were dropped since the last flush
        assert processor.flush(10) is True  # and nothing since
        assert processor.shutdown(5)
    assert len(gate.spans) + processor.dropped_spans == 500
    assert "queue full" in caplog.text
    assert f"{processor.dropped_spans} dropped" in caplog.text  # one line at shutdown says how many


def test_backend_down_then_up_loses_nothing() -> None:
    flaky = Flaky(down=3)
    provider, processor = make(flaky, max_export_batch_size=100)
    processor.max_backoff = 0.05
    emit(provider, 250)
    # While the backend is down a flush gives up after one failed attempt; the worker keeps retrying.
    deadline = time.monotonic() + 20
    while not processor.flush(5) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert processor.queued_spans == 0
    assert len(flaky.spans) == 250
    assert flaky.attempts > 3
    assert processor.failed_spans == 0


def test_rejected_batches_are_counted_not_retried() -> None:
    class Rejecting(DeliveringExporter):
        calls = 0

        def deliver(self, spans: Sequence[ReadableSpan], timeout: float) -> Delivery:
            Rejecting.calls += 1
            return Delivery(Outcome.REJECTED, reason="invalid API key")

    provider, processor = make(Rejecting(), max_export_batch_size=10)
    emit(provider, 30)
    assert processor.flush(5) is False  # rejected spans were not delivered
    assert processor.failed_spans == 30 and processor.rejected_spans == 30
    assert Rejecting.calls == 3


def test_plain_exporter_failures_are_retried_a_bounded_number_of_times() -> None:
    class Failing(SpanExporter):
        calls = 0

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            Failing.calls += 1
            return SpanExportResult.FAILURE

    provider, processor = make(Failing(), max_attempts=3)
    processor.max_backoff = 0.01
    emit(provider, 5)
    deadline = time.monotonic() + 10
    while processor.queued_spans and time.monotonic() < deadline:  # a flush says False at its first failure
        processor.flush(1)
    assert Failing.calls == 3
    assert processor.failed_spans == 5 and processor.dropped_spans == 5


def test_flush_keeps_its_deadline_and_says_false() -> None:
    gate = Gate()
    provider, processor = make(gate)
    emit(provider, 3)
    started = time.monotonic()
    assert processor.flush(0.3) is False
    assert time.monotonic() - started < 10  # returns near its deadline, not when the exporter does
    gate.open.set()
    assert processor.flush(10) is True


def test_shutdown_reports_undelivered_spans(caplog: pytest.LogCaptureFixture) -> None:
    gate = Gate()
    provider, processor = make(gate)
    emit(provider, 7)
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        assert processor.shutdown(0.3) is False
    assert processor.failed_spans >= 6  # one batch may be inside the hung exporter
    assert "not delivered" in caplog.text
    emit(provider, 2)  # after shutdown: counted, not queued
    assert processor.queued_spans <= 7
    gate.open.set()


def test_our_sends_are_never_traced() -> None:
    gate = Gate()
    gate.open.set()
    provider, processor = make(gate)
    emit(provider, 2)
    assert processor.flush(5)
    assert gate.suppressed and all(gate.suppressed)


def test_exporter_is_built_on_the_worker_thread() -> None:
    built_in: list[str] = []
    exporter = InMemorySpanExporter()

    def factory() -> SpanExporter:
        built_in.append(threading.current_thread().name)
        return exporter

    provider, processor = make(factory)  # type: ignore[arg-type]
    assert built_in == []
    emit(provider, 1)
    assert processor.flush(5)
    assert built_in == ["agentops-otel-export"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_a_fresh_queue_and_worker(tmp_path: object) -> None:
    gate = Gate()
    provider, processor = make(gate, schedule_delay=30)
    emit(provider, 3, "parent")  # queued, not yet exported
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            before = processor.queued_spans
            gate.open.set()
            emit(provider, 2, "child")
            ok = processor.flush(5)
            names = sorted(s.name for s in gate.spans)
            os.write(write, f"{before}|{ok}|{','.join(names)}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    report = os.read(read, 4096).decode()
    before, ok, names = report.split("|")
    assert before == "0"
    assert ok == "True"
    assert names == "child0,child1"
    gate.open.set()
    assert processor.flush(5)
    assert sorted(s.name for s in gate.spans) == ["parent0", "parent1", "parent2"]


# -- the one retry loop: encode once, authenticate first, no storm while backing off, split suspects ----


class Scripted(DeliveringExporter):
    """Answers each send by ``answer(spans)``; counts prepare, encode and send calls."""

    def __init__(self, answer: object, ready: Delivery = DELIVERED) -> None:
        super().__init__()
        self.answer = answer
        self.ready = ready
        self.prepares = self.encodes = self.sends = 0
        self.delivered: list[str] = []

    def prepare(self, timeout: float) -> Delivery:
        self.prepares += 1
        return self.ready

    def encode(self, spans: Sequence[ReadableSpan]) -> Encoded:
        self.encodes += 1
        return Encoded(list(spans), [s.name for s in spans])

    def send(self, encoded: Encoded, timeout: float) -> Delivery:
        self.sends += 1
        result: Delivery = self.answer(encoded.payload)  # type: ignore[operator]
        if result.outcome is Outcome.DELIVERED:
            self.delivered.extend(encoded.payload)
        return result


DOWN = Delivery(Outcome.RETRY, reason="connection refused")


def test_a_batch_is_encoded_once_however_often_it_is_retried() -> None:
    answers = iter([DOWN, DOWN, DOWN])
    exporter = Scripted(lambda names: next(answers, DELIVERED))
    provider, processor = make(exporter, max_export_batch_size=100)
    processor.max_backoff = 0.02
    emit(provider, 50)
    deadline = time.monotonic() + 20
    while not processor.flush(5) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(exporter.delivered) == 50
    assert exporter.sends == 4 and exporter.encodes == 1


def test_nothing_is_encoded_while_the_exporter_is_not_ready() -> None:
    exporter = Scripted(lambda names: DELIVERED, ready=Delivery(Outcome.RETRY, reason="no token yet"))
    provider, processor = make(exporter)
    processor.max_backoff = 0.02
    emit(provider, 20)
    assert processor.flush(0.5) is False
    assert exporter.prepares >= 1 and exporter.encodes == 0 and exporter.sends == 0
    exporter.ready = DELIVERED
    deadline = time.monotonic() + 10
    while not processor.flush(5) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(exporter.delivered) == 20 and exporter.encodes == 1


def test_new_spans_never_wake_a_worker_that_backs_off() -> None:
    """Issue 17: with the backend down, attempts follow the backoff whatever the span rate (before,
    every span end past a full batch woke the worker: one attempt per span)."""
    exporter = Scripted(lambda names: DOWN)
    provider, processor = make(exporter, max_export_batch_size=64, max_queue_size=1 << 20)
    processor.max_backoff = 30.0
    started = time.monotonic()
    while time.monotonic() - started < 2.0:
        emit(provider, 500)
    elapsed = time.monotonic() - started
    # Backoff 0.25, 0.5, 1, 2 s...: in about 2 s at most 4 attempts; allow a few for timing.
    print(f"\n{exporter.sends} attempts in {elapsed:.1f} s while {processor.queued_spans} spans queued")
    assert exporter.sends <= 6
    assert processor.flush(1) is False
    assert exporter.sends <= 7  # a flush makes one attempt at most


def test_a_flush_on_a_failing_backend_makes_one_attempt_and_returns() -> None:
    exporter = Scripted(lambda names: DOWN)
    provider, processor = make(exporter)
    processor.max_backoff = 30.0
    emit(provider, 5)
    for _ in range(3):
        before = exporter.sends
        started = time.monotonic()
        assert processor.force_flush(30_000) is False
        assert time.monotonic() - started < 10  # not the 30 s asked for
        assert exporter.sends - before <= 1


def _suspect(names: list[str], poison: str = "s7") -> Delivery:
    if poison in names:
        return Delivery(Outcome.RETRY, reason="traces answered 500", suspect=True)
    return DELIVERED


def test_a_poison_span_is_found_by_halving_and_rejected_alone() -> None:
    exporter = Scripted(_suspect)
    provider, processor = make(exporter, max_export_batch_size=512, schedule_delay=5)
    emit(provider, 300)
    deadline = time.monotonic() + 20
    while processor.queued_spans and time.monotonic() < deadline:
        processor.flush(5)
    assert sorted(exporter.delivered) == sorted(f"s{i}" for i in range(300) if i != 7)
    assert processor.rejected_spans == 1 and processor.delivered_spans == 299
    assert exporter.sends <= 2 * 9 + 3  # about two requests per halving of 300 spans
    assert exporter.encodes <= 2 * 9 + 1


def test_a_backend_failing_everything_with_500_is_never_split_to_pieces() -> None:
    exporter = Scripted(lambda names: Delivery(Outcome.RETRY, reason="500", suspect=True))
    provider, processor = make(exporter, max_export_batch_size=512, schedule_delay=5)
    processor.max_backoff = 0.05
    emit(provider, 300)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        processor.flush(0.2)
    assert processor.rejected_spans == 0 and processor.queued_spans == 300  # kept, for the spool
    assert exporter.encodes == 3  # the batch and its two halves, nothing smaller


def test_a_400_for_everything_rejects_in_a_few_requests() -> None:
    exporter = Scripted(lambda names: Delivery(Outcome.REJECTED, reason="400", suspect=True))
    provider, processor = make(exporter, max_export_batch_size=512, schedule_delay=5)
    emit(provider, 300)
    assert processor.flush(5) is False
    assert processor.rejected_spans == 300 and exporter.sends <= 4
