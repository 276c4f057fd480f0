"""What the framework tests share: every instrumentation on, as ``init()`` turns it on, recording into a
real SDK provider with the core's session processor, a session root, and helpers to read the tree."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from agentops_otel import _config, _runtime
from agentops_otel._internal import context as ao_context
from agentops_otel.instrumentation import instrument_all, uninstrument_all
from span_fixtures import Recorded


@dataclass
class Run:
    """The spans recorded in one test, with the session root they ran under."""

    rec: Recorded
    session_id: str = ""
    root: Any = None

    def spans(self) -> list[ReadableSpan]:
        return self.rec.spans()

    def kind(self, kind: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if (s.attributes or {}).get("agentops.span.kind") == kind]

    def by_id(self) -> dict[int, Any]:
        """Recorded spans by id, the (still open) session root among them."""
        found: dict[int, Any] = {s.context.span_id: s for s in self.spans()}
        if self.root is not None:
            found.setdefault(self.root.get_span_context().span_id, self.root)
        return found

    def parent(self, span: Any) -> Any:
        return self.by_id().get(span.parent.span_id) if getattr(span, "parent", None) else None

    def ancestors(self, span: Any) -> list[str]:
        names = []
        found = self.parent(span)
        while found is not None:
            names.append(found.name)
            found = self.parent(found)
        return names

    def tree(self) -> str:
        """The recorded spans as an indented outline, for assertion messages."""
        children: dict[int | None, list[Any]] = {}
        ids = self.by_id()
        for span in sorted(ids.values(), key=lambda s: s.start_time or 0):
            parent = span.parent.span_id if span.parent and span.parent.span_id in ids else None
            children.setdefault(parent, []).append(span)
        lines: list[str] = []

        def walk(parent: int | None, depth: int) -> None:
            for span in children.get(parent, ()):
                kind = (span.attributes or {}).get("agentops.span.kind", "-")
                lines.append(f"{'  ' * depth}{span.name} [{kind}]")
                walk(span.get_span_context().span_id, depth + 1)

        walk(None, 0)
        return "\n".join(lines)


@contextmanager
def instrumented_session(capture: bool = True) -> Iterator[Run]:
    """All instrumentations on a recording provider, content capture as asked, inside a session root
    (``agentops.span.kind=session``) that is current with its id in the context."""
    rec = Recorded()
    previous = _runtime._state.config
    _runtime.set_provider(rec.provider)
    _runtime.set_config(_config.Configuration(capture_content=capture))
    uninstrument_all()
    instrument_all(tracer_provider=rec.provider)
    run = Run(rec)
    sid = str(uuid.uuid4())
    root = rec.tracer.start_span(
        "agentops.session",
        context=otel_context.Context(),
        attributes={"session.id": sid, "agentops.span.kind": "session"},
    )
    token = otel_context.attach(ao_context.with_session(trace.set_span_in_context(root), sid))
    run.session_id, run.root = sid, root
    try:
        yield run
    finally:
        otel_context.detach(token)
        root.end()
        uninstrument_all()
        _runtime.set_provider(None)
        _runtime.set_config(previous)
        rec.provider.shutdown()
