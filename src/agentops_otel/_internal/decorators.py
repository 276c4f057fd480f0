"""``@agent``, ``@tool`` and ``@action``: each call of the decorated callable becomes a child span.

    @agentops_otel.tool
    def search(query: str) -> list[str]: ...

    @agentops_otel.agent(name="researcher")
    async def research(topic: str) -> str: ...

They work with or without arguments (``@tool``, ``@tool()``, ``@tool("name")``, ``@tool(name="x")``)
on functions, methods (also above or below ``@classmethod``/``@staticmethod``), async functions,
generators and async generators, and on classes (every public method is wrapped).

Span shapes, GenAI semantic conventions where they have a name for the thing:

- tool: ``execute_tool {name}``, ``gen_ai.operation.name=execute_tool``, ``gen_ai.tool.name``,
  ``gen_ai.tool.type=function``; content: ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result``.
- agent: ``invoke_agent {name}``, ``gen_ai.operation.name=invoke_agent``, ``gen_ai.agent.name``,
  ``gen_ai.agent.id``; content: ``agentops.entity.input`` / ``agentops.entity.output``.
- action: ``{name}``, ``agentops.action.type={name}`` and no ``gen_ai.operation.name`` (the
  conventions have no value for it, and a made-up one would mislead GenAI-aware backends);
  content as for agents.

All carry ``agentops.span.kind``. The agent id names the agent, not one run of it: one id per instance
for methods (per class for classmethods), one per decorated function otherwise, or the ``agent_id``
given to the decorator. Spans started inside an agent's call carry its name and id: the agent's
:class:`AgentRef` sits in the context under ``AGENT_KEY`` and the session processor stamps
:func:`agent_attributes` on every span started there.

Arguments and return values are recorded only with content capture on, as bounded JSON (see
:func:`serialize`). Exceptions are recorded (status ERROR, ``error.type``) and re-raised unchanged.
A generator's span is current only while the generator runs; it ends when the generator is
exhausted, closed or garbage collected. Nothing of ours ever raises into the decorated call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from agentops_otel import semconv
from agentops_otel._internal.wrappers import (
    Recipe,
    default_name,
    wrap_async_generator_function,
    wrap_coroutine_function,
    wrap_function,
    wrap_generator_function,
)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _decorate(
    target: Any, kind: str, name: str | None, agent_id: str | None, attributes: dict[str, Any] | None = None
) -> Any:
    if isinstance(target, (classmethod, staticmethod)):
        return type(target)(_decorate(target.__func__, kind, name, agent_id, attributes))
    if isinstance(target, type):
        return _decorate_class(target, kind, name, agent_id, attributes)
    if not callable(target):
        raise TypeError(f"agentops_otel.{kind}: cannot decorate {type(target).__name__!r} (not callable)")
    recipe = Recipe(target, kind, name or default_name(target), agent_id, attributes)
    if inspect.isasyncgenfunction(target):
        wrapper = wrap_async_generator_function(target, recipe)
    elif inspect.iscoroutinefunction(target):
        wrapper = wrap_coroutine_function(target, recipe)
    elif inspect.isgeneratorfunction(target):
        wrapper = wrap_generator_function(target, recipe)
    else:
        wrapper = wrap_function(target, recipe)
    wrapper.__agentops_kind__ = kind  # type: ignore[attr-defined]
    return wrapper


def _decorate_class(
    cls: type, kind: str, name: str | None, agent_id: str | None, attributes: dict[str, Any] | None
) -> type:
    """Wrap each public method defined in the class body. Agent methods share the agent's name
    (default: the class name) and, per instance, its id."""
    for attr, value in list(vars(cls).items()):
        if attr.startswith("_"):
            continue
        func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if not inspect.isfunction(func):
            continue
        if kind == semconv.KIND_AGENT:
            method_name = name or cls.__name__
        else:
            method_name = f"{name}.{attr}" if name else default_name(func)
        setattr(cls, attr, _decorate(value, kind, method_name, agent_id, attributes))
    return cls


# Options of the agentops 0.4 decorators, so their code runs unchanged: ``cost`` (tools) and ``version``
# are recorded; the others are accepted (content capture follows ``capture_content``; tags belong to
# sessions).
_ACCEPTED_OPTIONS = frozenset({"tags", "spec", "capture_request", "capture_response"})


def _option_attributes(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - _ACCEPTED_OPTIONS - {"cost", "version"})
    if unknown:
        raise TypeError(f"agentops_otel.{kind}() got unexpected keyword argument(s) {', '.join(unknown)}")
    attributes: dict[str, Any] = {}
    cost = options.get("cost")
    if cost is not None:
        if kind != semconv.KIND_TOOL:
            raise TypeError(f"agentops_otel.{kind}(): cost= is for tools (@tool(cost=0.05))")
        attributes[semconv.COST_USD] = float(cost)
    if options.get("version") is not None:
        attributes[semconv.ENTITY_VERSION] = str(options["version"])
    return attributes


def _decorator(kind: str) -> Any:
    def decorator(
        func_or_name: Any = None, /, *, name: str | None = None, agent_id: str | None = None, **options: Any
    ) -> Any:
        attributes = _option_attributes(kind, options) if options else None
        if isinstance(func_or_name, str) or func_or_name is None:
            chosen = name if func_or_name is None else func_or_name
            return lambda target: _decorate(target, kind, chosen, agent_id, attributes)
        return _decorate(func_or_name, kind, name, agent_id, attributes)

    return decorator


_tool = _decorator(semconv.KIND_TOOL)
_agent = _decorator(semconv.KIND_AGENT)
_action = _decorator(semconv.KIND_ACTION)


@overload
def tool(func: F, /) -> F: ...
@overload
def tool(name: str | None = None, /, *, cost: float | None = None, **options: Any) -> Callable[[T], T]: ...
def tool(func: Any = None, /, **kwargs: Any) -> Any:
    """Record each call as a tool execution (``execute_tool {name}``).

    ``cost`` (USD per call) is recorded as ``agentops.usage.cost_usd`` on each call's span, which the
    backend adds to the session's ``cost_usd``. ``version`` is recorded as ``agentops.entity.version``;
    the other options of the agentops 0.4 decorators (``tags``, ``spec``, ``capture_request``,
    ``capture_response``) are accepted."""
    return _tool(func, **kwargs)


@overload
def action(func: F, /) -> F: ...
@overload
def action(name: str | None = None, /, **options: Any) -> Callable[[T], T]: ...
def action(func: Any = None, /, **kwargs: Any) -> Any:
    """Record each call as an action (a span named after it, ``agentops.span.kind=action``)."""
    return _action(func, **kwargs)


@overload
def agent(func: F, /) -> F: ...
@overload
def agent(name: str | None = None, /, *, agent_id: str | None = None, **options: Any) -> Callable[[T], T]: ...
def agent(func: Any = None, /, **kwargs: Any) -> Any:
    """Record each call as an agent invocation (``invoke_agent {name}``); spans started inside it
    carry the agent's name and id. ``agent_id`` fixes the id (default: one per instance or function)."""
    return _agent(func, **kwargs)
