"""What an exporter tells the export processor about one attempt to deliver a batch.

``SpanExporter.export`` only says SUCCESS or FAILURE, which cannot tell "try again later" (backend
down, no token yet) from "never" (bad key, malformed batch). Our exporters implement
:meth:`DeliveringExporter.deliver`, which the export processor calls with the time it may take; for
any other ``SpanExporter`` the processor maps FAILURE to a bounded number of retries.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    #: Not delivered, may succeed later (backend down or overloaded, token not there yet).
    RETRY = "retry"
    #: Will never be accepted (bad key, rejected batch): drop it and count it.
    REJECTED = "rejected"


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    #: Seconds to wait before the next attempt (from ``Retry-After``), when known.
    retry_after: float | None = None
    #: Why it was not delivered, for the one log line at shutdown.
    reason: str = ""


DELIVERED = Delivery(Outcome.DELIVERED)


class DeliveringExporter(SpanExporter):
    """A ``SpanExporter`` that can also say whether a failed batch is worth retrying."""

    def deliver(self, spans: Sequence[ReadableSpan], timeout: float) -> Delivery:
        """One attempt to deliver ``spans`` within ``timeout`` seconds. Never raises."""
        raise NotImplementedError

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """For use under a stock ``BatchSpanProcessor``: one attempt with a default deadline."""
        result = self.deliver(spans, timeout=10.0)
        return SpanExportResult.SUCCESS if result.outcome is Outcome.DELIVERED else SpanExportResult.FAILURE
