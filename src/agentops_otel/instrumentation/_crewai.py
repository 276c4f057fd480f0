"""Instrumentation of CrewAI: crews, tasks, agents and tools as our spans.

CrewAI's event bus calls its listeners from a thread pool, away from the work, so spans made from
events could not be current where the work runs. The methods that do the work are wrapped instead,
and each span is current for exactly their call (so the LLM spans of the SDK CrewAI calls nest under
the agent that called it):

- ``Crew.kickoff`` and ``akickoff`` (CrewAI's native async run, where it has one): action
  ``crew {name}`` (``agentops.action.type=crew``; ``kickoff_async`` runs ``kickoff`` in a thread and so
  is covered). One span per run: a kickoff made directly inside a crew span (a checkpoint's restored
  crew, an ``akickoff`` that hands over to ``kickoff``) is the same run, and a streaming kickoff only
  sets up the stream, whose run is the non-streaming kickoff it makes when iterated;
- ``Task._execute_core`` / ``_aexecute_core``: action ``task {name}`` (``task``);
- ``Agent.execute_task`` / ``aexecute_task``: agent ``invoke_agent {role}`` with ``gen_ai.agent.id``;
- ``BaseTool.run`` / ``arun`` (what native function calling calls) and ``CrewStructuredTool.invoke`` /
  ``ainvoke`` (what ReAct-style tool use calls): tool ``execute_tool {name}``, once per call even when
  one calls the other.

LLM calls are recorded by the SDK instrumentation CrewAI's model goes through (its native OpenAI and
Anthropic providers use those SDKs; other models go through LiteLLM): one LLM span per call.

CrewAI's own telemetry (``crewai.telemetry``) uses a provider of its own, never ours or the global
one: its spans are not exported with ours, and nothing here changes it. ``CREWAI_DISABLE_TELEMETRY``
turns it off, as CrewAI documents.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentops_otel import _runtime, semconv
from agentops_otel._errors import error_type
from agentops_otel.instrumentation._around import wrapper
from agentops_otel.instrumentation._core import debug_failure
from agentops_otel.instrumentation._framework import (
    action_attributes,
    agent_attributes,
    content,
    span_name,
    tool_attributes,
)
from agentops_otel.instrumentation._patching import Patcher

FRAMEWORK = "crewai"
MODULES = (
    "crewai.crew",
    "crewai.task",
    "crewai.agent.core",
    "crewai.tools.base_tool",
    "crewai.tools.structured_tool",
)
_IN_TOOL = otel_context.create_key("agentops-crewai-tool")
_IN_CREW = otel_context.create_key("agentops-crewai-crew")

Describe = Callable[[Any, tuple[Any, ...], dict[str, Any]], "tuple[str, dict[str, Any]] | None"]


def _crew(crew: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if otel_context.get_value(_IN_CREW) is trace.get_current_span():
        return None  # called straight from a crew span's own run: the same run, one span
    if getattr(crew, "stream", False) is True:
        return None  # sets up a stream; iterating it runs a non-streaming kickoff, which gets the span
    name = getattr(crew, "name", None) or "crew"
    attributes = action_attributes("crew", FRAMEWORK)
    inputs = kwargs.get("inputs", args[0] if args else None)
    if inputs and _runtime.content_capture_enabled():
        attributes[semconv.ENTITY_INPUT] = content(inputs)
    return ("crew" if name == "crew" else f"crew {name}"), attributes


def _task(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    description = str(getattr(task, "description", "") or "")
    name = getattr(task, "name", None) or (description[:60] + ("..." if len(description) > 60 else ""))
    attributes = action_attributes("task", FRAMEWORK)
    if _runtime.content_capture_enabled():
        attributes[semconv.ENTITY_INPUT] = content(description)
    return f"task {name}", attributes


def _agent(agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    role = str(getattr(agent, "role", "") or "agent")
    attributes = agent_attributes(role, FRAMEWORK)
    agent_id = getattr(agent, "id", None)
    if agent_id is not None:
        attributes[semconv.AGENT_ID] = str(agent_id)
    goal = getattr(agent, "goal", None)
    if isinstance(goal, str) and goal and _runtime.content_capture_enabled():
        attributes[semconv.AGENT_DESCRIPTION] = goal[:1024]
    return role, attributes


def _tool(tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    if otel_context.get_value(_IN_TOOL):
        return None  # invoke() calling run(), or a tool calling a tool's run: one span
    name = str(getattr(tool, "name", "") or "tool")
    attributes = tool_attributes(name, FRAMEWORK)
    description = getattr(tool, "description", None)
    if isinstance(description, str) and description:
        attributes[semconv.TOOL_DESCRIPTION] = description[:1024]
    if _runtime.content_capture_enabled():
        given = kwargs.get("input", args[0] if args else kwargs)
        attributes[semconv.TOOL_CALL_ARGUMENTS] = content(given)
    return name, attributes


def _output(kind: str, result: Any) -> dict[str, Any]:
    if not _runtime.content_capture_enabled():
        return {}
    raw = getattr(result, "raw", result)
    key = semconv.TOOL_CALL_RESULT if kind == semconv.KIND_TOOL else semconv.ENTITY_OUTPUT
    return {key: content(raw)}


class _Call:
    """One wrapped call's span, current (with the tool marker for tools) until it returns or raises."""

    __slots__ = ("args", "kind", "kwargs", "span", "token")

    def __init__(
        self,
        patcher: Patcher,
        name: str,
        attributes: dict[str, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self.kind = attributes.get(semconv.SPAN_KIND)
        tracer = patcher.telemetry.tracer()  # type: ignore[union-attr]
        title = span_name(attributes, name)
        self.span = tracer.start_span(title, kind=SpanKind.INTERNAL, attributes=attributes)
        ctx = trace.set_span_in_context(self.span)
        if self.kind == semconv.KIND_TOOL:
            ctx = otel_context.set_value(_IN_TOOL, True, ctx)
        elif attributes.get(semconv.ACTION_TYPE) == "crew":
            ctx = otel_context.set_value(_IN_CREW, self.span, ctx)
        self.token = otel_context.attach(ctx)

    def failed(self, error: BaseException) -> None:
        self._end(None, error)

    def returned(self, result: Any) -> Any:
        self._end(result, None)
        return result

    def _end(self, result: Any, error: BaseException | None) -> None:
        otel_context.detach(self.token)  # type: ignore[arg-type]
        try:
            span = self.span
            if error is not None:
                kind = error_type(error)
                span.set_attribute(semconv.ERROR_TYPE, kind)
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{kind}: {error}"[:1024]))
            else:
                span.set_attributes(_output(str(self.kind), result))
            span.end()
        except Exception:
            debug_failure("ending a CrewAI span")
            with contextlib.suppress(Exception):
                self.span.end()


class _Target:
    """One wrapped method and how its calls are named and described."""

    __slots__ = ("describe", "patcher")

    def __init__(self, patcher: Patcher, describe: Describe) -> None:
        self.patcher = patcher
        self.describe = describe

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Call | None:
        patcher = self.patcher
        if patcher.telemetry is None:
            return None
        try:
            found = self.describe(instance, args, kwargs)
            return None if found is None else _Call(patcher, *found, args, kwargs)
        except Exception:
            debug_failure("starting a CrewAI span")
            return None


_TARGETS: dict[str, list[tuple[str, Describe, bool]]] = {
    "crewai.crew": [("Crew.kickoff", _crew, False), ("Crew.akickoff", _crew, True)],
    "crewai.task": [("Task._execute_core", _task, False), ("Task._aexecute_core", _task, True)],
    "crewai.agent.core": [("Agent.execute_task", _agent, False), ("Agent.aexecute_task", _agent, True)],
    "crewai.tools.base_tool": [
        ("BaseTool.run", _tool, False),
        ("BaseTool.arun", _tool, True),
        ("Tool.run", _tool, False),
        ("Tool.arun", _tool, True),
    ],
    "crewai.tools.structured_tool": [
        ("CrewStructuredTool.invoke", _tool, False),
        ("CrewStructuredTool.ainvoke", _tool, True),
    ],
}


def patch(patcher: Patcher, module: ModuleType) -> None:
    # Every target is tried on every module: CrewAI rewrites some modules' ``__name__`` (``crewai.crew``
    # reads as ``crewai.agents.agent_builder.base_agent``), and ``wrap`` skips what a module lacks and
    # a class reached again through another module.
    for targets in _TARGETS.values():
        for path, describe, is_async in targets:
            patcher.wrap(module, path, wrapper(patcher, _Target(patcher, describe).begin, is_async))
