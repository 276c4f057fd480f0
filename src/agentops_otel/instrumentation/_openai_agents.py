"""Instrumentation of the OpenAI Agents SDK (``openai-agents``) through its tracing-processor interface.

A processor added with ``agents.add_trace_processor`` (the SDK's own processors, which send traces to
OpenAI, are kept) turns the SDK's traces and spans into ours, as they start and end:

- trace (a workflow): action ``{workflow name}`` (``agentops.action.type=workflow``);
- task (one run in it), turn: action ``task {name}``, ``turn {n}``;
- agent: agent ``invoke_agent {name}``, with its tools and handoffs;
- function: tool ``execute_tool {name}``, with arguments and result when content capture is on;
- handoff: action ``handoff`` (``agentops.handoff.from`` / ``.to``);
- guardrail: action ``guardrail {name}`` (``agentops.guardrail.triggered``);
- custom, MCP tool listing: actions;
- response, generation: no span of their own. The model call is recorded once, by the OpenAI (or
  LiteLLM) instrumentation, as the LLM span nested under its turn.

Each span is the current OpenTelemetry span while the SDK's span is open (the SDK starts and ends its
spans in the same task, streamed runs included), so the LLM spans and a user's own spans nest under it.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

from agentops_otel import semconv
from agentops_otel.instrumentation._core import debug_failure, get
from agentops_otel.instrumentation._framework import (
    Spans,
    action_attributes,
    agent_attributes,
    content,
    tool_attributes,
)
from agentops_otel.instrumentation._patching import Patcher

FRAMEWORK = "openai_agents"
_TRACE = "trace:"


def _start_args(data: Any) -> tuple[str, dict[str, Any]] | None:
    """The name and attributes of our span for an SDK span's data, or None for no span."""
    kind = getattr(data, "type", None)
    name = getattr(data, "name", None)
    if kind == "agent":
        return str(name), agent_attributes(str(name), FRAMEWORK)
    if kind == "function":
        return str(name), tool_attributes(str(name), FRAMEWORK)
    if kind == "turn":
        attributes = action_attributes("turn", FRAMEWORK)
        attributes[semconv.AGENT_NAME] = str(getattr(data, "agent_name", ""))
        return f"turn {getattr(data, 'turn', '')}", attributes
    if kind == "handoff":
        attributes = action_attributes("handoff", FRAMEWORK)
        return "handoff", attributes
    if kind == "guardrail":
        return f"guardrail {name}", action_attributes("guardrail", FRAMEWORK)
    if kind == "mcp_tools":
        return f"mcp list_tools {getattr(data, 'server', '')}".strip(), action_attributes(
            "mcp_tools", FRAMEWORK
        )
    if kind == "task":  # one Runner.run within the workflow's trace
        return f"task {name}", action_attributes("task", FRAMEWORK)
    if kind == "custom":
        return str(name or kind), action_attributes("custom", FRAMEWORK)
    return None  # response / generation (the LLM instrumentation records the call), speech, ...


def _end_attributes(data: Any, capture: bool) -> dict[str, Any]:
    kind = getattr(data, "type", None)
    out: dict[str, Any] = {}
    if kind == "agent":  # the SDK fills these in after the span starts
        tools, handoffs = getattr(data, "tools", None), getattr(data, "handoffs", None)
        if tools:
            out[semconv.AGENT_TOOLS] = [str(t) for t in tools]
        if handoffs:
            out[semconv.AGENT_HANDOFFS] = [str(h) for h in handoffs]
    elif kind == "function" and capture:
        out[semconv.TOOL_CALL_ARGUMENTS] = content(getattr(data, "input", None))
        out[semconv.TOOL_CALL_RESULT] = content(getattr(data, "output", None))
    elif kind == "handoff":
        source, target = getattr(data, "from_agent", None), getattr(data, "to_agent", None)
        out[semconv.HANDOFF_FROM] = source
        out[semconv.HANDOFF_TO] = target
    elif kind == "guardrail":
        out[semconv.GUARDRAIL_TRIGGERED] = bool(getattr(data, "triggered", False))
    return out


class AgentsProcessor:
    """An ``agents.tracing.TracingProcessor`` (duck-typed: the SDK calls these six methods)."""

    def __init__(self, patcher: Patcher) -> None:
        self._patcher = patcher
        self._spans = Spans(FRAMEWORK)

    def _telemetry(self) -> Any:
        patcher = self._patcher
        return patcher.telemetry if patcher.active else None

    def on_trace_start(self, trace: Any) -> None:
        telemetry = self._telemetry()
        if telemetry is None:
            return
        try:
            if self._spans.get(_TRACE + str(trace.trace_id)) is not None:
                return  # streamed runs start their trace twice
            name = str(getattr(trace, "name", None) or "Agent workflow")
            attributes = action_attributes("workflow", FRAMEWORK)
            group = getattr(trace, "group_id", None)
            if isinstance(group, str) and group:
                attributes[semconv.CONVERSATION_ID] = group
            self._spans.start(telemetry, _TRACE + str(trace.trace_id), name, attributes, current=True)
        except Exception:
            debug_failure("recording an Agents SDK trace")

    def on_trace_end(self, trace: Any) -> None:
        with contextlib.suppress(Exception):
            self._spans.end(_TRACE + str(trace.trace_id))

    def on_span_start(self, span: Any) -> None:
        telemetry = self._telemetry()
        if telemetry is None:
            return
        try:
            found = _start_args(span.span_data)
            if found is None:
                return
            name, attributes = found
            parent = span.parent_id or _TRACE + str(span.trace_id)
            if self._spans.get(parent) is None and self._spans.get(_TRACE + str(span.trace_id)) is not None:
                parent = _TRACE + str(span.trace_id)  # a response span's child: under the nearest we keep
            self._spans.start(telemetry, span.span_id, name, attributes, parent=parent, current=True)
        except Exception:
            debug_failure("recording an Agents SDK span")

    def on_span_end(self, span: Any) -> None:
        try:
            if self._spans.get(span.span_id) is None:
                return
            telemetry = self._telemetry()
            capture = telemetry is not None and _capture()
            error = span.error
            message = None
            if error:
                message = str(get(error, "message") or "error")
            self._spans.end(span.span_id, _end_attributes(span.span_data, capture), error_message=message)
        except Exception:
            debug_failure("ending an Agents SDK span")

    def shutdown(self) -> None:
        self._spans.end_all()

    def force_flush(self) -> None:
        pass


def _capture() -> bool:
    from agentops_otel import _runtime

    return _runtime.content_capture_enabled()


_PROCESSORS: dict[int, AgentsProcessor] = {}


def patch(patcher: Patcher, module: ModuleType) -> None:
    """Adds our processor to the SDK's trace provider, once (it passes through while inactive)."""
    if module.__name__ != "agents":
        return
    processor = _PROCESSORS.get(id(patcher))
    if processor is None:
        processor = _PROCESSORS[id(patcher)] = AgentsProcessor(patcher)
    provider = module.tracing.get_trace_provider()
    multi = getattr(provider, "_multi_processor", None)
    registered = getattr(multi, "_processors", ())
    if not any(p is processor for p in registered):
        module.add_trace_processor(processor)
