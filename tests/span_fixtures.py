"""Fixtures for the decorator, event and thread tests: a real SDK provider recording into memory, the
session stamping processor of the core, a session root stand-in, and the content-capture switch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel._internal import config, tracing
from agentops_otel._internal import context as ao_context
from agentops_otel._internal.processors import SessionSpanProcessor


class Recorded:
    """A TracerProvider as a user's app would have it, with the core's SessionSpanProcessor."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SessionSpanProcessor())
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in self.spans()]}"
        return found[0]

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


# Generators for fixtures: each test module wraps them in ``@pytest.fixture`` (pytest_plugins may only
# live in the root conftest, which another part of the suite owns).


def recorded_provider() -> Iterator[Recorded]:
    recorded = Recorded()
    tracing.set_provider(recorded.provider)
    try:
        yield recorded
    finally:
        tracing.set_provider(None)
        recorded.provider.shutdown()


def configured(**fields: object) -> Iterator[None]:
    """Make ``Configuration(**fields)`` the active configuration (default: content capture off)."""
    previous = config._active
    config.set_active(config.Configuration(**fields))  # type: ignore[arg-type]
    try:
        yield
    finally:
        config._active = previous
