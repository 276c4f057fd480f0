"""The store: the one owner of the database that the SDK's local exporter, the spool, the server and the
CLI share, and of its whole schema.

- :func:`open_store`: a store by location, a SQLite file path (the default) or a ``postgresql://`` URL;
  both implement one interface, :class:`~agentops_otel.store.base.BaseStore`;
- :mod:`.records`: :class:`SpanRecord`, the normalised span, and the converters to it (OTLP protobuf,
  OTLP/JSON, SDK spans); :mod:`.figures`: session figures, folded one span at a time;
- :mod:`.base` (ingest, reads, retention), :mod:`.auth` (projects, hashed keys and tokens),
  :mod:`.queries` (the SQL that differs by engine);
- :mod:`.sqlite` and :mod:`.postgres`: the two stores; :mod:`.connection`: opening the SQLite file
  (private modes, schema); :mod:`.spool`: OTLP bodies the SDK could not deliver, in the SQLite file;
- :mod:`.schema` (version, SQLite snapshot), :mod:`.migrations` and :mod:`.migrate` (Alembic: the one
  source of the schema for both engines).

The SQLite side is standard library only (and OpenTelemetry's protobuf classes to decode OTLP, imported
when used): the SDK writes here without importing the server, SQLAlchemy or Alembic.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from agentops_otel.store.auth import DEFAULT_TOKEN_TTL

if TYPE_CHECKING:
    from agentops_otel.store.base import BaseStore

__all__ = ["DEFAULT_TOKEN_TTL", "is_busy_error", "open_store", "sqlite_path"]

_PG_SCHEMES = ("postgresql", "postgres")
#: SQLSTATEs after which a retry can succeed: deadlock, serialization, lock not available, too many
#: connections, server shutting down or starting.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03", "53300", "57P01", "57P02", "57P03"})


def _scheme(location: str) -> str | None:
    if "://" not in location:
        return None
    return location.split("://", 1)[0].split("+", 1)[0].lower()


def sqlite_path(location: str) -> str | None:
    """The file of a SQLite location (a path or a ``sqlite:///`` URL), else None."""
    scheme = _scheme(location)
    if scheme is None:
        return location
    if scheme == "sqlite":
        return location.split("://", 1)[1][1:] or None  # sqlite:///rel/path, sqlite:////abs/path
    return None


def open_store(
    location: str, *, busy_timeout: float = 10.0, token_ttl: float = DEFAULT_TOKEN_TTL
) -> BaseStore:
    """The store at ``location``: a SQLite file path (or ``sqlite:///path``) or a ``postgresql://``
    URL. Raises ValueError for another URL, ImportError when PostgreSQL's extra is missing."""
    path = sqlite_path(location)
    if path is not None:
        from agentops_otel.store.sqlite import Store

        return Store(os.path.expanduser(path), busy_timeout=busy_timeout, token_ttl=token_ttl)
    if _scheme(location) in _PG_SCHEMES:
        from agentops_otel.store.postgres import PostgresStore

        return PostgresStore(location, token_ttl=token_ttl, connect_timeout=busy_timeout)
    raise ValueError(f"unsupported store location {location!r}: use a file path or a postgresql:// URL")


def is_busy_error(exc: BaseException) -> bool:
    """True when ``exc`` says the store is busy or briefly unavailable (answer 503 + Retry-After):
    SQLite's "database is locked", a PostgreSQL deadlock, lock or connection error, a full pool."""
    seen: BaseException | None = exc
    for _ in range(3):  # the exception itself, or the driver error SQLAlchemy wraps
        if seen is None:
            return False
        name = type(seen).__name__
        module = type(seen).__module__
        if module == "sqlite3":
            text = str(seen)
            return name == "OperationalError" and ("locked" in text or "busy" in text)
        if getattr(seen, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        if module.startswith("psycopg") and name in ("OperationalError", "ConnectionTimeout"):
            return True
        if module.startswith("sqlalchemy") and name == "TimeoutError":  # the pool is exhausted
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
