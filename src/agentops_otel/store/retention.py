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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentops_otel.store.base import BaseStore

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


class Pruner:
    """A daemon thread that prunes ``store`` every ``every`` seconds (first right after start)."""

    def __init__(
        self, store: BaseStore, default_age: float | None, every: float = DEFAULT_PRUNE_EVERY
    ) -> None:
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
