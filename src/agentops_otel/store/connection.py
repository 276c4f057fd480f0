"""Opening the SQLite store file: created private, brought to the current schema, for the store and the spool.

- A new file is created mode 0600, and any directory made for it 0700 (directories that exist are
  left alone); SQLite gives its ``-wal``/``-shm`` files the file's mode. A file of an older release is
  narrowed to 0600 when it is upgraded (if this user owns it).
- Schema: ``PRAGMA user_version`` equal to :data:`~agentops_otel.store.schema.USER_VERSION` means
  current, checked with one pragma; an empty file gets :data:`~agentops_otel.store.schema.SQLITE_SCHEMA`
  in one immediate transaction; an older file is upgraded by the Alembic migrations
  (:mod:`agentops_otel.store.migrate`, the only case that imports SQLAlchemy). A file of a newer release
  is refused by the store (:class:`NewerSchema`) and used as it is by the spool, whose table a newer
  release keeps.

Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from agentops_otel.store.schema import REVISION, SQLITE_SCHEMA, USER_VERSION, NewerSchema

__all__ = ["NewerSchema", "connect", "ensure_schema", "is_url", "make_private_file", "open_file"]


def is_url(location: str) -> bool:
    return "://" in location


def make_private_file(path: str) -> None:
    """Create ``path`` (mode 0600) and its missing directories (0700), unless it exists."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the store's pragmas."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(1, int(busy_timeout * 1000))}")
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def ensure_schema(conn: sqlite3.Connection, path: str, busy_timeout: float, *, strict: bool = True) -> None:
    """Bring the file of ``conn`` to the current schema (see the module docstring)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version == USER_VERSION:
        return
    if version > USER_VERSION:
        if strict:
            raise NewerSchema(
                f"{path} was written by a newer agentops-otel (schema {version}); upgrade to read it"
            )
        return
    # Switching to WAL needs a moment alone with the file; the busy timeout waits for it.
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    if version == 0 and _create_if_empty(conn):
        return
    from agentops_otel.store.migrate import upgrade_sqlite

    upgrade_sqlite(path, busy_timeout)
    _narrow_mode(path)


def _create_if_empty(conn: sqlite3.Connection) -> bool:
    """Create the schema from the snapshot in an empty file; False when the file has tables (a file of
    0.1.0 holding only its spool table), which the migrations handle."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the lock: another process may have created it meanwhile.
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) != 0:
            conn.execute("COMMIT")
            return True
        if conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
            conn.execute("COMMIT")
            return False
        for statement in SQLITE_SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (REVISION,))
        conn.execute(f"PRAGMA user_version = {USER_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True


def _narrow_mode(path: str) -> None:
    with contextlib.suppress(OSError):
        if os.stat(path).st_uid == os.geteuid():
            for name in (path, path + "-wal", path + "-shm"):
                if os.path.exists(name):
                    os.chmod(name, 0o600)


def open_file(
    path: str, busy_timeout: float, *, create: bool, strict: bool = True
) -> sqlite3.Connection | None:
    """A connection to the store file at ``path`` with the current schema; None when ``create`` is
    false and there is no file."""
    if not os.path.exists(path):
        if not create:
            return None
        make_private_file(path)
    conn = connect(path, busy_timeout)
    try:
        ensure_schema(conn, path, busy_timeout, strict=strict)
    except BaseException:
        conn.close()
        raise
    return conn
