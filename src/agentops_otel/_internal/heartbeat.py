"""Heartbeats: while a session this process started is active, a zero-length child of its root every
``heartbeat_interval`` seconds, so a backend can tell a live idle session from one whose process died.

The wire contract (``semconv``): a span ``<name>.session.heartbeat`` with ``agentops.span.kind =
"session.heartbeat"`` and ``agentops.session.heartbeat_interval`` (float seconds), the same attribute
the start marker carries. The backend marks a session Indeterminate (with a reason) when its newest
span or heartbeat is older than 3 x interval + 10 s and it has not ended.

A daemon thread of its own emits them, never the user's; the export processor never drops them for a
full queue. A session inherited from another process, or through ``fork``, has no heartbeat here:
its owner sends them.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from opentelemetry.context import Context

from agentops_otel import _daemon, _runtime, semconv

logger = logging.getLogger("agentops_otel")


class _Session(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def ended(self) -> bool: ...
    @property
    def context(self) -> Context: ...


class Heartbeat:
    """Beats for one session until :meth:`stop` or the session ends."""

    def __init__(self, session: _Session, interval: float) -> None:
        self.session = session
        self.interval = float(interval)
        self.sent = 0
        self._stop = threading.Event()
        self._thread = _daemon.thread(self._run, "agentops-otel-heartbeat")

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.session.ended:
                return
            self.beat()

    def beat(self) -> None:
        """Send one heartbeat now. Never raises."""
        try:
            now = time.time_ns()
            span = _runtime.internal_tracer().start_span(
                f"{self.session.name}.session.heartbeat",
                context=self.session.context,
                attributes={
                    semconv.SPAN_KIND: semconv.KIND_SESSION_HEARTBEAT,
                    semconv.SESSION_HEARTBEAT_INTERVAL: self.interval,
                },
                start_time=now,
            )
            span.end(end_time=now)
            self.sent += 1
        except Exception:
            logger.debug("agentops_otel: heartbeat failed", exc_info=True)


def make(session: _Session, interval: float) -> Heartbeat | None:
    """A heartbeat for ``session``, to be started, or None when ``interval`` is 0 (heartbeats off)."""
    if not interval or interval <= 0:
        return None
    return Heartbeat(session, interval)
