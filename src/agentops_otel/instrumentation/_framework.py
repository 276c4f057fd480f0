"""Spans of agent frameworks (the Agents SDK, LangChain/LangGraph, CrewAI) in our kinds.

A framework tells us "an agent / tool / step started" and later "it ended", often from callbacks far
from the code that runs inside. :class:`Spans` keeps the open spans by the framework's own id, parents
each one on the span of its framework parent (or the current context: the session, a user's span),
and, when asked, makes it the current span until it ends, so what runs inside (our LLM spans, a user's
own spans) nests under it. Every method is guarded: a failure is logged at debug level, never raised
into the framework.

Kinds and names (the GenAI conventions where they have one):

- ``agent``: ``invoke_agent {name}``, ``gen_ai.operation.name=invoke_agent``, ``gen_ai.agent.name``;
- ``tool``: ``execute_tool {name}``, ``gen_ai.operation.name=execute_tool``, ``gen_ai.tool.name``,
  ``gen_ai.tool.type=function``, and ``gen_ai.tool.call.id`` when the framework has it;
- ``action``: ``{name}``, ``agentops.action.type`` (chains, graph nodes, turns, tasks, handoffs...).

LLM calls are not made here: the SDK instrumentations (OpenAI, Anthropic, LiteLLM, Google) record them,
nested under the framework's spans; see each framework module for how a call is counted once.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Hashable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agentops_otel import _sdk_compat, semconv
from agentops_otel._content import MAX_CONTENT_CHARS, serialize
from agentops_otel._errors import error_type
from agentops_otel.instrumentation._core import Telemetry, debug_failure, logger


def agent_attributes(name: str, framework: str) -> dict[str, Any]:
    return {
        semconv.SPAN_KIND: semconv.KIND_AGENT,
        semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT,
        semconv.AGENT_NAME: name,
        semconv.FRAMEWORK: framework,
    }


def tool_attributes(name: str, framework: str, call_id: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        semconv.SPAN_KIND: semconv.KIND_TOOL,
        semconv.OPERATION_NAME: semconv.OP_EXECUTE_TOOL,
        semconv.TOOL_NAME: name,
        semconv.TOOL_TYPE: semconv.TOOL_TYPE_FUNCTION,
        semconv.FRAMEWORK: framework,
    }
    if isinstance(call_id, str) and call_id:
        out[semconv.TOOL_CALL_ID] = call_id
    return out


def action_attributes(action_type: str, framework: str) -> dict[str, Any]:
    return {
        semconv.SPAN_KIND: semconv.KIND_ACTION,
        semconv.ACTION_TYPE: action_type,
        semconv.FRAMEWORK: framework,
    }


def span_name(attributes: dict[str, Any], name: str) -> str:
    kind = attributes.get(semconv.SPAN_KIND)
    if kind == semconv.KIND_AGENT:
        return f"invoke_agent {name}"
    if kind == semconv.KIND_TOOL:
        return f"execute_tool {name}"
    return name


def content(value: Any) -> str:
    """An input or output as recorded: a string as it is (bounded), anything else as bounded JSON."""
    return value[:MAX_CONTENT_CHARS] if isinstance(value, str) else serialize(value)


class _Open:
    __slots__ = ("span", "token")

    def __init__(self, span: Span, token: object | None) -> None:
        self.span = span
        self.token = token


class Spans:
    """The open framework spans of one instrumentation, by the framework's ids."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self._open: dict[Hashable, _Open] = {}
        self._lock = threading.Lock()

    def start(
        self,
        telemetry: Telemetry,
        key: Hashable,
        name: str,
        attributes: dict[str, Any],
        parent: Hashable | None = None,
        current: bool = False,
        values: dict[str, Any] | None = None,
    ) -> Span | None:
        """Starts the span ``key`` under the span of ``parent`` (if open) or the current context;
        ``current`` makes it the current span until :meth:`end` (same thread or task only), with
        ``values`` (context keys) set in that context too."""
        try:
            ctx = None
            found = self._open.get(parent) if parent is not None else None
            if found is not None:
                ctx = trace.set_span_in_context(found.span)
            span = telemetry.tracer().start_span(
                span_name(attributes, name), context=ctx, kind=SpanKind.INTERNAL, attributes=attributes
            )
            token = None
            if current:
                attached = trace.set_span_in_context(
                    span, ctx if ctx is not None else otel_context.get_current()
                )
                for name, value in (values or {}).items():
                    attached = otel_context.set_value(name, value, attached)
                token = otel_context.attach(attached)
            with self._lock:
                self._open[key] = _Open(span, token)
            return span
        except Exception:
            debug_failure(f"starting a {self.framework} span")
            return None

    def get(self, key: Hashable) -> Span | None:
        found = self._open.get(key)
        return found.span if found is not None else None

    def end(
        self,
        key: Hashable,
        attributes: dict[str, Any] | None = None,
        error: BaseException | None = None,
        error_message: str | None = None,
    ) -> None:
        """Ends the span ``key`` (once): attributes, status ERROR with ``error.type`` on a failure."""
        with self._lock:
            found = self._open.pop(key, None)
        if found is None:
            return
        try:
            span = found.span
            if found.token is not None:
                self._detach(span, found.token)
            if attributes:
                span.set_attributes({k: v for k, v in attributes.items() if v is not None})
            if error is not None:
                kind = error_type(error)
                span.set_attribute(semconv.ERROR_TYPE, kind)
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{kind}: {error}"[:1024]))
            elif error_message is not None:
                span.set_attribute(semconv.ERROR_TYPE, semconv.ERROR_OTHER)
                span.set_status(Status(StatusCode.ERROR, error_message[:1024]))
            span.end()
        except Exception:
            debug_failure(f"ending a {self.framework} span")
            with contextlib.suppress(Exception):
                found.span.end()

    def take(self, key: Hashable) -> Span | None:
        """Removes the span ``key`` without ending it (its context is left): the caller ends it."""
        with self._lock:
            found = self._open.pop(key, None)
        if found is None:
            return None
        if found.token is not None:
            self._detach(found.span, found.token)
        return found.span

    def _detach(self, span: Span, token: object) -> None:
        # Only where it was attached: a span ended from another task or thread leaves contexts alone.
        if trace.get_current_span() is span and not _sdk_compat.detach_quietly(token):
            logger.debug("agentops_otel: %s span %s ended outside its context", self.framework, span)

    def end_all(self) -> None:
        """Ends every span still open (uninstrument, shutdown)."""
        for key in list(self._open):
            self.end(key)
