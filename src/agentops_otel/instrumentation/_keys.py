"""Context keys the LLM wrappers share with the session span processor, and what marks another
instrumentation's LLM span, in a module that imports nothing heavy (``init`` imports it; the
wrappers' module loads only once an LLM SDK is imported)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from agentops_otel import _sdk_compat, semconv

_CONTEXT_VAR = _sdk_compat.context_var_methods()
#: ``context.get_current`` and ``context.attach``, as the runtime context's own ``ContextVar`` methods
#: where it is the default one: every LLM call and decorated call reads and attaches a context.
current_context: Callable[[], Context] = _CONTEXT_VAR[0] if _CONTEXT_VAR else otel_context.get_current
attach_context: Callable[[Context], Any] = _CONTEXT_VAR[1] if _CONTEXT_VAR else otel_context.attach

#: The id of the session spans started in a context belong to (set by ``start_session``, carried into
#: threads and tasks with the context); and the enclosing ``@agent`` call's :class:`AgentRef`.
SESSION_KEY = otel_context.create_key("agentops-session-id")
AGENT_KEY = otel_context.create_key("agentops-agent")


class AgentRef(NamedTuple):
    name: str
    id: str


def stamp(attributes: dict[str, Any], ctx: Any) -> bool:
    """Add to ``attributes`` (of a span about to start in ``ctx``) the session id and agent that the
    session span processor stamps from our context keys. Given at start in one mapping, the processor
    finds them there and writes nothing: it writes only what a span lacks or has differently.

    True when ``ctx`` names the session: the span may then start with ``STAMPED`` in its parent
    context. Without it, the processor finds the session elsewhere (the inbound trace or baggage, the
    process's active session), so it must see the span."""
    sid = ctx.get(SESSION_KEY)
    agent = ctx.get(AGENT_KEY)
    if isinstance(agent, AgentRef):
        attributes[semconv.AGENT_NAME] = agent.name
        attributes[semconv.AGENT_ID] = agent.id
    if isinstance(sid, str):
        attributes[semconv.SESSION_ID] = sid
        return True
    return False


#: The ``LLMCall`` in progress while one of our wrappers runs a provider call: nested wrappers pass
#: through, the anthropic SDK's own tracing stands down, and another instrumentation's LLM span
#: started inside is handed to it (the session span processor does that).
IN_LLM_CALL = otel_context.create_key("agentops-llm-call")
#: Set (True) in the parent context a span of ours is started with when its attributes already carry
#: what the session span processor would stamp (``stamp`` returned True) and it records no other
#: instrumentation's call: the processor then has nothing to do for it. Never attached as a current
#: context, so the span's children do not inherit it.
STAMPED = otel_context.create_key("agentops-stamped")
#: Set by a framework's model-call span (LangChain's): a list each of our LLM calls prepared under it
#: is appended to, so the framework span knows whether an SDK wrapper recorded the call.
LLM_WATCH = otel_context.create_key("agentops-llm-watch")
#: The baggage ``session.id`` member taken off the context of a provider call, so that no request to
#: the provider carries it while spans made inside still get the session.
HELD_SESSION = otel_context.create_key("agentops-held-session-baggage")


#: The ``LLMCall`` whose stream is being read, while another instrumentation is expected to record the
#: stream in a span of its own (Logfire does, at the end, in a context it rebuilds from W3C headers, so
#: no OpenTelemetry context key of ours survives into it: a plain context variable does).
TAIL_CALL: ContextVar[Any] = ContextVar("agentops_tail_call", default=None)


#: ``gen_ai.operation.name`` values of a call to a model (not of agents or tools).
_MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "completion"})
#: OpenLLMetry's ``llm.request.type`` and OpenInference's span kinds of model calls.
_OTHER_MODEL_KINDS = frozenset({"chat", "completion", "embedding", "LLM", "EMBEDDING"})


def records_llm_call(attributes: Any) -> bool:
    """Whether span ``attributes`` are those of another instrumentation's model call: GenAI semantic
    conventions (contrib, Logfire), OpenLLMetry's or OpenInference's names. Never one of our spans."""
    if not attributes or semconv.SPAN_KIND in attributes:
        return False
    operation = attributes.get(semconv.OPERATION_NAME)
    if operation is not None:
        return operation in _MODEL_OPERATIONS
    if attributes.get("llm.request.type") in _OTHER_MODEL_KINDS:
        return True
    if attributes.get("openinference.span.kind") in _OTHER_MODEL_KINDS:
        return True
    return "gen_ai.system" in attributes or semconv.PROVIDER_NAME in attributes
