"""Retention: ages as people write them, and the pruning that ``serve --retention`` runs in the background.

A project's own retention (``agentops-otel projects retention NAME 30d``) wins over the default
(``serve --retention``, ``agentops-otel prune --older-than``). A session's age is the time since its last
span or heartbeat; a pruned session goes with all its spans. Pruning deletes a few hundred sessions per
transaction (``BaseStore.prune``), so ingest keeps going while it runs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from agentops_otel.store import rollups
from agentops_otel.store.ingest import load_figures
from agentops_otel.store.queries import Tx, marks
from agentops_otel.store.writes import delete_sessions

logger = logging.getLogger("agentops_otel.backend")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
#: How often ``serve`` prunes when a retention applies (seconds).
DEFAULT_PRUNE_EVERY = 600.0


def parse_age(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or a bare number of seconds."""
    match = _AGE.match(text)
    if not match:
        raise ValueError(f"not an age: {text!r} (e.g. 30d, 12h, 90m, 3600)")
    seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise ValueError(f"an age must be more than zero: {text!r}")
    return seconds


def parse_retention(text: str) -> float | None:
    """:func:`parse_age`, or None for ``off``/``none``/``default`` (back to the default retention)."""
    if text.strip().lower() in ("off", "none", "default"):
        return None
    return parse_age(text)


class RetentionMixin:
    """Retention of a store (mixed into :class:`~agentops_otel.store.base.BaseStore`)."""

    # Provided by the store.
    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, work: Callable[[Tx], Any]) -> Any:
        raise NotImplementedError

    def _lock_sessions(self, tx: Tx, project_id: str, session_ids: Sequence[str]) -> None:
        raise NotImplementedError

    def project_id_of(self, name_or_id: str) -> str | None:
        raise NotImplementedError

    def purge_expired_tokens(self) -> int:
        raise NotImplementedError

    def set_retention(self, project: str, seconds: float | None) -> bool:
        """Keep the sessions of ``project`` (a name or id) ``seconds`` (None: the default); False if
        there is no such project."""
        project_id = self.project_id_of(project)
        if project_id is None:
            return False
        value = None if seconds is None else int(seconds)
        self._write(
            lambda tx: tx.run("UPDATE projects SET retention_s = ? WHERE project_id = ?", (value, project_id))
        )
        return True

    def prune(
        self,
        older_than: float | None = None,
        *,
        project: str | None = None,
        now_ns: int | None = None,
        batch: int = 200,
    ) -> int:
        """Delete the sessions (and their spans) last seen longer ago than their project's retention,
        else ``older_than`` seconds; only ``project`` (a name or id) when given. Sessions go ``batch`` at
        a time, one short transaction each, so ingest waits at most one batch. Returns the sessions
        deleted."""
        now = time.time_ns() if now_ns is None else now_ns
        projects = self._read("SELECT project_id, retention_s FROM projects")
        if project is not None:
            wanted = self.project_id_of(project)
            projects = [p for p in projects if p[0] == wanted]
        deleted = 0
        for project_id, retention_s in projects:
            age = retention_s if retention_s is not None else older_than
            if age is None:
                continue
            cutoff = now - int(age * 1_000_000_000)
            while True:
                ids = [
                    str(r[0])
                    for r in self._read(
                        "SELECT session_id FROM sessions WHERE project_id = ?"
                        " AND COALESCE(last_seen_ns, start_ns, 0) < ? ORDER BY session_id LIMIT ?",
                        (project_id, cutoff, batch),
                    )
                ]
                if not ids:
                    break
                deleted += self._write(
                    partial(self._delete_sessions, project_id=project_id, session_ids=ids, cutoff=cutoff)
                )
        if projects:
            self.purge_expired_tokens()
        return deleted

    def _delete_sessions(self, tx: Tx, project_id: str, session_ids: list[str], cutoff: int) -> int:
        self._lock_sessions(tx, project_id, session_ids)
        figures = load_figures(tx, project_id, session_ids)
        gone = tx.run(
            f"DELETE FROM sessions WHERE project_id = ? AND session_id IN ({marks(session_ids)})"
            " AND COALESCE(last_seen_ns, start_ns, 0) < ? RETURNING session_id",
            (project_id, *session_ids, cutoff),
        )
        ids = [str(r[0]) for r in gone]
        if ids:  # re-checked under the lock: a session that came back to life is kept
            delete_sessions(tx, project_id, ids)
            deltas = rollups.Deltas()
            for session_id in ids:
                deltas.add(figures.get(session_id), -1)
            deltas.flush(tx)
        return len(ids)


class Pruner:
    """A daemon thread that prunes ``store`` every ``every`` seconds (first right after start)."""

    def __init__(self, store: Any, default_age: float | None, every: float = DEFAULT_PRUNE_EVERY) -> None:
        self.store = store
        self.default_age = default_age
        self.every = every
        self.runs = 0
        self.deleted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agentops-otel-prune", daemon=True)

    def start(self) -> Pruner:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                deleted = self.store.prune(self.default_age)
                self.deleted += deleted
                if deleted:
                    logger.info("retention: deleted %d session(s) and their spans", deleted)
            except Exception as exc:  # a busy or unreachable database: try again next round
                logger.warning("retention: pruning failed, will retry: %s", exc)
            self.runs += 1
            self._stop.wait(self.every)
