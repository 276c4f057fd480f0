"""agentops 0.4's traces: ``start_trace``/``end_trace``, ``TraceContext`` and ``TraceState``.

A trace started with no session active is a session of its own; inside the active session (one at a
time, SPEC.md) it is a span of that session, as 0.4 nested such traces under its auto-started one.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from agentops_otel import _runtime, semconv
from agentops_otel._errors import describe_exception, is_error, record_error
from agentops_otel._internal.client import get_client
from agentops_otel._internal.compat import init
from agentops_otel._internal.compat_session import Session, active_session, as_tags, wrap
from agentops_otel._internal.context import parent_context
from agentops_otel._internal.session import EndState

logger = logging.getLogger("agentops_otel")


class TraceState(str, enum.Enum):
    """agentops 0.4's ``TraceState``, as our end states (a ``str``: ``TraceState.ERROR == "Fail"``)."""

    SUCCESS = semconv.END_STATE_SUCCESS
    ERROR = semconv.END_STATE_FAIL
    UNSET = semconv.END_STATE_INDETERMINATE

    def __str__(self) -> str:
        return self.value

    def to_status_code(self) -> StatusCode:
        return {"Success": StatusCode.OK, "Fail": StatusCode.ERROR}.get(self.value, StatusCode.UNSET)


class TraceContext:
    """What :func:`start_trace` returns: a session of its own, or a span inside the active session.
    A context manager: leaving it ends the trace, Fail on an exception."""

    def __init__(self, session: Session | None = None, span: Any = None, previous: Any = None) -> None:
        self.session = session
        self._span = span
        self._previous = previous

    @property
    def span(self) -> Any:
        """The trace's span (the session root for a session)."""
        if self._span is not None:
            return self._span
        found = active_session(str(self.session)) if self.session else None
        return found.root_span if found is not None else trace.INVALID_SPAN

    @property
    def is_session(self) -> bool:
        return self._span is None

    def __enter__(self) -> TraceContext:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is not None and is_error(exc):
            self.end(EndState.FAIL, describe_exception(exc), exc)
        else:
            self.end(EndState.SUCCESS)
        return False

    def end(self, end_state: Any, reason: str | None = None, exc: BaseException | None = None) -> None:
        state, reason = _free_form_state(end_state, reason)
        if self.is_session:
            if self.session and active_session(str(self.session)) is not None:
                get_client().end_session(state, reason)
            return
        span, self._span = self._span, trace.INVALID_SPAN
        if span is trace.INVALID_SPAN:
            return
        if exc is not None:
            record_error(span, exc)
        elif state is EndState.FAIL:
            span.set_status(trace.Status(StatusCode.ERROR, reason or "Fail"))
        elif state is EndState.SUCCESS:
            span.set_status(trace.Status(StatusCode.OK))
        span.end()
        if trace.get_current_span() is span and self._previous is not None:
            otel_context.attach(self._previous)


def _free_form_state(value: Any, reason: str | None) -> tuple[EndState, str | None]:
    """agentops 0.4 took any string as an end state: one of ours, else Indeterminate naming it."""
    try:
        return EndState.parse(value), reason
    except ValueError:
        logger.warning("agentops_otel: end state %r is not Success/Fail/Indeterminate: Indeterminate", value)
        return EndState.INDETERMINATE, reason or f"end state {value!s}"


def start_trace(
    trace_name: str = "session", tags: Iterable[str] | Mapping[str, Any] | None = None
) -> TraceContext | None:
    """A session named ``trace_name`` ("session" means the default name); inside an active session,
    a span of it instead (agentops 0.4 nested such traces too)."""
    client = get_client()
    if not client.initialized:
        init(auto_start_session=False)
    if client.current_session_id() is None:
        name = None if trace_name == "session" else trace_name
        handle = wrap(client.start_session(as_tags(tags), name=name))
        return TraceContext(handle) if handle else None
    logger.info(
        "agentops_otel: start_trace(%r) inside session %s: recorded as a span of it (%s)",
        trace_name,
        client.current_session_id(),
        "init(auto_start_session=False) makes each start_trace a session of its own",
    )
    span = _runtime.tracer().start_span(
        trace_name,
        context=parent_context(),
        attributes={semconv.SPAN_KIND: semconv.KIND_ACTION, semconv.ACTION_TYPE: trace_name},
    )
    previous = otel_context.get_current()
    otel_context.attach(trace.set_span_in_context(span, previous))
    return TraceContext(span=span, previous=previous)


def end_trace(trace_context: TraceContext | None = None, end_state: Any = TraceState.SUCCESS) -> None:
    """End ``trace_context``; with None, the active session (agentops 0.4: every trace)."""
    if trace_context is None:
        if active_session() is not None:
            state, reason = _free_form_state(end_state, None)
            get_client().end_session(state, reason)
        return
    if not isinstance(trace_context, TraceContext):
        logger.warning("agentops_otel: end_trace(): %r is not what start_trace() returned", trace_context)
        return
    trace_context.end(end_state)
