"""Fixtures for the decorator, event and thread tests: a real SDK provider recording into memory, the
session stamping processor of the core, a session root stand-in, and the content-capture switch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace

from agentops_otel import _config, _runtime
from agentops_otel._internal import context as ao_context
from agentops_otel._internal.processors import SessionSpanProcessor
from core_helpers import UserSetup


class Recorded(UserSetup):
    """A TracerProvider as a user's app would have it, with the core's SessionSpanProcessor."""

    def __init__(self) -> None:
        super().__init__(SessionSpanProcessor())

    @contextmanager
    def session(self) -> Iterator[str]:
        """A root span standing in for the session, current with the session id in the context."""
        sid = str(uuid.uuid4())
        root = self.tracer.start_span(
            "agentops.session", context=otel_context.Context(), attributes={"session.id": sid}
        )
        ctx = ao_context.with_session(trace.set_span_in_context(root), sid)
        token = otel_context.attach(ctx)
        try:
            yield sid
        finally:
            otel_context.detach(token)
            root.end()


# Generators behind the ``rec``, ``default_config`` and ``capture_on`` fixtures of tests/conftest.py.


def recorded_provider() -> Iterator[Recorded]:
    recorded = Recorded()
    _runtime.set_provider(recorded.provider)
    try:
        yield recorded
    finally:
        _runtime.set_provider(None)
        recorded.provider.shutdown()


def configured(**fields: object) -> Iterator[None]:
    """Make ``Configuration(**fields)`` the active configuration (default: content capture off)."""
    previous = _runtime._state.config
    _runtime.set_config(_config.Configuration(**fields))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _runtime.set_config(previous)
