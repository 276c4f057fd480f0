"""uvicorn's settings for the backend, and the one thing uvicorn lacks: a bound on the time a client
may take to send a request's line and headers.

uvicorn closes an idle kept-alive connection (``timeout_keep_alive``), but a connection that sends a
byte of a request now and then is never idle, and a new connection has no timer at all: such clients
would each hold a connection (and, past ``limit_concurrency``, make every other client get 503)
for as long as they like. :class:`GuardedH11Protocol` closes a connection whose next request has not
begun (its headers complete) within ``header_timeout`` of the connection opening or of the last
answer. A request's body has its own bound in the app (``body_timeout``, then 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from agentops_otel.backend.limits import Limits

#: h11's limit on a request's line and headers together (bytes); past it, 400 and the connection closed.
MAX_HEADER_BYTES = 64 * 1024


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the header timeout (see the module docstring)."""

    header_timeout = Limits().header_timeout

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
        waiting_after = self.cycle  # a new request replaces the cycle; until then, it is this one
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out, waiting_after)

    def _header_timed_out(self, waiting_after: Any) -> None:
        if self.cycle is waiting_after and not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(limits: Limits) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` that apply ``limits`` to connections."""
    protocol = type("BackendH11Protocol", (GuardedH11Protocol,), {"header_timeout": limits.header_timeout})
    return {
        "http": protocol,
        "limit_concurrency": limits.max_connections,
        "timeout_keep_alive": max(1, round(limits.keep_alive)),
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "ws": "none",
    }
