"""The span processor that stamps ``session.id`` (and the enclosing agent) on every span as it starts,
and makes another instrumentation's span that records one of our LLM calls that call's LLM span."""

from __future__ import annotations

import logging
import weakref
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from agentops_otel import _sdk_compat, semconv
from agentops_otel._internal.context import AGENT_KEY, SESSION_KEY, AgentRef, session_id_for
from agentops_otel._sdk_compat import attributes_of
from agentops_otel.instrumentation._keys import IN_LLM_CALL, STAMPED, TAIL_CALL, records_llm_call

logger = logging.getLogger("agentops_otel")

#: The name an adopted span carries its call under, until it ends.
_CALL = "_agentops_llm_call"
# Read for every span: a module global is one lookup less than ``semconv.``'s attribute.
_SESSION_ID = semconv.SESSION_ID
_AGENT_ID = semconv.AGENT_ID


class SessionSpanProcessor(SpanProcessor):
    """Stamps ``session.id`` (and the enclosing agent) on every span when it starts.

    It reads the span's parent context, so spans from any tracer are covered: ours, other
    instrumentations', the user's own. It also sees another instrumentation's LLM span start inside
    one of our LLM wrappers (``IN_LLM_CALL`` in its context): that call is then recorded once, in their
    span, which gets ``agentops.span.kind=llm`` now and its cost when it ends.

    A span of ours started with ``STAMPED`` in its parent context carries all of that from its start
    and is passed over at once.
    """

    def __init__(self, trust_inbound_session: bool = False) -> None:
        self.trust_inbound_session = trust_inbound_session
        # Other instrumentations' spans that record one of our calls, until they end, by ``id(span)``: a
        # weak reference to the span, whose callback drops the entry when a span that never ended is
        # collected. A plain dict, as its emptiness is asked for every span that ends: one C-level
        # check, where a ``WeakKeyDictionary`` runs ``__len__`` in Python.
        self._adopted: dict[int, tuple[weakref.ref[Span], Any]] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Runs for every span of the process: a Context is a dict, read with plain ``get`` and ``in``.
        try:
            ctx = parent_context if parent_context is not None else otel_context.get_current()
            if STAMPED in ctx:  # a span of ours that carries all of this from its start
                return
            session_id: Any = ctx.get(SESSION_KEY)
            if session_id is None:
                trace_id = span.get_span_context().trace_id
                session_id = session_id_for(ctx, trace_id, self.trust_inbound_session)
            # Our own spans carry these from their start (``instrumentation._keys.stamp``): setting
            # them again would cost a locked, validated write each for nothing.
            attributes = attributes_of(span)
            if session_id is not None and attributes.get(_SESSION_ID) != session_id:
                span.set_attribute(_SESSION_ID, session_id)
            agent = ctx.get(AGENT_KEY)
            if agent is not None and isinstance(agent, AgentRef) and attributes.get(_AGENT_ID) != agent.id:
                span.set_attributes({semconv.AGENT_NAME: agent.name, _AGENT_ID: agent.id})
            call = ctx.get(IN_LLM_CALL)
            if call is None:
                call = TAIL_CALL.get()
                if call is None:
                    return
            adopt = getattr(call, "adopt", None)
            if adopt is not None and records_llm_call(span.attributes) and adopt(span):
                self._adopt(span, call)
        except Exception:  # never let a span start fail because of us
            logger.debug("agentops_otel: session stamping failed", exc_info=True)

    def _adopt(self, span: Span, call: Any) -> None:
        adopted = self._adopted
        key = id(span)

        def collected(ref: weakref.ref[Span]) -> None:
            # Runs before the span's memory (and so its id) can be reused: an entry under the id that
            # is not this reference's belongs to a later span, and stays.
            entry = adopted.get(key)
            if entry is not None and entry[0] is ref:
                del adopted[key]

        # The call refers to the span (``call.other``): held here it would keep a span that never ends
        # alive for good. Carried by the span instead, the two are one cycle the collector frees.
        held = None if _sdk_compat.carry(span, _CALL, call) else call
        adopted[key] = (weakref.ref(span, collected), held)

    def _on_ending(self, span: Span) -> None:
        """Another instrumentation's span that records one of our calls becomes the call's LLM span:
        ``agentops.span.kind=llm`` and the cost from its own usage and model (when it lacks them)."""
        if not self._adopted:  # the common case: one C-level emptiness check per span
            return
        try:
            entry = self._adopted.pop(id(span), None)
            if entry is None or entry[0]() is not span:
                return
            call = entry[1] if entry[1] is not None else _sdk_compat.carried(span, _CALL, drop=True)
            attributes = span.attributes
            if call is None or attributes is None:
                return
            if call.streamed and not call.resolved:
                # Ended as the stream was handed back (Logfire): the stream is recorded in a later span.
                call.tail_wanted = True
                return
            kind = attributes.get(semconv.SPAN_KIND)
            added: dict[str, Any] = {}
            if kind is None:
                added[semconv.SPAN_KIND] = semconv.KIND_LLM
            if semconv.COST_USD not in attributes:
                cost = _cost_of(attributes)
                if cost is not None:
                    added[semconv.COST_USD] = cost
            if added:
                _sdk_compat.set_attributes_on_ending(span, added)
        except Exception:
            logger.debug("agentops_otel: enriching another instrumentation's span failed", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _cost_of(attributes: Any) -> float | None:
    """Cost of a GenAI span from its attributes (the current names, or OpenLLMetry's older ones)."""
    from agentops_otel.pricing import cost_usd

    def tokens(*names: str) -> int | None:
        for name in names:
            value = attributes.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    model = attributes.get(semconv.RESPONSE_MODEL) or attributes.get(semconv.REQUEST_MODEL)
    if not isinstance(model, str):
        return None
    return cost_usd(
        model,
        tokens(semconv.USAGE_INPUT_TOKENS, "gen_ai.usage.prompt_tokens"),
        tokens(semconv.USAGE_OUTPUT_TOKENS, "gen_ai.usage.completion_tokens"),
        tokens(semconv.USAGE_CACHE_READ_INPUT_TOKENS) or 0,
        tokens(semconv.USAGE_CACHE_CREATION_INPUT_TOKENS) or 0,
    )
