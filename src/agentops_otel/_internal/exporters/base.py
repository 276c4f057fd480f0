"""The typed seams of the export path: what one delivery attempt says, and what the export processor
drives.

``SpanExporter.export`` only says SUCCESS or FAILURE, which cannot tell "try again later" (backend
down, no token yet) from "never" (bad key) or "something in this batch" (one span the backend cannot
take). The export processor (``processors.ExportProcessor``) drives a :class:`BatchExporter` instead:

1. ``prepare(timeout)``: get ready to send (the AgentOps exporter fetches its token here), so a batch
   is never encoded while the backend cannot take it;
2. ``encode(spans)``: once per batch, into an :class:`Encoded` (the request body);
3. ``send(encoded, timeout)``: one attempt, answered with a :class:`Delivery`; the processor owns the
   one retry loop (backoff, ``Retry-After``, splitting a batch whose content is suspect);
4. at shutdown, ``spool(leftovers, deadline)`` keeps what is left for a later process, and
   ``send_backlog`` sends what earlier processes kept.

Any other ``SpanExporter`` is adapted by :class:`PlainExporter`.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    #: Not delivered, may succeed later (backend down or overloaded, token not there yet).
    RETRY = "retry"
    #: Will never be accepted (bad key, a batch the backend refused for good): counted as rejected.
    REJECTED = "rejected"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    #: Seconds before the next request to this endpoint (``Retry-After``), when known.
    retry_after: float | None = None
    #: Why it was not delivered, for the one log line at shutdown.
    reason: str = ""
    #: The failure may be caused by the batch's content (a 5xx or 400/413/422 answer): the processor
    #: splits the batch to find the span that costs it (see ``_internal/batches.py``).
    suspect: bool = False


DELIVERED = Delivery(Outcome.DELIVERED)


@dataclass
class Encoded:
    """One batch, encoded once: what is sent, retried and spooled."""

    #: The spans in the payload (kept for counting and for splitting a suspect batch).
    spans: Sequence[ReadableSpan]
    #: What ``send`` takes: an OTLP request body, store records, the spans themselves.
    payload: Any
    #: Spans given to ``encode`` that it could not take at all: left out of ``spans``, to be counted.
    rejected: int = 0
    #: Spans of ``spans`` sent with a value changed to fit the protocol (a timestamp out of range).
    clamped: int = 0

    @property
    def size(self) -> int:
        return len(self.spans)


class BatchExporter(Protocol):
    """What :class:`~agentops_otel._internal.processors.ExportProcessor` drives. Methods never raise."""

    #: Attempts a batch answered RETRY gets before it is dropped; None retries until shutdown.
    max_attempts: int | None
    #: Where ``spool`` keeps spans (for the exit line); None when this exporter cannot spool.
    spool_location: str | None

    def prepare(self, timeout: float) -> Delivery:
        """Be ready to send (credentials), within ``timeout``: DELIVERED when ready."""
        ...

    def encode(self, spans: Sequence[ReadableSpan]) -> Encoded: ...

    def send(self, encoded: Encoded, timeout: float) -> Delivery: ...

    def spool(self, batches: Sequence[Encoded], deadline: float) -> int:
        """Keep undelivered batches for a later process before ``deadline``; spans kept."""
        ...

    def has_backlog(self) -> bool:
        """Whether batches spooled by earlier processes may wait to be sent."""
        ...

    def send_backlog(self, timeout: float) -> Delivery:
        """Send a bounded round of the backlog within ``timeout``."""
        ...

    def shutdown(self) -> None: ...


class NoSpool:
    """Defaults of :class:`BatchExporter` for exporters that keep nothing for later."""

    spool_location: str | None = None

    def spool(self, batches: Sequence[Encoded], deadline: float) -> int:
        return 0

    def has_backlog(self) -> bool:
        return False

    def send_backlog(self, timeout: float) -> Delivery:
        return DELIVERED


class DeliveringExporter(NoSpool, SpanExporter):
    """A ``SpanExporter`` that is also a :class:`BatchExporter` (retried until shutdown).

    Subclasses implement :meth:`encode` and :meth:`send`; :meth:`deliver` is one whole attempt, and
    :meth:`export` serves a stock ``BatchSpanProcessor`` with a bounded retry of its own (that
    processor has none)."""

    max_attempts: int | None = None
    #: The longest :meth:`export` spends on one batch under a stock processor, retries included.
    export_deadline: float = 10.0

    def __init__(self) -> None:
        self._stopped = threading.Event()

    def prepare(self, timeout: float) -> Delivery:
        return DELIVERED

    def encode(self, spans: Sequence[ReadableSpan]) -> Encoded:
        return Encoded(spans, spans)

    def send(self, encoded: Encoded, timeout: float) -> Delivery:
        """One request with an encoded batch. Subclasses implement this or :meth:`deliver`."""
        return self.deliver(encoded.spans, timeout)

    def deliver(self, spans: Sequence[ReadableSpan], timeout: float) -> Delivery:
        """One whole attempt to deliver ``spans`` within ``timeout`` seconds. Never raises."""
        deadline = time.monotonic() + timeout
        ready = self.prepare(timeout)
        if ready.outcome is not Outcome.DELIVERED:
            return ready
        encoded = self.encode(spans)
        if not encoded.size:
            return DELIVERED if not encoded.rejected else Delivery(Outcome.REJECTED, reason="cannot encode")
        return self.send(encoded, max(0.0, deadline - time.monotonic()))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return export_with_retries(self, spans, self.export_deadline, self._stopped)

    def shutdown(self) -> None:
        self._stopped.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def export_with_retries(
    exporter: BatchExporter, spans: Sequence[ReadableSpan], within: float, stopped: threading.Event
) -> SpanExportResult:
    """``SpanExporter.export`` for a stock ``BatchSpanProcessor``: encode once, then retry the same
    body with backoff (and ``Retry-After``) for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    encoded: Encoded | None = None
    backoff = 0.5
    while not stopped.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        result = exporter.prepare(remaining)
        if result.outcome is Outcome.DELIVERED:
            if encoded is None:
                encoded = exporter.encode(spans)
            if not encoded.size:
                return SpanExportResult.SUCCESS if not encoded.rejected else SpanExportResult.FAILURE
            result = exporter.send(encoded, max(0.0, deadline - time.monotonic()))
        if result.outcome is Outcome.DELIVERED:
            return SpanExportResult.SUCCESS
        if result.outcome is Outcome.REJECTED:
            return SpanExportResult.FAILURE
        wait = result.retry_after if result.retry_after is not None else backoff
        backoff = min(backoff * 2, 4.0)
        if time.monotonic() + wait >= deadline:
            break
        stopped.wait(wait)
    return SpanExportResult.FAILURE


@dataclass
class PlainExporter(NoSpool):
    """Any ``SpanExporter`` as a :class:`BatchExporter`: FAILURE is retried ``max_attempts`` times."""

    exporter: SpanExporter
    max_attempts: int | None = 5
    _name: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._name = type(self.exporter).__name__

    def prepare(self, timeout: float) -> Delivery:
        return DELIVERED

    def encode(self, spans: Sequence[ReadableSpan]) -> Encoded:
        return Encoded(spans, spans)

    def send(self, encoded: Encoded, timeout: float) -> Delivery:
        try:
            if self.exporter.export(encoded.payload) is SpanExportResult.SUCCESS:
                return DELIVERED
            return Delivery(Outcome.RETRY, reason=f"{self._name}.export failed")
        except Exception as exc:
            return Delivery(Outcome.RETRY, reason=f"{self._name}.export raised {type(exc).__name__}: {exc}")

    def shutdown(self) -> None:
        self.exporter.shutdown()
