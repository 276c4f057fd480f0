"""The one retry loop of the export path: batches taken from the export queue, encoded once, sent,
and retried after a backoff; what each outcome does to the counts.

:class:`DeliveryLoop` runs on the export processor's worker thread only (``processors.py``), apart
from :meth:`DeliveryLoop.spool_leftovers` at shutdown. Rules:

- no request while backing off (0.25 s doubling per failed attempt, to ``max_backoff``), nor before
  a ``Retry-After`` passes; a flush may make one attempt past a backoff, never past ``Retry-After``;
- ``prepare`` (credentials) comes before a batch is taken and encoded, so a backend that cannot take
  spans costs no encoding;
- a suspect failure is handled by splitting (``batches.py``); a final one is counted as rejected.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan

from agentops_otel._internal.batches import Held, HeldBatches, Step
from agentops_otel._internal.exporters.base import BatchExporter, Delivery, Encoded, Outcome

logger = logging.getLogger("agentops_otel")

#: The first retry delay; it doubles per failed attempt up to ``max_backoff``.
FIRST_BACKOFF = 0.25


@dataclass
class Counts:
    """Where every span went. Written by one thread at a time (the worker, or shutdown after it)."""

    delivered: int = 0
    spooled: int = 0
    rejected: int = 0  # refused for good by the backend or the encoder
    dropped: int = 0  # the queue was full, or the span ended after shutdown
    lost: int = 0  # undelivered at shutdown and not spooled, or given up after max_attempts
    clamped: int = 0  # delivered with a timestamp clamped into range

    def undelivered(self) -> int:
        return self.rejected + self.dropped + self.lost


class DeliveryLoop:
    """The batches held, the backoff, and one :meth:`drain` round at a time."""

    def __init__(
        self, queue: deque[ReadableSpan], counts: Counts, batch_size: int, max_backoff: float
    ) -> None:
        self.queue = queue
        self.counts = counts
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.held = HeldBatches()
        self.taking = 0  # spans popped from the queue, not yet held (so a flush never misses them)
        self.failures = 0  # consecutive failed attempts, for the backoff
        self.hold_until = 0.0  # no request before this (time.monotonic()), when set
        self.hold_is_retry_after = False
        self.failed_seq = 0  # failed attempts so far: a flush returns False after one of its own
        self.flush_seq = 0
        self.flush_tried = 0  # the flush that made its one attempt past a backoff
        self.flush_deadline: float | None = None
        self.stopping = False
        self.last_problem = ""

    def pending(self) -> int:
        return len(self.queue) + self.held.spans() + self.taking

    def may_send(self) -> bool:
        """No request while backing off, except one per flush (never before ``Retry-After``)."""
        if self.stopping:
            return False
        if time.monotonic() >= self.hold_until:
            return True
        if self.flush_deadline is None or self.hold_is_retry_after or self.flush_tried == self.flush_seq:
            return False
        self.flush_tried = self.flush_seq
        return True

    def timeout(self, export_timeout: float) -> float:
        if self.flush_deadline is not None:
            return min(export_timeout, max(0.01, self.flush_deadline - time.monotonic()))
        return export_timeout

    # -- one round ---------------------------------------------------------------------------------------

    def drain(self, exporter: BatchExporter, export_timeout: float) -> None:
        """Send batches until the queue is empty, or until one must wait (backoff, ``Retry-After``)."""
        if not self.may_send():
            return
        # A bounded round of what earlier processes spooled, then fresh spans.
        if (
            exporter.has_backlog()
            and exporter.send_backlog(self.timeout(export_timeout)).outcome is Outcome.RETRY
        ):
            self.failed_seq += 1
        first = True  # may_send() above said yes to this first attempt (a flush's one, maybe)
        while first or self.may_send():
            # After the first batch, only full ones (or all, for a flush or shutdown): spans that
            # trickle in wait for the next round rather than each going in a small request.
            whole = first or self.flush_deadline is not None or len(self.queue) >= self.batch_size
            if self.held.known_bad_first():
                self.counts.rejected += self.held.split_first(exporter.encode)
            held = self.held.first() or (self._take(exporter, export_timeout) if whole else None)
            first = False
            if held is None:
                return
            result = exporter.send(held.encoded, self.timeout(export_timeout))
            if result.outcome is Outcome.DELIVERED:
                self.held.settle_first()
                self.counts.delivered += held.size
                self.counts.clamped += held.encoded.clamped
                self.held.delivered()
                self.failures, self.hold_until, self.hold_is_retry_after = 0, 0.0, False
                continue
            self.last_problem = result.reason or self.last_problem
            if self._judge(exporter, held, result) is Step.BACKOFF:
                self._back_off(result)
                return

    def _judge(self, exporter: BatchExporter, held: Held, result: Delivery) -> Step:
        """What a failed attempt means for ``held`` (the first batch held)."""
        if result.suspect:
            step, rejected = self.held.on_suspect(held, result, exporter.encode)
            self.counts.rejected += rejected
            if step is Step.REJECT:
                self._reject_first(held, result)
            return step
        if result.outcome is Outcome.REJECTED:
            self.held.settle_first()
            self.counts.rejected += held.size
            return Step.REJECT
        held.attempts += 1
        if exporter.max_attempts is not None and held.attempts >= exporter.max_attempts:
            self.held.settle_first()
            self.counts.lost += held.size
            return Step.REJECT
        return Step.BACKOFF

    def _reject_first(self, held: Held, result: Delivery) -> None:
        self.held.settle_first()
        self.counts.rejected += held.size
        name = f" ({held.encoded.spans[0].name!r})" if held.size == 1 else ""
        logger.warning(
            "agentops_otel: %d span(s)%s refused by the backend (%s); the rest of the batch was sent",
            held.size,
            name,
            result.reason,
        )

    def _back_off(self, result: Delivery) -> None:
        self.failures += 1
        self.failed_seq += 1
        if result.retry_after is not None:
            self.hold_is_retry_after = True
            wait = result.retry_after
        else:
            self.hold_is_retry_after = False
            wait = min(self.max_backoff, FIRST_BACKOFF * 2.0 ** min(self.failures - 1, 16))
        self.hold_until = time.monotonic() + wait

    def _take(self, exporter: BatchExporter, export_timeout: float) -> Held | None:
        """The next batch from the queue, encoded once; None when the queue is empty or the exporter is
        not ready (it then backs off, and nothing was encoded)."""
        if not self.queue:
            return None
        ready = exporter.prepare(self.timeout(export_timeout))
        if ready.outcome is Outcome.RETRY:
            self.last_problem = ready.reason or self.last_problem
            self._back_off(ready)
            return None
        queue = self.queue
        count = min(len(queue), self.batch_size)
        self.taking = count  # published before the first pop
        try:
            spans = [queue.popleft() for _ in range(count)]
            if ready.outcome is Outcome.REJECTED:  # nothing will ever take them (an invalid key)
                self.counts.rejected += len(spans)
                self.last_problem = ready.reason or self.last_problem
                return None
            encoded = exporter.encode(spans)
            self.counts.rejected += encoded.rejected
            if not encoded.size:
                return None
            held = Held(encoded)
            self.held.add(held)
            return held
        finally:
            self.taking = 0

    def drop_all(self, reason: str) -> None:
        """No exporter could be built: nothing queued will ever be delivered."""
        self.counts.rejected += len(self.queue) + self.held.spans()
        self.queue.clear()
        self.held.take_all()
        self.last_problem = reason

    # -- shutdown ----------------------------------------------------------------------------------------

    def spool_leftovers(self, exporter: BatchExporter | None, deadline: float) -> int:
        """Hand what is left to the exporter's spool (the queue's spans encoded within the deadline);
        count the rest as lost. Returns the spans that were left."""
        batches: list[Encoded] = [held.encoded for held in self.held.take_all()]
        spans = list(self.queue)
        self.queue.clear()
        left = sum(batch.size for batch in batches) + len(spans)
        spooled = 0
        if left and exporter is not None and exporter.spool_location is not None:
            try:
                for i in range(0, len(spans), self.batch_size):
                    if time.monotonic() >= deadline:
                        break
                    batch = exporter.encode(spans[i : i + self.batch_size])
                    self.counts.rejected += batch.rejected
                    left -= batch.rejected
                    batches.append(batch)
                spooled = int(exporter.spool(batches, deadline))
            except Exception:
                logger.debug("agentops_otel: spooling failed", exc_info=True)
        self.counts.spooled += spooled
        self.counts.lost += left - spooled
        return left

    def exit_line(self, spool_location: str | None) -> str:
        """What this process did not deliver, by cause ("" when everything was delivered)."""
        counts = self.counts
        lost, rejected, dropped, spooled = counts.lost, counts.rejected, counts.dropped, counts.spooled
        if not (lost or rejected or dropped or spooled):
            return ""
        # Why spans were left at exit; a refusal was said when it happened (one "invalid API key").
        problem = f" ({self.last_problem})" if self.last_problem and (lost or spooled) else ""
        where = ""
        if spooled:
            location = spool_location or "the local store"
            where = f"{spooled} spooled in {location} for the next process with the same endpoint and key, "
        return (
            f"agentops_otel: {lost + rejected + dropped + spooled} span(s) not delivered{problem}: {where}"
            f"{lost} lost, {rejected} rejected by the backend, {dropped} dropped because the export queue "
            f"was full; {counts.delivered} delivered"
        )
