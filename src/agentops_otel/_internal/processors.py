"""Span processors: one stamps the session on every span, one exports in batches off the caller's thread.

``ExportProcessor`` differs from OpenTelemetry's ``BatchSpanProcessor`` where agent runs need it to:

* a failed batch is kept and retried (with backoff and ``Retry-After``) instead of dropped, so a backend
  that is down and comes back loses nothing that fit in the queue;
* ``force_flush`` and ``shutdown`` keep their deadlines and return False when data was not delivered;
* drops are counted always (``dropped_spans``) and reported in one log line at shutdown;
* session roots and start markers are never dropped for a full queue: they are what a session *is*;
* the exporter is built on the worker thread, so slow imports and auth never touch ``init``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentops_otel import _sdk_compat, semconv
from agentops_otel._internal.context import AGENT_KEY, AgentRef, session_id_for
from agentops_otel._internal.exporters.base import Delivery, Outcome
from agentops_otel.instrumentation._keys import IN_LLM_CALL, TAIL_CALL, records_llm_call

logger = logging.getLogger("agentops_otel")

_SESSION_KINDS = frozenset({semconv.KIND_SESSION, semconv.KIND_SESSION_START})
#: The longest a fork waits for the export worker to finish building its exporter.
_FORK_WAIT = 2.0
#: Part of the shutdown deadline kept for spooling what is left, when the exporter can spool.
_SPOOL_RESERVE = 0.3


class SessionSpanProcessor(SpanProcessor):
    """Stamps ``session.id`` (and the enclosing agent) on every span when it starts.

    It reads the span's parent context, so spans from any tracer are covered: ours, other
    instrumentations', the user's own. It also sees another instrumentation's LLM span start inside
    one of our LLM wrappers (``IN_LLM_CALL`` in its context): that call is then recorded once, in their
    span, which gets ``agentops.span.kind=llm`` now and its cost when it ends.
    """

    def __init__(self, trust_inbound_session: bool = False) -> None:
        self.trust_inbound_session = trust_inbound_session
        # Other instrumentations' spans that record one of our calls, until they end.
        self._adopted: weakref.WeakKeyDictionary[Span, Any] = weakref.WeakKeyDictionary()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            ctx = parent_context if parent_context is not None else otel_context.get_current()
            span_context = span.get_span_context()
            session_id = session_id_for(ctx, span_context.trace_id, self.trust_inbound_session)
            if session_id is not None:
                span.set_attribute(semconv.SESSION_ID, session_id)
            agent = ctx.get(AGENT_KEY)
            if isinstance(agent, AgentRef):
                span.set_attribute(semconv.AGENT_NAME, agent.name)
                span.set_attribute(semconv.AGENT_ID, agent.id)
            call = ctx.get(IN_LLM_CALL)
            if call is None:
                call = TAIL_CALL.get()
            adopt = getattr(call, "adopt", None)
            if adopt is not None and records_llm_call(span.attributes) and adopt(span):
                self._adopted[span] = call
        except Exception:  # never let a span start fail because of us
            logger.debug("agentops_otel: session stamping failed", exc_info=True)

    def _on_ending(self, span: Span) -> None:
        """Another instrumentation's span that records one of our calls becomes the call's LLM span:
        ``agentops.span.kind=llm`` and the cost from its own usage and model (when it lacks them)."""
        if not self._adopted:  # the common case: one dict length check per span
            return
        try:
            call = self._adopted.pop(span, None)
            attributes = span.attributes
            if call is None or attributes is None:
                return
            if call.streamed and not call.resolved:
                # Ended as the stream was handed back (Logfire): the stream is recorded in a later span.
                call.tail_wanted = True
                return
            kind = attributes.get(semconv.SPAN_KIND)
            added: dict[str, Any] = {}
            if kind is None:
                added[semconv.SPAN_KIND] = semconv.KIND_LLM
            if semconv.COST_USD not in attributes:
                cost = _cost_of(attributes)
                if cost is not None:
                    added[semconv.COST_USD] = cost
            if added:
                _sdk_compat.set_attributes_on_ending(span, added)
        except Exception:
            logger.debug("agentops_otel: enriching another instrumentation's span failed", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _cost_of(attributes: Any) -> float | None:
    """Cost of a GenAI span from its attributes (the current names, or OpenLLMetry's older ones)."""
    from agentops_otel.pricing import cost_usd

    def tokens(*names: str) -> int | None:
        for name in names:
            value = attributes.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    model = attributes.get(semconv.RESPONSE_MODEL) or attributes.get(semconv.REQUEST_MODEL)
    if not isinstance(model, str):
        return None
    return cost_usd(
        model,
        tokens(semconv.USAGE_INPUT_TOKENS, "gen_ai.usage.prompt_tokens"),
        tokens(semconv.USAGE_OUTPUT_TOKENS, "gen_ai.usage.completion_tokens"),
        tokens(semconv.USAGE_CACHE_READ_INPUT_TOKENS) or 0,
        tokens(semconv.USAGE_CACHE_CREATION_INPUT_TOKENS) or 0,
    )


ExporterFactory = Callable[[], SpanExporter]


def _is_session_span(span: ReadableSpan) -> bool:
    attributes = span.attributes
    return attributes is not None and attributes.get(semconv.SPAN_KIND) in _SESSION_KINDS


class ExportProcessor(SpanProcessor):
    """A bounded queue drained in batches by its own daemon thread.

    ``exporter`` is a ``SpanExporter`` or a zero-argument factory for one, called on the worker thread.
    Exporters with a ``deliver(spans, timeout)`` method (see ``exporters/base.py``) say whether a failed
    batch is worth retrying; other exporters' failures are retried ``max_attempts`` times.
    """

    def __init__(
        self,
        exporter: SpanExporter | ExporterFactory,
        *,
        max_queue_size: int = 8192,
        max_export_batch_size: int = 512,
        schedule_delay: float = 1.0,
        export_timeout: float = 5.0,
        max_attempts: int = 5,
        max_backoff: float = 30.0,
    ) -> None:
        if max_queue_size <= 0 or max_export_batch_size <= 0:
            raise ValueError("max_queue_size and max_export_batch_size must be positive")
        if isinstance(exporter, SpanExporter):
            self._exporter: SpanExporter | None = exporter
            self._factory: ExporterFactory | None = None
        else:
            self._exporter = None
            self._factory = exporter
        self.max_queue_size = max_queue_size
        self.max_export_batch_size = min(max_export_batch_size, max_queue_size)
        self.schedule_delay = schedule_delay
        self.export_timeout = export_timeout
        self.max_attempts = max_attempts
        self.max_backoff = max_backoff
        self._reset_state()
        self._register_at_fork()

    # -- state ---------------------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self._pid = os.getpid()
        self._queue: deque[ReadableSpan] = deque()
        self._pending: list[ReadableSpan] | None = None  # the batch in flight or waiting for a retry
        self._attempts = 0
        self._wake = threading.Event()
        self._built = threading.Event()  # set once the worker has built the exporter
        # Re-entrant: a signal handler (SIGTERM at exit) may flush while this thread is mid-flush.
        self._idle = threading.Condition(threading.RLock())
        self._flush_deadline: float | None = None
        self._stopping = False
        self._closed = False
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()
        self._dropped = 0
        self._failed = 0
        self._rejected = 0  # part of _failed that the exporter refused and reported itself
        self._delivered = 0
        self._spooled = 0
        self._last_problem = ""
        self._warned_full = False

    def _register_at_fork(self) -> None:
        before_ref = weakref.WeakMethod(self._before_fork)
        after_ref = weakref.WeakMethod(self._after_fork_in_child)

        def before_fork() -> None:
            method = before_ref()
            if method is not None:
                method()

        def after_fork() -> None:
            method = after_ref()
            if method is not None:
                method()

        if hasattr(os, "register_at_fork"):
            os.register_at_fork(before=before_fork, after_in_child=after_fork)

    def _before_fork(self) -> None:
        # The worker builds the exporter right after init, importing modules and opening the store. A
        # fork in the middle of that copies locks held by the worker into a child that can never
        # release them (a half-done import, "unknown encoding: idna"): let it finish first (bounded).
        worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            self._built.wait(_FORK_WAIT)

    def _after_fork_in_child(self) -> None:
        # The parent's queue and thread are not ours: the child starts empty with a thread of its own.
        self._reset_state()
        if self._factory is not None:
            # Nor its exporter: its keep-alive connection and locks belong to the parent.
            self._exporter = None

    # -- figures ---------------------------------------------------------------------------------------

    @property
    def dropped_spans(self) -> int:
        """Spans dropped because the queue was full (or ended after shutdown)."""
        return self._dropped

    @property
    def failed_spans(self) -> int:
        """Spans the exporter rejected or that were still undelivered when the processor shut down."""
        return self._failed

    @property
    def delivered_spans(self) -> int:
        return self._delivered

    @property
    def spooled_spans(self) -> int:
        """Spans left undelivered at shutdown that the exporter spooled for a later process."""
        return self._spooled

    @property
    def queued_spans(self) -> int:
        return len(self._queue) + len(self._pending or ())

    # -- SpanProcessor ---------------------------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        if self._pid != os.getpid():  # forked without os.register_at_fork running (e.g. from C)
            self._after_fork_in_child()
        if self._closed:
            self._dropped += 1
            return
        queue = self._queue
        if len(queue) >= self.max_queue_size and not _is_session_span(span):
            self._dropped += 1
            if not self._warned_full:
                self._warned_full = True
                logger.warning(
                    "agentops_otel: export queue full (max_queue_size=%d); dropping spans until it drains",
                    self.max_queue_size,
                )
            return
        queue.append(span)
        if self._worker is None:
            self._start_worker()
        if (len(queue) >= self.max_export_batch_size or _is_session_span(span)) and not self._wake.is_set():
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Deliver what is queued, waiting at most ``timeout_millis``. False if anything is left."""
        return self._flush(time.monotonic() + max(timeout_millis, 0) / 1000.0)

    def flush(self, timeout: float) -> bool:
        """``force_flush`` with the timeout in seconds."""
        return self._flush(time.monotonic() + max(timeout, 0.0))

    def shutdown(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Stop accepting spans, deliver what is queued within ``timeout`` seconds (default: the export
        timeout), and say in one log line what could not be delivered. Returns True if nothing was lost."""
        if self._stopping:
            return self.queued_spans == 0
        start = time.monotonic()
        deadline = start + (self.export_timeout if timeout is None else max(timeout, 0.0))
        self._closed = True
        # An exporter that can spool (exporters/agentops.py), or one still being built, gets the end of
        # the deadline for it.
        building = self._exporter is None and self._factory is not None
        can_spool = building or hasattr(self._exporter, "spool")
        reserve = min(_SPOOL_RESERVE, (deadline - start) / 4) if can_spool else 0.0
        delivered_all = self._flush(deadline - reserve, include_spooled=False)
        self._stopping = True
        self._wake.set()
        spool = getattr(self._exporter, "spool", None)
        leftovers = [*(self._pending or ()), *self._queue]
        left = len(leftovers)
        if left and spool is not None:
            size = self.max_export_batch_size
            try:
                self._spooled = int(spool([leftovers[i : i + size] for i in range(0, left, size)], deadline))
            except Exception:
                logger.debug("agentops_otel: spooling failed", exc_info=True)
        if left:
            self._failed += left - self._spooled
        exporter = self._exporter
        if exporter is not None:
            try:
                exporter.shutdown()
            except Exception:
                logger.debug("agentops_otel: exporter shutdown failed", exc_info=True)
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(max(0.0, min(0.1, deadline - time.monotonic())))
        # Spans our exporter rejected were reported when it refused them (e.g. one "invalid API key"
        # line); this line is about what the program is leaving behind.
        undelivered = self._failed - self._rejected
        if self._spooled:
            logger.warning(
                "agentops_otel: %d span(s) not delivered%s: %d spooled in %s for the next process with "
                "the same endpoint and key to send, %d lost; %d dropped because the export queue was full",
                undelivered + self._spooled,
                f" ({self._last_problem})" if self._last_problem else "",
                self._spooled,
                getattr(getattr(exporter, "_spool", None), "path", "the local store"),
                undelivered,
                self._dropped,
            )
        elif undelivered or self._dropped:
            logger.warning(
                "agentops_otel: %d span(s) not delivered%s; %d dropped because the export queue was full",
                undelivered,
                f" ({self._last_problem})" if self._last_problem else "",
                self._dropped,
            )
        return delivered_all and left == 0

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
            worker = threading.Thread(target=self._run, name="agentops-otel-export", daemon=True)
            self._worker = worker
        worker.start()

    def _flush(self, deadline: float, include_spooled: bool = True) -> bool:
        """Wait until the queue is delivered; with ``include_spooled``, also until the exporter is built
        and has sent what earlier processes spooled for it (``has_spooled``)."""
        if self._worker is None:
            if not self._queue and not self._pending:
                return True
            self._start_worker()
        if threading.current_thread() is self._worker:
            return False
        with self._idle:
            self._flush_deadline = deadline
            self._wake.set()
            try:
                while self._queue or self._pending or (include_spooled and self._spooled_waiting()):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._stopping:
                        return False
                    self._idle.wait(min(remaining, 0.05))
                return True
            finally:
                self._flush_deadline = None

    def _spooled_waiting(self) -> bool:
        if self._exporter is None:
            return self._factory is not None  # being built: it may find a spool to send
        return bool(getattr(self._exporter, "has_spooled", False))

    def _run(self) -> None:
        otel_context.attach(
            otel_context.set_value(_sdk_compat.SUPPRESS_INSTRUMENTATION_KEY, True)
        )  # our sends are never traced
        # Build the exporter now, not at the first export: its imports (protobuf) must not run at
        # interpreter exit, where they would also reset CPython's record of an unhandled
        # KeyboardInterrupt and so change the exit code from 130 to 1.
        self._exporter_now()
        self._built.set()
        while not self._stopping:
            delay = self._retry_delay() if self._pending else self.schedule_delay
            if self._flush_deadline is not None:
                delay = min(delay, 0.05)
            self._wake.wait(delay)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # a bug of ours must not kill the worker
                logger.debug("agentops_otel: export worker error", exc_info=True)
            with self._idle:
                self._idle.notify_all()

    def _retry_delay(self) -> float:
        return min(self.max_backoff, 0.25 * 2.0 ** min(self._attempts, 10))

    def _drain(self) -> None:
        """Export batches until the queue is empty or a batch must wait for a retry."""
        send_spooled = getattr(self._exporter, "send_spooled", None)
        if send_spooled is not None and not self._stopping:
            # A bounded round of what earlier processes spooled, then fresh spans.
            send_spooled(self._timeout())
        while not self._stopping:
            batch = self._pending
            if batch is None:
                batch = self._take_batch()
                if not batch:
                    self._pending = None
                    return
            result = self._deliver(batch)
            if result.outcome is Outcome.DELIVERED:
                self._delivered += len(batch)
                self._pending, self._attempts = None, 0
                continue
            if result.outcome is Outcome.REJECTED:
                self._failed += len(batch)
                self._rejected += len(batch)
                self._pending, self._attempts = None, 0
                continue
            self._last_problem = result.reason or self._last_problem
            self._attempts += 1
            if not self._is_retryable_forever() and self._attempts >= self.max_attempts:
                self._failed += len(batch)
                self._pending, self._attempts = None, 0
                continue
            if result.retry_after and self._flush_deadline is None:
                # Honour Retry-After: sleep it unless a flush or shutdown wakes us.
                self._wake.wait(min(result.retry_after, self.max_backoff))
                self._wake.clear()
            return

    def _take_batch(self) -> list[ReadableSpan]:
        queue = self._queue
        batch: list[ReadableSpan] = []
        # Published before the first pop, so a flush never sees the spans in neither place.
        self._pending = batch
        popleft = queue.popleft
        for _ in range(min(len(queue), self.max_export_batch_size)):
            batch.append(popleft())
        return batch

    def _exporter_now(self) -> SpanExporter | None:
        if self._exporter is None and self._factory is not None:
            try:
                self._exporter = self._factory()
            except Exception as exc:
                logger.error("agentops_otel: cannot create the exporter: %s", exc)
                self._factory = None
        return self._exporter

    def _is_retryable_forever(self) -> bool:
        return hasattr(self._exporter, "deliver")

    def _timeout(self) -> float:
        timeout = self.export_timeout
        if self._flush_deadline is not None:
            timeout = min(timeout, max(0.01, self._flush_deadline - time.monotonic()))
        return timeout

    def _deliver(self, batch: Sequence[ReadableSpan]) -> Delivery:
        exporter = self._exporter_now()
        if exporter is None:
            return Delivery(Outcome.REJECTED, reason="no exporter")
        try:
            deliver = getattr(exporter, "deliver", None)
            if deliver is not None:
                result: Delivery = deliver(batch, self._timeout())
                return result
            if exporter.export(batch) is SpanExportResult.SUCCESS:
                return Delivery(Outcome.DELIVERED)
            return Delivery(Outcome.RETRY, reason=f"{type(exporter).__name__}.export failed")
        except Exception as exc:
            logger.debug("agentops_otel: exporter raised", exc_info=True)
            return Delivery(Outcome.RETRY, reason=f"{type(exc).__name__}: {exc}")
