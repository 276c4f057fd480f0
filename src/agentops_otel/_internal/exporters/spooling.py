"""A wrapper that keeps what its exporter could not deliver before exit, and sends what earlier
processes kept (the spool table of the store file, ``store/spool.py``).

:class:`SpoolingExporter` wraps the AgentOps exporter (in the manner of Logfire's exporter wrappers):
batches pass through to it unchanged; at shutdown the export processor hands it the batches left,
already encoded, and it writes their bodies to the spool; between batches the processor lets it send
a bounded round of bodies spooled by earlier processes for the same traces URL and key.

Housekeeping: rows older than ``spool_max_age`` are dropped when rows are claimed, and past
``spool_max_bytes`` the oldest rows go first when new ones are written; both are counted
(:attr:`SpoolingExporter.pruned_spans`) and said in the exit line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter
from agentops_otel._internal.exporters.base import DELIVERED, DeliveringExporter, Delivery, Encoded, Outcome
from agentops_otel.store.spool import Spool

logger = logging.getLogger("agentops_otel.exporter")

#: Spooled bodies sent per :meth:`SpoolingExporter.send_backlog` round, so fresh spans wait little.
ROWS_PER_ROUND = 8
_MAX_BACKOFF = 30.0


class SpoolingExporter(DeliveringExporter):
    """``inner`` plus the spool of its destination in the store file at ``path``."""

    def __init__(
        self,
        inner: AgentOpsSpanExporter,
        path: str,
        *,
        max_bytes: int | None = None,
        max_age: float | None = None,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._spool = Spool(path, inner.traces_url, inner.api_key) if inner.api_key else None
        self.spool_location = self._spool.path if self._spool is not None else None
        self._backlog = self._spool is not None and self._spool.waiting() > 0
        self._retry_at = 0.0
        self._backoff = 1.0
        #: Spans of spooled rows dropped by the size cap or the age limit (by this process).
        self.pruned_spans = 0
        #: Spans of spooled rows sent by this process, and of rows the backend refused for good.
        self.backlog_delivered = 0
        self.backlog_rejected = 0

    @property
    def project_id(self) -> str | None:
        return self.inner.project_id

    # -- pass-through ------------------------------------------------------------------------------------

    def prepare(self, timeout: float) -> Delivery:
        return self.inner.prepare(timeout)

    def encode(self, spans: Sequence[ReadableSpan]) -> Encoded:
        return self.inner.encode(spans)

    def send(self, encoded: Encoded, timeout: float) -> Delivery:
        result = self.inner.send(encoded, timeout)
        if result.outcome is Outcome.DELIVERED:
            self._retry_at = 0.0  # the backend is back: spooled bodies may go at once
        return result

    def shutdown(self) -> None:
        super().shutdown()
        self.inner.shutdown()

    # -- the spool ---------------------------------------------------------------------------------------

    def spool(self, batches: Sequence[Encoded], deadline: float) -> int:
        """Write the bodies of ``batches`` before ``deadline``; the spans written (0 for a key known
        to be invalid, or without a spool). Never raises."""
        spool = self._spool
        if spool is None or self.inner.refusal is not None:
            return 0
        busy = max(0.05, min(0.25, deadline - time.monotonic()))
        try:
            bodies = [(batch.size, self.inner.as_gzip(batch.payload)) for batch in batches if batch.size]
            stored = spool.put(bodies, busy, max_bytes=self.max_bytes, max_age=self.max_age)
        except Exception as exc:
            logger.debug("agentops_otel: cannot spool spans: %r", exc, exc_info=True)
            return 0
        self._count_pruned(spool)
        return stored

    def has_backlog(self) -> bool:
        return self._backlog and not self._stopped.is_set() and self.inner.refusal is None

    def send_backlog(self, timeout: float) -> Delivery:
        """At most :data:`ROWS_PER_ROUND` spooled bodies, oldest first, within ``timeout``.

        A body refused for good (a final 4xx) is deleted and counted; after a failure worth retrying
        the spool backs off while fresh batches go on as usual."""
        spool = self._spool
        if spool is None or not self.has_backlog():
            return DELIVERED
        if time.monotonic() < self._retry_at:
            return Delivery(Outcome.RETRY, reason="spool backing off")
        deadline = time.monotonic() + timeout
        for _ in range(ROWS_PER_ROUND):
            if self._stopped.is_set():
                break
            row = spool.claim(max_age=self.max_age)
            self._count_pruned(spool)
            if row is None:
                self._backlog = spool.waiting() > 0  # 0 unless others hold claims that expire
                return DELIVERED
            row_id, body, spans = row
            result = self.inner.send_body(body, max(0.0, deadline - time.monotonic()), gzipped=True)
            final = result.outcome is Outcome.REJECTED and self.inner.refusal is None
            if result.outcome is Outcome.DELIVERED or (final and not self._stopped.is_set()):
                spool.settle(row_id, remove=True)
                if result.outcome is Outcome.DELIVERED:
                    self.backlog_delivered += spans
                    self._backoff = 1.0
                    logger.info("agentops_otel: sent %d span(s) spooled by an earlier process", spans)
                else:
                    self.backlog_rejected += spans  # refused for good (logged once by the exporter)
                continue
            spool.settle(row_id, remove=False)
            self._retry_at = time.monotonic() + (result.retry_after or self._backoff)
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
            return result
        return DELIVERED

    def _count_pruned(self, spool: Spool) -> None:
        pruned, spool.pruned = spool.pruned, 0
        if pruned:
            self.pruned_spans += pruned
            logger.warning(
                "agentops_otel: dropped %d spooled span(s) from %s (older than %s s or past %s bytes)",
                pruned,
                spool.path,
                self.max_age,
                self.max_bytes,
            )
