"""Undelivered OTLP bodies kept in the local store file until a later process can send them.

When a process exits while its backend is unreachable, the AgentOps exporter writes what it could not
deliver (already encoded and gzip'd) into the ``spool`` table of the store file (``AGENTOPS_DB``; the
SDK writes no other file). A later process whose exporter has the same traces URL and API key sends
those bodies, oldest first. Rows are claimed (``claimed_by``/``claimed_ns``) in an immediate
transaction, so processes starting together send each row once; a claim that is not settled within
:data:`CLAIM_EXPIRY_NS` (its process died mid-send) may be taken again, and the backend stores a span
sent twice once.

Only the SHA-256 of the key is stored, never the key. Everything here may run at interpreter exit:
stdlib ``sqlite3`` only (imported with the exporter, at start), short busy timeouts, and no method
raises. The table belongs to the store's schema (``store/schema.py``), and the file is opened through
``store/connection.py``: created 0600, and upgraded (the one case that imports Alembic) when it was
written by an older release, which happens when the exporter first looks for spooled rows at start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Sequence

from agentops_otel._config import default_db_path
from agentops_otel.store import sqlite_path
from agentops_otel.store.connection import connect, make_private_file, open_file

logger = logging.getLogger("agentops_otel.exporter")

#: After this long a claimed row is considered abandoned and may be claimed again.
CLAIM_EXPIRY_NS = 120 * 1_000_000_000

_CLAIM = (
    "UPDATE spool SET claimed_by = ?, claimed_ns = ? WHERE id = ("
    " SELECT id FROM spool WHERE traces_url = ? AND key_fingerprint = ?"
    " AND (claimed_ns IS NULL OR claimed_ns < ?) ORDER BY id LIMIT 1)"
    " RETURNING id, body, spans"
)


def key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class Spool:
    """The spool rows of one destination (traces URL and key) in one store file."""

    def __init__(self, path: str, traces_url: str, api_key: str) -> None:
        # The spool is always a SQLite file: beside a PostgreSQL store (AGENTOPS_DB=postgresql://...)
        # it is the default store file.
        self.path = os.path.abspath(os.path.expanduser(sqlite_path(path) or default_db_path()))
        self.traces_url = traces_url
        self.fingerprint = key_fingerprint(api_key)
        self.owner = f"{os.getpid()}-{os.urandom(6).hex()}"
        self._has_table = False
        self.pruned = 0  # spans of rows dropped by the size cap or the age limit, for the caller to report

    def _connect(self, busy: float, create: bool) -> sqlite3.Connection | None:
        """The store file's connection (its schema, and so the spool table, owned by the store: created
        private and current on first use); None when there is no file and ``create`` is false."""
        if self._has_table:
            if not create and not os.path.exists(self.path):
                return None
            if create:
                make_private_file(self.path)
            return connect(self.path, busy)
        conn = open_file(self.path, busy, create=create, strict=False)
        if conn is None:
            return None
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'spool'").fetchone():
                conn.close()  # a file of a newer release without a spool table: nothing to send
                return None
        except BaseException:
            conn.close()
            raise
        self._has_table = True
        return conn

    def put(
        self,
        bodies: Sequence[tuple[int, bytes]],
        busy: float,
        *,
        max_bytes: int | None = None,
        max_age: float | None = None,
    ) -> int:
        """Store ``(span count, gzip'd OTLP body)`` pairs in one transaction; spans stored (0 on error).

        Housekeeping in the same transaction: rows (of any destination) older than ``max_age`` seconds
        go, then the oldest rows until the table's bodies fit in ``max_bytes``; the new rows are kept
        before older ones, unless they alone are over the cap. Spans of dropped rows add to ``pruned``.
        """
        if not bodies:
            return 0
        pruned = self.pruned
        try:
            conn = self._connect(busy, create=True)
            assert conn is not None
            try:
                now = time.time_ns()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO spool (traces_url, key_fingerprint, created_ns, spans, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(self.traces_url, self.fingerprint, now, count, body) for count, body in bodies],
                )
                if max_age is not None and max_age > 0:
                    cutoff = now - int(max_age * 1e9)
                    old = conn.execute("DELETE FROM spool WHERE created_ns < ? RETURNING spans", (cutoff,))
                    self.pruned += sum(int(r[0]) for r in old.fetchall())
                kept = sum(count for count, _ in bodies)
                if max_bytes is not None and max_bytes > 0:
                    rows = conn.execute(
                        "SELECT id, length(body), spans FROM spool ORDER BY id DESC"
                    ).fetchall()
                    total, doomed = 0, []
                    for index, (row_id, size, count) in enumerate(rows):  # newest (ours) first
                        total += int(size)
                        if total > max_bytes:
                            doomed.append((row_id, int(count), index < len(bodies)))
                    conn.executemany("DELETE FROM spool WHERE id = ?", [(d[0],) for d in doomed])
                    kept -= sum(count for _, count, ours in doomed if ours)
                    self.pruned += sum(count for _, count, ours in doomed if not ours)
                conn.execute("COMMIT")
            finally:
                conn.close()
        except Exception as exc:
            self.pruned = pruned  # rolled back
            logger.warning("agentops_otel: cannot spool undelivered spans in %s: %s", self.path, exc)
            return 0
        return kept

    def waiting(self, busy: float = 0.5) -> int:
        """Rows of this destination that nobody is sending (0 when there is no spool)."""
        try:
            conn = self._connect(busy, create=False)
            if conn is None:
                return 0
            try:
                row = conn.execute(
                    "SELECT count(*) FROM spool WHERE traces_url = ? AND key_fingerprint = ?"
                    " AND (claimed_ns IS NULL OR claimed_ns < ?)",
                    (self.traces_url, self.fingerprint, time.time_ns() - CLAIM_EXPIRY_NS),
                ).fetchone()
            finally:
                conn.close()
        except Exception:
            logger.debug("agentops_otel: cannot read the spool in %s", self.path, exc_info=True)
            return 0
        return int(row[0])

    def claim(self, busy: float = 0.5, *, max_age: float | None = None) -> tuple[int, bytes, int] | None:
        """The oldest unclaimed row of this destination as ``(id, body, spans)``, now claimed by us.

        Rows of this destination older than ``max_age`` seconds are dropped first (``pruned``)."""
        try:
            conn = self._connect(busy, create=False)
            if conn is None:
                return None
            try:
                now = time.time_ns()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if max_age is not None and max_age > 0:
                        old = conn.execute(
                            "DELETE FROM spool WHERE traces_url = ? AND key_fingerprint = ?"
                            " AND created_ns < ? AND (claimed_ns IS NULL OR claimed_ns < ?) RETURNING spans",
                            (
                                self.traces_url,
                                self.fingerprint,
                                now - int(max_age * 1e9),
                                now - CLAIM_EXPIRY_NS,
                            ),
                        ).fetchall()
                        self.pruned += sum(int(r[0]) for r in old)
                    rows = conn.execute(
                        _CLAIM,
                        (self.owner, now, self.traces_url, self.fingerprint, now - CLAIM_EXPIRY_NS),
                    ).fetchall()
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            finally:
                conn.close()
        except Exception:
            logger.debug("agentops_otel: cannot claim from the spool in %s", self.path, exc_info=True)
            return None
        if not rows:
            return None
        row_id, body, spans = rows[0]
        return int(row_id), bytes(body), int(spans)

    def settle(self, row_id: int, *, remove: bool, busy: float = 0.5) -> None:
        """Delete a claimed row (sent, or refused for good), or release it for a later attempt."""
        if remove:
            sql = "DELETE FROM spool WHERE id = ? AND claimed_by = ?"
        else:
            sql = "UPDATE spool SET claimed_by = NULL, claimed_ns = NULL WHERE id = ? AND claimed_by = ?"
        try:
            conn = self._connect(busy, create=False)
            if conn is None:
                return
            try:
                conn.execute(sql, (row_id, self.owner))
            finally:
                conn.close()
        except Exception:
            logger.debug("agentops_otel: cannot update the spool in %s", self.path, exc_info=True)
