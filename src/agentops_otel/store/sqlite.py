"""The SQLite store shared by the embedded exporter, ``agentops-otel serve`` and the CLI.

- WAL journal and a busy timeout, so several processes (applications writing spans, a server, the CLI)
  can use one file at once; every write is one ``BEGIN IMMEDIATE`` transaction, so the
  read-modify-write of a session's figures is atomic across processes.
- One writer connection behind a lock, one reader connection per thread (WAL readers never wait for
  the writer).
- Standard library only: opening a new or current file imports neither SQLAlchemy nor Alembic
  (``store/connection.py``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from agentops_otel.store.auth import DEFAULT_TOKEN_TTL, LOCAL_PROJECT
from agentops_otel.store.base import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, BaseStore
from agentops_otel.store.connection import connect, open_file
from agentops_otel.store.queries import SQLITE, iso_time
from agentops_otel.store.schema import USER_VERSION

__all__ = ["DEFAULT_LIST_LIMIT", "LOCAL_PROJECT", "MAX_LIST_LIMIT", "Store", "is_locked_error", "iso_time"]

#: Kept for callers of 0.1.0: the schema version of a SQLite file (``PRAGMA user_version``).
SCHEMA_VERSION = USER_VERSION
_T = TypeVar("_T")


def is_locked_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class _Tx:
    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


class Store(BaseStore):
    """One SQLite file. Thread-safe: one writer connection behind a lock, one reader per thread."""

    dialect = SQLITE

    def __init__(
        self, path: str, *, busy_timeout: float = 10.0, token_ttl: float = DEFAULT_TOKEN_TTL
    ) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.location = self.path
        self._busy = busy_timeout
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._init_base(token_ttl)
        writer = open_file(self.path, busy_timeout, create=True)
        assert writer is not None
        self._writer = writer

    # -- connections -----------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise sqlite3.ProgrammingError("store is closed")
            conn = connect(self.path, self._busy)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        self._closed = True
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        with self._write_lock:
            self._writer.close()

    def __enter__(self) -> Store:
        return self

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return self._reader().execute(sql, params).fetchall()

    def _write(self, work: Callable[[Any], _T]) -> _T:
        """Run ``work(tx)`` in one immediate transaction on the writer connection."""
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(_Tx(conn))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result


#: The SQLite implementation under its own name (``Store`` is what 0.1.0 called it).
SQLiteStore = Store
