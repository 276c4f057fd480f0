"""The store interface and what both stores (SQLite, PostgreSQL) share: ingest, reads, the overview and
retention, each in a module of its own and mixed in here.

- Ingest (``store/ingest.py``) is one transaction per batch, acknowledged only after it commits. A span
  is stored once per session, trace and span id: a batch sent twice is stored once. Each batch updates
  the figures of the sessions it touches (``store/figures.py``). Spans are kept in compressed blocks
  (``store/blocks.py``).
- Heartbeats update their session but are not stored as spans; the start marker is stored but never
  listed.
- Reads (``store/reads.py``, ``store/listing.py``) build session objects as JSON in the database
  (``store/queries.py``) and span objects from the blocks (``store/spanjson.py``); the overview
  (``store/overview.py``) aggregates the session tables.
- Retention deletes whole sessions (their spans with them) in small transactions, so ingest waits at
  most one short batch.

A subclass provides the connections (:meth:`_read`, :meth:`_write`) and the few steps that differ by
engine (:meth:`_lock_sessions`, :attr:`dialect`). Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from agentops_otel.store.auth import AuthMixin
from agentops_otel.store.ingest import IngestMixin
from agentops_otel.store.listing import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, BadQuery, ListQuery
from agentops_otel.store.overview import OverviewMixin
from agentops_otel.store.queries import Dialect, Tx, session_json_sql, trace_json_sql
from agentops_otel.store.reads import ReadsMixin
from agentops_otel.store.retention import RetentionMixin
from agentops_otel.store.writes import dumps

__all__ = ["DEFAULT_LIST_LIMIT", "MAX_LIST_LIMIT", "BadQuery", "BaseStore", "ListQuery", "dumps", "loads"]

_T = TypeVar("_T")
loads = json.loads


class BaseStore(AuthMixin, RetentionMixin, IngestMixin, ReadsMixin, OverviewMixin):
    """The store interface: projects and tokens (:class:`AuthMixin`), ingest (:class:`IngestMixin`),
    reads (:class:`ReadsMixin`, :class:`OverviewMixin`), retention (:class:`RetentionMixin`)."""

    dialect: Dialect
    #: Where the store is, for messages: a file path or a URL without its password.
    location: str

    def _init_base(self, token_ttl: float) -> None:
        self._init_auth(token_ttl)
        self._interned: dict[tuple[str, str], int] = {}
        self._objects: dict[tuple[str, int], Any] = {}
        self._session_sql = session_json_sql(self.dialect)
        self._trace_sql = trace_json_sql(self.dialect)

    # -- provided by each store ------------------------------------------------------------------------

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, work: Callable[[Tx], _T]) -> _T:
        raise NotImplementedError

    def _lock_sessions(self, tx: Tx, project_id: str, session_ids: Sequence[str]) -> None:
        """Keep other writers off these sessions until commit (a no-op where writes are serial)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
