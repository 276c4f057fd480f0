"""The embedded local store: spans written straight into the SQLite file the CLI and ``serve`` read.

The store is opened lazily, on the export worker thread, so ``init`` does no file work on the
caller's thread. Several processes may write one file at once (WAL); when another writer holds the
file longer than the busy timeout, ``send`` answers RETRY and the batch waits in the queue; a value the
store cannot hold (``OverflowError``) marks the batch suspect, so the processor finds that span and
rejects it alone.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import ReadableSpan

from agentops_otel._config import Configuration
from agentops_otel._internal.exporters.base import DELIVERED, DeliveringExporter, Delivery, Encoded, Outcome

if TYPE_CHECKING:
    from agentops_otel.store.base import BaseStore

logger = logging.getLogger("agentops_otel.exporter")


class LocalStoreSpanExporter(DeliveringExporter):
    """Writes spans to the SQLite store at ``path`` (default: ``Configuration().store_path``), project
    ``"local"``."""

    def __init__(self, path: str | None = None, *, busy_timeout: float = 2.0) -> None:
        super().__init__()
        self.path = path or Configuration.from_env().store_path
        self._busy_timeout = busy_timeout
        self._store: BaseStore | None = None
        self._project_id: str | None = None
        self._lock = threading.Lock()
        self._logged: set[str] = set()

    @classmethod
    def from_config(cls, config: Configuration) -> LocalStoreSpanExporter:
        return cls(config.store_path)

    def encode(self, spans: Sequence[ReadableSpan]) -> Encoded:
        # Imported here: the store's modules load only in processes that write to it.
        from agentops_otel.store.records import from_readable_spans

        return Encoded(spans, from_readable_spans(spans))

    def send(self, encoded: Encoded, timeout: float) -> Delivery:
        from agentops_otel.store import is_busy_error, open_store

        with self._lock:
            if self._stopped.is_set():
                return Delivery(Outcome.REJECTED, reason="exporter shut down")
            try:
                store = self._store
                if store is None:
                    # A file path (stdlib sqlite3), or a postgresql:// URL (the [postgres] extra).
                    store = self._store = open_store(self.path, busy_timeout=min(self._busy_timeout, timeout))
                if self._project_id is None:
                    self._project_id = store.ensure_project()
                store.ingest(self._project_id, encoded.payload)
                return DELIVERED
            except Exception as exc:
                if is_busy_error(exc):
                    return Delivery(Outcome.RETRY, retry_after=0.1, reason=f"{self.path} is busy")
                self._log_once(type(exc).__name__, f"agentops_otel: cannot write spans to {self.path}: {exc}")
                reason = f"cannot write to {self.path}: {exc}"
                if isinstance(exc, (OverflowError, ValueError, TypeError)):  # a value the store cannot hold
                    return Delivery(Outcome.REJECTED, reason=reason, suspect=True)
                if isinstance(exc, sqlite3.OperationalError):  # disk full, read-only: may pass later
                    return Delivery(Outcome.RETRY, reason=reason)
                return Delivery(Outcome.REJECTED, reason=reason)

    def _log_once(self, key: str, message: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            logger.error("%s", message)

    def shutdown(self) -> None:
        super().shutdown()
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()
