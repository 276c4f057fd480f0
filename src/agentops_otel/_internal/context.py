"""Where the session lives: a private context key, W3C baggage, and the process-wide active session.

Lookup order used by the span processor for a new span's session id:
1. our context key (set by ``start_session`` and carried into threads and tasks with the context);
2. the baggage member ``session.id`` when it is trustworthy: a UUID equal to the span's trace id
   (or any value when the user opted in to trusting inbound sessions); inside a provider call, where
   the member is taken off the baggage, the value the instrumentation holds for it;
3. the process-wide active session, so that spans from threads nobody handed a context to still
   belong to the session.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from agentops_otel import _runtime, _sdk_compat, semconv
from agentops_otel.instrumentation._keys import AGENT_KEY as AGENT_KEY
from agentops_otel.instrumentation._keys import HELD_SESSION, current_context
from agentops_otel.instrumentation._keys import SESSION_KEY as SESSION_KEY
from agentops_otel.instrumentation._keys import AgentRef as AgentRef

#: W3C Trace Context level 2's "random" flag (0x02): a session's trace id is a random UUID4.
#: opentelemetry-api names it from 1.42 on; older releases (this package supports >=1.32) carry the bit.
_RANDOM_TRACE_ID = getattr(TraceFlags, "RANDOM_TRACE_ID", 0x02)
_ROOT_FLAGS = TraceFlags(TraceFlags.SAMPLED | _RANDOM_TRACE_ID)


class _Rejected:
    """Counts inbound baggage session ids that were ignored (malformed or not matching the trace)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> None:
        with self._lock:
            self.count += 1


rejected_inbound = _Rejected()


def trace_id_of(session_id: str) -> int:
    return uuid.UUID(session_id).int


def root_span_id_of(session_id: str) -> int:
    return int.from_bytes(uuid.UUID(session_id).bytes[8:], "big")


def root_span_context(session_id: str, span_id: int | None = None) -> SpanContext:
    """The span context of the session's root (SPEC.md section 3), or of ``span_id`` in its trace.

    The one derivation of session id -> trace id and root span id. It stands for a span this code does
    not hold (the root lives in another process, or is not current here), so it is remote; sampled,
    and the trace id is random (a UUID4's bits are). ValueError when ``session_id`` is not a UUID.
    """
    parsed = uuid.UUID(session_id)
    return SpanContext(
        trace_id=parsed.int,
        span_id=span_id if span_id is not None else int.from_bytes(parsed.bytes[8:], "big"),
        is_remote=True,
        trace_flags=_ROOT_FLAGS,
    )


def in_session_trace(span_context: SpanContext, session_id: str) -> bool:
    """Whether ``span_context`` is a valid span of the session's trace."""
    try:
        return span_context.is_valid and span_context.trace_id == uuid.UUID(session_id).int
    except ValueError:
        return False


def with_session(ctx: Context | None, session_id: str) -> Context:
    """``ctx`` with the session in our key and in baggage (so it crosses process boundaries)."""
    ctx = otel_context.set_value(SESSION_KEY, session_id, ctx)
    return baggage.set_baggage(semconv.BAGGAGE_SESSION_ID, session_id, ctx)


def without_session(ctx: Context | None) -> Context:
    ctx = otel_context.set_value(SESSION_KEY, None, ctx)
    return baggage.remove_baggage(semconv.BAGGAGE_SESSION_ID, ctx)


def inbound_session_id(ctx: Context | None, trace_id: int, trust: bool = False) -> str | None:
    """The baggage session id of ``ctx`` if it may be believed for a span in ``trace_id``.

    Inbound baggage is untrusted: the value must be a UUID equal to the trace id, which then discloses
    nothing that ``traceparent`` does not. Anything else is ignored and counted.
    """
    value = baggage.get_baggage(semconv.BAGGAGE_SESSION_ID, ctx)
    if value is None:
        value = otel_context.get_value(HELD_SESSION, ctx)
        if value is None:
            return None
    text = str(value).split(";", 1)[0].strip()
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        rejected_inbound.add()
        return None
    if trust or parsed.int == trace_id:
        return str(parsed)
    rejected_inbound.add()
    return None


def session_id_for(ctx: Context | None, trace_id: int, trust: bool = False) -> str | None:
    """The session a span started in ``ctx`` (with ``trace_id``) belongs to, or None."""
    sid = otel_context.get_value(SESSION_KEY, ctx)
    if sid is not None:
        return sid  # type: ignore[return-value]
    sid = inbound_session_id(ctx, trace_id, trust)
    if sid is not None:
        return sid
    return _runtime.session_id()


def current_agent(ctx: Context | None = None) -> AgentRef | None:
    value = otel_context.get_value(AGENT_KEY, ctx)
    return value if isinstance(value, AgentRef) else None


def agent_attributes(ctx: Context | None = None) -> dict[str, str]:
    """``gen_ai.agent.name``/``gen_ai.agent.id`` of the agent whose call ``ctx`` is in ({} outside).

    For the session span processor's ``on_start(span, parent_context)``.
    """
    ref = current_agent(ctx)
    if ref is None:
        return {}
    return {semconv.AGENT_NAME: ref.name, semconv.AGENT_ID: ref.id}


def parent_context(ctx: Context | None = None) -> Context:
    """``ctx`` (default: current), parented to the session's root span when it has no span.

    So that a span of ours started where nobody handed over a context (a thread started before
    propagation was on, a callback from native code) still lands in the session's trace.
    """
    if ctx is None:
        ctx = current_context()
    # ``trace.get_current_span`` with its ABC isinstance check is most of this function's cost, and
    # nothing but ``set_span_in_context`` (which takes a Span) writes the key.
    current: Any = ctx.get(_sdk_compat.SPAN_KEY)
    if current is not None and current.get_span_context().is_valid:
        return ctx
    sid = otel_context.get_value(SESSION_KEY, ctx) or _runtime.session_id()
    if not isinstance(sid, str):
        return ctx
    try:
        root = root_span_context(sid)
    except ValueError:
        return ctx
    return trace.set_span_in_context(NonRecordingSpan(root), ctx)
