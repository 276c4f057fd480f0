"""The PostgreSQL store: the same interface and behaviour as the SQLite one, for several servers.

- Chosen by URL (``postgresql://user:password@host:5432/db``); needs the ``[postgres]`` extra
  (psycopg 3). SQLAlchemy provides the connection pool (checked before use, so a restarted database
  costs one failed request, not a dead pool) and Alembic the schema, upgraded at open under an
  advisory lock.
- Every piece of state is in the database (projects, keys, tokens, figures): any number of ``serve``
  processes can share one database and any of them can take any request.
- Ingest is one transaction per batch. Writers of the same session are serialised by transaction-
  scoped advisory locks taken in a fixed order (no deadlock between two batches); batches of other
  sessions run in parallel.
- Reads run on autocommit connections (one round trip each).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from agentops_otel.store.auth import DEFAULT_TOKEN_TTL
from agentops_otel.store.base import BaseStore
from agentops_otel.store.queries import POSTGRESQL

POSTGRES_EXTRA_HINT = (
    'a PostgreSQL store needs the postgres extra: pip install "agentops-opentelemetry[postgres]"'
)
_T = TypeVar("_T")
_LOCK_SESSIONS = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM"
    " (SELECT k FROM unnest(CAST(%s AS bigint[])) AS u(k) ORDER BY k) AS ordered"
)
_placeholders: dict[str, str] = {}


def _pg(sql: str) -> str:
    """The shared SQL (``?`` placeholders) in psycopg's form (``%s``)."""
    converted = _placeholders.get(sql)
    if converted is None:
        if len(_placeholders) > 512:
            _placeholders.clear()
        converted = _placeholders[sql] = sql.replace("?", "%s")
    return converted


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` as SQLAlchemy's URL with the psycopg 3 driver."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg{sep}{rest}"
    return url


def session_lock_key(project_id: str, session_id: str) -> int:
    """The advisory lock of one session: a signed 64-bit hash of its key."""
    raw = hashlib.blake2b(f"{project_id}\0{session_id}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big", signed=True)


class _Tx:
    __slots__ = ("cur",)

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cur.execute(_pg(sql), params)
        return self.cur.fetchall() if self.cur.description else []

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cur.executemany(_pg(sql), rows)


class PostgresStore(BaseStore):
    """A PostgreSQL database. Thread-safe: each call takes a pooled connection."""

    dialect = POSTGRESQL

    def __init__(
        self,
        url: str,
        *,
        token_ttl: float = DEFAULT_TOKEN_TTL,
        pool_size: int = 10,
        connect_timeout: float = 10.0,
        migrate: bool = True,
    ) -> None:
        try:
            import psycopg  # noqa: F401  (only to fail early with the hint)
            import sqlalchemy as sa
        except ImportError as exc:
            raise ImportError(f"{POSTGRES_EXTRA_HINT} ({exc})") from None
        self.url = url
        sa_url = sa.engine.make_url(sqlalchemy_url(url))
        self.location = sa_url.render_as_string(hide_password=True)
        connect_args = {"connect_timeout": max(1, int(connect_timeout))}
        if migrate:
            from agentops_otel.store.migrate import upgrade_postgres

            migrator = sa.create_engine(sa_url, poolclass=sa.pool.NullPool, connect_args=connect_args)
            try:
                upgrade_postgres(migrator, self.location)
            finally:
                migrator.dispose()
        self.engine = sa.create_engine(
            sa_url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_timeout=connect_timeout,
            connect_args=connect_args,
        )

        @sa.event.listens_for(self.engine, "connect")
        def _autocommit(dbapi_connection: Any, _record: Any) -> None:
            # Reads take one round trip; writes open their transaction explicitly (_write).
            dbapi_connection.autocommit = True

        self._init_base(token_ttl)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> PostgresStore:
        return self

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        raw = self.engine.raw_connection()
        try:
            with _driver(raw).cursor() as cur:
                cur.execute(_pg(sql), params)
                rows: list[tuple[Any, ...]] = cur.fetchall()
                return rows
        except BaseException as exc:
            _invalidate_if_broken(raw, exc)
            raise
        finally:
            raw.close()

    def _write(self, work: Callable[[Any], _T]) -> _T:
        raw = self.engine.raw_connection()
        try:
            conn = _driver(raw)
            with conn.transaction(), conn.cursor() as cur:
                return work(_Tx(cur))
        except BaseException as exc:
            _invalidate_if_broken(raw, exc)
            raise
        finally:
            raw.close()

    def _lock_sessions(self, tx: Any, project_id: str, session_ids: Sequence[str]) -> None:
        keys = sorted({session_lock_key(project_id, s) for s in session_ids})
        tx.cur.execute(_LOCK_SESSIONS, (keys,))


def _driver(raw: Any) -> Any:
    """The psycopg connection under a pooled SQLAlchemy connection."""
    return raw.driver_connection


def _invalidate_if_broken(raw: Any, exc: BaseException) -> None:
    """Drop a pooled connection that the server closed, so the pool opens a new one."""
    closed = getattr(raw.driver_connection, "closed", False)
    if closed or type(exc).__name__ in ("OperationalError", "InterfaceError"):
        raw.invalidate()
