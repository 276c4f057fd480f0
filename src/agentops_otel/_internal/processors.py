"""Span processors: one exports in batches off the caller's thread; the one that stamps the session on
every span is ``session_processor.SessionSpanProcessor`` (imported here for its users).

``ExportProcessor`` differs from OpenTelemetry's ``BatchSpanProcessor`` where agent runs need it to:

* it owns the one retry loop of the export path: a failed batch is kept, encoded once, and sent again
  after a backoff (0.25 s doubling to ``max_backoff``, or ``Retry-After``), so a backend that is down
  and comes back loses nothing that fit in the queue; while a batch backs off, new spans never wake
  the worker (only ``flush``/``shutdown`` do), so the attempts per minute are the backoff's;
* a batch whose content the backend may refuse is split to find the one span that costs it
  (``batches.py``), and that span alone is rejected;
* ``force_flush``/``flush`` keep their deadlines, make at most one attempt on a backend that is
  failing, and return False when anything was not delivered; ``shutdown`` keeps its timeout and hands
  what is left to the exporter's spool;
* every span ends as delivered, spooled, rejected or dropped, counted, and said in one line at
  shutdown;
* session roots, start markers and heartbeats are never dropped for a full queue (``urgent.py``);
* the exporter is built on the worker thread, so slow imports and auth never touch ``init``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from os import getpid

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import TraceFlags

from agentops_otel import _daemon, _sdk_compat
from agentops_otel._internal.export_loop import Counts, DeliveryLoop
from agentops_otel._internal.exporters.base import BatchExporter, DeliveringExporter, PlainExporter
from agentops_otel._internal.session_processor import SessionSpanProcessor as SessionSpanProcessor
from agentops_otel._internal.urgent import ENDING, SESSION_KINDS, URGENT_KINDS, kind_of

logger = logging.getLogger("agentops_otel")

_SAMPLED = TraceFlags.SAMPLED
#: The longest a fork waits for the export worker to finish building its exporter.
_FORK_WAIT = 2.0
#: Part of the shutdown deadline kept for spooling what is left, when the exporter can spool.
_SPOOL_RESERVE = 0.3


ExporterFactory = Callable[[], SpanExporter]


def _weakly(method: Callable[[], None]) -> Callable[[], None]:
    """Call a bound ``method`` through a weak reference: a fork hook keeps no processor alive."""
    ref = weakref.WeakMethod(method)

    def call() -> None:
        found = ref()
        if found is not None:
            found()

    return call


def _as_batch_exporter(exporter: SpanExporter, max_attempts: int) -> BatchExporter:
    if isinstance(exporter, DeliveringExporter):
        return exporter
    return PlainExporter(exporter, max_attempts)


class ExportProcessor(SpanProcessor):
    """A bounded queue drained in batches by its own daemon thread.

    ``exporter`` is a ``SpanExporter`` or a zero-argument factory for one, called on the worker thread.
    Our exporters (:class:`~agentops_otel._internal.exporters.base.DeliveringExporter`) say whether a
    failed batch is worth retrying; any other exporter's failures are retried ``max_attempts`` times.
    """

    def __init__(
        self,
        exporter: SpanExporter | ExporterFactory,
        *,
        max_queue_size: int = 8192,
        max_export_batch_size: int = 512,
        schedule_delay: float = 1.0,
        export_timeout: float = 5.0,
        shutdown_timeout: float | None = None,
        max_attempts: int = 5,
        max_backoff: float = 30.0,
    ) -> None:
        if max_queue_size <= 0 or max_export_batch_size <= 0:
            raise ValueError("max_queue_size and max_export_batch_size must be positive")
        self._given = exporter if isinstance(exporter, SpanExporter) else None
        self._factory: ExporterFactory | None = None if isinstance(exporter, SpanExporter) else exporter
        self._max_queue_size = max_queue_size
        self._max_batch = min(max_export_batch_size, max_queue_size)
        self._calm = self._max_batch - 1  # below this many queued, one more is not dropped nor a batch
        self.schedule_delay = schedule_delay
        self.export_timeout = export_timeout
        #: The most ``shutdown()`` without a timeout (``provider.shutdown()``) waits.
        self.shutdown_timeout = export_timeout if shutdown_timeout is None else shutdown_timeout
        self.max_attempts = max_attempts
        self._max_backoff = max_backoff
        self._reset_state()
        self._register_at_fork()

    @property
    def max_queue_size(self) -> int:
        return self._max_queue_size

    @property
    def max_export_batch_size(self) -> int:
        return self._max_batch

    @property
    def max_backoff(self) -> float:
        return self._loop.max_backoff

    @max_backoff.setter
    def max_backoff(self, value: float) -> None:
        self._max_backoff = self._loop.max_backoff = value

    # -- state ---------------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.pid = os.getpid()  # whose state this is: a forked child's once its at-fork hook ran
        given = self._given
        self._exporter: BatchExporter | None = (
            _as_batch_exporter(given, self.max_attempts) if given is not None else None
        )
        self._queue: deque[ReadableSpan] = deque()
        self._counts = Counts()
        self._loop = DeliveryLoop(self._queue, self._counts, self._max_batch, self._max_backoff)
        self._reported = 0  # spans undelivered when the last flush returned
        self._wake = threading.Event()
        self._built = threading.Event()  # set once the worker has built the exporter
        # Re-entrant: a signal handler (SIGTERM at exit) may flush while this thread is mid-flush.
        self._idle = threading.Condition(threading.RLock())
        self._open_in = self.pid  # 0 once shut down: on_end sees a fork and a shutdown in one test
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        self._warned_full = False

    def _register_at_fork(self) -> None:
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=_weakly(self._before_fork), after_in_child=_weakly(self._after_fork_in_child)
            )

    def _before_fork(self) -> None:
        # The worker builds the exporter right after init, importing modules and opening the store. A
        # fork in the middle of that copies locks held by the worker into a child that can never
        # release them (a half-done import, "unknown encoding: idna"): let it finish first (bounded).
        worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            self._built.wait(_FORK_WAIT)

    def _after_fork_in_child(self) -> None:
        # The parent's queue and thread are not ours, nor a built exporter (its connections and locks
        # belong to the parent): the child starts empty, with a thread and an exporter of its own.
        self._reset_state()

    # -- figures: every span ends in exactly one of delivered, spooled, rejected, dropped ------------

    @property
    def delivered_spans(self) -> int:
        return self._counts.delivered

    @property
    def spooled_spans(self) -> int:
        """Spans left undelivered at shutdown that the exporter spooled for a later process."""
        return self._counts.spooled

    @property
    def rejected_spans(self) -> int:
        """Spans the backend (or the encoder) refused for good."""
        return self._counts.rejected

    @property
    def dropped_spans(self) -> int:
        """Spans not kept: the queue was full, they ended after shutdown, or they were undelivered at
        shutdown and could not be spooled (or a plain exporter failed them ``max_attempts`` times)."""
        return self._counts.dropped + self._counts.lost

    @property
    def failed_spans(self) -> int:
        """Spans rejected, or undelivered at shutdown and not spooled."""
        return self._counts.rejected + self._counts.lost

    @property
    def clamped_spans(self) -> int:
        """Spans delivered with a timestamp clamped into the protocol's range."""
        return self._counts.clamped

    @property
    def queued_spans(self) -> int:
        return self._loop.pending()

    # -- SpanProcessor ---------------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags & _SAMPLED:  # ``.sampled`` is one more Python call per span
            return
        queue = self._queue
        # One test for the rare cases (shut down, forked, the queue full or a batch ready), then append.
        if self._open_in != getpid() or len(queue) >= self._calm:
            self._end_rare(span)
            return
        queue.append(span)
        if self._worker is None:
            self._start_worker()
        if ENDING and kind_of(span) in URGENT_KINDS:
            self._wake_worker()

    def _end_rare(self, span: ReadableSpan) -> None:
        if self.pid != getpid():  # forked without os.register_at_fork running (e.g. from C)
            self._after_fork_in_child()
        if not self._open_in:  # shut down
            self._counts.dropped += 1
            return
        queue = self._queue
        if len(queue) >= self._max_queue_size and kind_of(span) not in SESSION_KINDS:
            self._counts.dropped += 1
            if not self._warned_full:
                self._warned_full = True
                logger.warning(
                    "agentops_otel: export queue full (max_queue_size=%d); dropping spans until it drains",
                    self._max_queue_size,
                )
            return
        queue.append(span)
        if self._worker is None:
            self._start_worker()
        if len(queue) >= self._max_batch or (ENDING and kind_of(span) in URGENT_KINDS):
            self._wake_worker()

    def _wake_worker(self) -> None:
        if self._wake.is_set():
            return
        hold = self._loop.hold_until
        if hold and hold > time.monotonic():
            return  # backing off: the backoff decides when the next attempt is, not the span rate
        self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Deliver what is queued within ``timeout_millis``. False if anything was not delivered, and
        at once after one failed attempt while the backend is failing."""
        return self._flush(time.monotonic() + max(timeout_millis, 0) / 1000.0)

    def flush(self, timeout: float) -> bool:
        """``force_flush`` with the timeout in seconds."""
        return self._flush(time.monotonic() + max(timeout, 0.0))

    def shutdown(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Stop accepting spans, deliver what is queued within ``timeout`` seconds (default:
        ``shutdown_timeout``), spool what is left, and say in one line what was not delivered.
        True if nothing was left undelivered since the last flush."""
        loop = self._loop
        if loop.stopping:
            return self.queued_spans == 0
        start = time.monotonic()
        deadline = start + (self.shutdown_timeout if timeout is None else max(timeout, 0.0))
        self._open_in = 0
        # An exporter that can spool, or one still being built, gets the end of the deadline for it.
        exporter = self._exporter
        can_spool = exporter.spool_location is not None if exporter is not None else self._factory is not None
        reserve = min(_SPOOL_RESERVE, (deadline - start) / 4) if can_spool else 0.0
        delivered_all = self._flush(deadline - reserve, include_spooled=False)
        loop.stopping = True
        self._wake.set()
        exporter = self._exporter
        left = loop.spool_leftovers(exporter, deadline)
        if exporter is not None:
            try:
                exporter.shutdown()
            except Exception:
                logger.debug("agentops_otel: exporter shutdown failed", exc_info=True)
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(max(0.0, min(0.1, deadline - time.monotonic())))
        self._report(exporter)
        return delivered_all and left == 0

    def _report(self, exporter: BatchExporter | None) -> None:
        """The one line at shutdown: what this process did not deliver, by cause."""
        line = self._loop.exit_line(exporter.spool_location if exporter is not None else None)
        if line:
            logger.warning("%s", line)

    # -- worker ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker now (it otherwise starts with the first span), so the exporter is built
        while the program runs rather than at its first export."""
        if self._worker is None:
            self._start_worker()

    def _start_worker(self) -> None:
        with self._worker_lock:
            if self._worker is not None:
                return
            worker = _daemon.thread(self._run, "agentops-otel-export")
            self._worker = worker
        worker.start()

    def _flush(self, deadline: float, include_spooled: bool = True) -> bool:
        """Wait until the queue is delivered (with ``include_spooled``, also the exporter built and the
        backlog of earlier processes sent). False at the deadline, after one failed attempt made during
        this flush (unless the backend gave a ``Retry-After`` that passes before the deadline: then it
        waits and tries again), at once when a ``Retry-After`` lasts past the deadline, and when spans
        were rejected or dropped since the last flush."""
        done = self._wait_delivered(deadline, include_spooled)
        undelivered = self._counts.undelivered()
        done = done and undelivered == self._reported
        self._reported = undelivered
        return done

    def _wait_delivered(self, deadline: float, include_spooled: bool) -> bool:
        loop = self._loop
        if self._worker is None:
            if not loop.pending():
                return True
            self._start_worker()
        if threading.current_thread() is self._worker:
            return False
        with self._idle:
            loop.flush_seq += 1
            failed_before = loop.failed_seq
            loop.flush_deadline = deadline
            self._wake.set()
            try:
                while loop.pending() or (include_spooled and self._backlog_waiting()):
                    now = time.monotonic()
                    if now >= deadline or loop.stopping:
                        return False
                    if loop.hold_is_retry_after and loop.hold_until > deadline:
                        return False  # no request before Retry-After passes, and it passes too late
                    if loop.failed_seq != failed_before:
                        if not loop.hold_is_retry_after:
                            return False  # failing: one attempt is all a flush makes
                        failed_before = loop.failed_seq  # told when to come back, in time: wait for it
                    self._idle.wait(min(deadline - now, 0.05))
                return True
            finally:
                loop.flush_deadline = None

    def _backlog_waiting(self) -> bool:
        exporter = self._exporter
        if exporter is None:
            return self._factory is not None  # being built: it may find a spool to send
        return exporter.has_backlog()

    def _run(self) -> None:
        otel_context.attach(
            otel_context.set_value(_sdk_compat.SUPPRESS_INSTRUMENTATION_KEY, True)
        )  # our sends are never traced
        # Build the exporter now, not at the first export: its imports (urllib3, ssl, sqlite3) must
        # not run at interpreter exit, where they would also reset CPython's record of an unhandled
        # KeyboardInterrupt and so change the exit code from 130 to 1.
        self._exporter_now()
        self._built.set()
        loop = self._loop
        while not loop.stopping:
            self._wake.wait(self._sleep_time())
            self._wake.clear()
            try:
                exporter = self._exporter_now()
                if exporter is None:
                    loop.drop_all("no exporter")
                else:
                    loop.drain(exporter, self.export_timeout)
            except Exception:  # a bug of ours must not kill the worker
                logger.debug("agentops_otel: export worker error", exc_info=True)
            with self._idle:
                self._idle.notify_all()

    def _sleep_time(self) -> float:
        loop = self._loop
        delay = self.schedule_delay
        wait = loop.hold_until - time.monotonic()
        if wait > 0:
            delay = wait
        if loop.flush_deadline is not None:
            delay = min(delay, 0.05)
        return delay

    def _exporter_now(self) -> BatchExporter | None:
        if self._exporter is None and self._factory is not None:
            try:
                self._exporter = _as_batch_exporter(self._factory(), self.max_attempts)
            except Exception as exc:
                logger.error("agentops_otel: cannot create the exporter: %s", exc)
                self._factory = None
        return self._exporter
