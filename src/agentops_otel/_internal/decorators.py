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

import dataclasses
import functools
import inspect
import json
import logging
import threading
import uuid
import weakref
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, Final, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode

from agentops_otel import _runtime, semconv
from agentops_otel._internal import context as _ctx
from agentops_otel.semconv import (
    ERROR_TYPE,
    OPERATION_NAME,
    TOOL_CALL_ARGUMENTS,
    TOOL_CALL_RESULT,
    TOOL_NAME,
    TOOL_TYPE,
)

logger = logging.getLogger("agentops_otel.decorators")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: Longest recorded argument or result, in characters.
MAX_CONTENT_CHARS: Final = 4096
_MAX_ITEMS = 100  # per container
_MAX_DEPTH = 8
_MAX_NODES = 1000  # per serialised value

_NO_RESULT: Any = object()


# -- safe serialisation ------------------------------------------------------------------------------


def _safe_repr(value: Any, limit: int = MAX_CONTENT_CHARS) -> str:
    try:
        text = repr(value)
    except Exception:
        try:
            return f"<unrepresentable {type(value).__qualname__}>"
        except Exception:
            return "<unrepresentable>"
    if not isinstance(text, str):  # a broken __repr__ may return anything
        return "<unrepresentable>"
    return text if len(text) <= limit else text[:limit] + "..."


class _Walker:
    """Turns any value into JSON-ready data in bounded time: limited depth, items, nodes and text."""

    __slots__ = ("chars", "nodes", "path")

    def __init__(self) -> None:
        self.nodes = _MAX_NODES
        self.chars = MAX_CONTENT_CHARS * 2
        self.path: set[int] = set()

    def text(self, value: str) -> str:
        limit = max(self.chars, 16)
        if len(value) > limit:
            value = value[:limit] + "..."
        self.chars -= len(value)
        return value

    def walk(self, value: Any, depth: int = 0) -> Any:
        self.nodes -= 1
        if self.nodes < 0 or self.chars <= 0:
            return "..."
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            # str() of an int over ~4300 digits raises; nobody wants to read it anyway.
            return int(value) if value.bit_length() <= 256 else f"<int of {value.bit_length()} bits>"
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value[:64])
            return f"<{type(value).__name__} of {len(value)} bytes: {data!r}>"
        if depth >= _MAX_DEPTH:
            return "..."
        key = id(value)
        if key in self.path:
            return "<recursive>"
        self.path.add(key)
        try:
            return self._container(value, depth)
        except Exception:
            return self.text(_safe_repr(value))
        finally:
            self.path.discard(key)

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= _MAX_ITEMS or self.nodes <= 0:
                    out["..."] = f"{len(value) - i} more"
                    break
                out[k if isinstance(k, str) else _safe_repr(k, 200)] = self.walk(v, depth + 1)
            return out
        if isinstance(value, (list, tuple, set, frozenset)):
            items = []
            for i, v in enumerate(value):
                if i >= _MAX_ITEMS or self.nodes <= 0:
                    items.append(f"... {len(value) - i} more")
                    break
                items.append(self.walk(v, depth + 1))
            return items
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
            return self._container(fields, depth)
        dump = getattr(type(value), "model_dump", None)  # pydantic v2 models
        if dump is not None and not isinstance(value, type):
            return self.walk(dump(value, mode="json"), depth + 1)
        return self.text(_safe_repr(value))


def serialize(value: Any) -> str:
    """Bounded JSON of ``value`` (repr for what JSON cannot say); never raises, at most ~4 KiB."""
    try:
        text = json.dumps(_Walker().walk(value), ensure_ascii=False)
    except Exception:
        text = _safe_repr(value)
    if len(text) > MAX_CONTENT_CHARS:
        text = text[:MAX_CONTENT_CHARS] + "...[truncated]"
    return text


# -- errors ------------------------------------------------------------------------------------------


def error_type(exc: BaseException | type[BaseException]) -> str:
    """``module.Qualname`` of the exception class; builtins bare (``ValueError``)."""
    cls = exc if isinstance(exc, type) else type(exc)
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", None) or cls.__name__
    return name if module in (None, "builtins") else f"{module}.{name}"


def _is_error(exc: BaseException) -> bool:
    if isinstance(exc, (GeneratorExit, StopIteration, StopAsyncIteration)):
        return False
    return not (isinstance(exc, SystemExit) and exc.code in (None, 0))


def record_error(span: Span, exc: BaseException) -> None:
    """Status ERROR, ``error.type``, and the exception event (type, message, traceback)."""
    etype = error_type(exc)
    span.set_attribute(ERROR_TYPE, etype)
    try:
        message = str(exc)
    except Exception:
        message = ""
    span.set_status(Status(StatusCode.ERROR, f"{etype}: {message}"[:1024] if message else etype))
    try:
        span.record_exception(exc, escaped=True)
    except Exception:  # a broken __str__ must not cost us the rest
        span.add_event("exception", {"exception.type": etype})


# -- context -----------------------------------------------------------------------------------------


def agent_attributes(ctx: Context | None = None) -> dict[str, str]:
    """``gen_ai.agent.name``/``gen_ai.agent.id`` of the agent whose call ``ctx`` is in ({} outside).

    For the session span processor's ``on_start(span, parent_context)``.
    """
    ref = _ctx.current_agent(ctx)
    if ref is None:
        return {}
    return {semconv.AGENT_NAME: ref.name, semconv.AGENT_ID: ref.id}


def parent_context(ctx: Context | None = None) -> Context:
    """``ctx`` (default: current), parented to the session's root span when it has no span.

    So that a span of ours started where nobody handed over a context (a thread started before
    propagation was on, a callback from native code) still lands in the session's trace.
    """
    if ctx is None:
        ctx = otel_context.get_current()
    if trace.get_current_span(ctx).get_span_context().is_valid:
        return ctx
    sid = otel_context.get_value(_ctx.SESSION_KEY, ctx) or _runtime.session_id()
    if not isinstance(sid, str):
        return ctx
    try:
        root = _ctx.root_span_context(sid)
    except ValueError:
        return ctx
    return trace.set_span_in_context(NonRecordingSpan(root), ctx)


# -- agent ids ---------------------------------------------------------------------------------------

_ids_lock = threading.Lock()
_instance_ids: dict[int, tuple[weakref.ref[Any], str]] = {}


def _instance_agent_id(owner: Any) -> str | None:
    """A stable id for the agent ``owner`` (an instance or a class); None if it cannot be tracked."""
    key = id(owner)
    entry = _instance_ids.get(key)
    if entry is not None and entry[0]() is owner:
        return entry[1]

    def forget(dead: weakref.ref[Any], key: int = key) -> None:
        entry = _instance_ids.get(key)
        if entry is not None and entry[0] is dead:  # not a newer object that reused the id
            _instance_ids.pop(key, None)

    try:
        ref = weakref.ref(owner, forget)
    except TypeError:  # __slots__ without __weakref__, builtins
        return None
    with _ids_lock:
        entry = _instance_ids.get(key)
        if entry is not None and entry[0]() is owner:
            return entry[1]
        agent_id = str(uuid.uuid4())
        _instance_ids[key] = (ref, agent_id)
        return agent_id


# -- the per-function recipe -------------------------------------------------------------------------


def _default_name(func: Any) -> str:
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__
    return str(name).rsplit("<locals>.", 1)[-1]


class _Recipe:
    """What every call of one decorated function needs, worked out once at decoration time."""

    __slots__ = (
        "agent_id",
        "agent_ref",
        "func",
        "input_key",
        "kind",
        "name",
        "output_key",
        "per_instance",
        "signature",
        "skip_first",
        "span_kind",
        "span_name",
        "static_attributes",
    )

    def __init__(self, func: Callable[..., Any], kind: str, name: str, agent_id: str | None) -> None:
        self.func = func
        self.kind = kind
        self.name = name
        self.signature: inspect.Signature | None = None
        try:
            params = list(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            params = []
        self.skip_first = bool(params) and params[0] in ("self", "cls")
        self.per_instance = self.skip_first and agent_id is None
        self.agent_id = agent_id or str(uuid.uuid4())
        self.span_kind = SpanKind.INTERNAL
        static: dict[str, Any] = {semconv.SPAN_KIND: kind}
        if kind == semconv.KIND_TOOL:
            self.span_name = f"execute_tool {name}"
            static.update({OPERATION_NAME: "execute_tool", TOOL_NAME: name, TOOL_TYPE: "function"})
            self.input_key, self.output_key = TOOL_CALL_ARGUMENTS, TOOL_CALL_RESULT
        elif kind == semconv.KIND_AGENT:
            self.span_name = f"invoke_agent {name}"
            static.update(
                {OPERATION_NAME: "invoke_agent", semconv.AGENT_NAME: name, semconv.AGENT_ID: self.agent_id}
            )
            self.input_key, self.output_key = semconv.ENTITY_INPUT, semconv.ENTITY_OUTPUT
        else:
            self.span_name = name
            static[semconv.ACTION_TYPE] = name
            self.input_key, self.output_key = semconv.ENTITY_INPUT, semconv.ENTITY_OUTPUT
        self.static_attributes = static
        self.agent_ref = _ctx.AgentRef(name, self.agent_id)

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if self.skip_first:
            args = args[1:]
        try:
            if self.signature is None:
                sig = inspect.signature(self.func)
                if self.skip_first:
                    sig = sig.replace(parameters=list(sig.parameters.values())[1:])
                self.signature = sig
            return serialize(dict(self.signature.bind_partial(*args, **kwargs).arguments))
        except Exception:  # signature unknown, or a call that will fail anyway
            return serialize({"args": args, "kwargs": kwargs})

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Span, Context]:
        """Start the span in the current context; return it and the context it is current in."""
        ctx = parent_context()
        attributes = self.static_attributes
        if self.kind == semconv.KIND_AGENT:
            ref = self.agent_ref
            if self.per_instance and args:
                instance_id = _instance_agent_id(args[0])
                if instance_id is not None:
                    ref = _ctx.AgentRef(self.name, instance_id)
                    attributes = {**attributes, semconv.AGENT_ID: instance_id}
            ctx = otel_context.set_value(_ctx.AGENT_KEY, ref, ctx)
        span = _runtime.tracer().start_span(
            self.span_name, context=ctx, kind=self.span_kind, attributes=attributes
        )
        if _runtime.content_capture_enabled():
            try:
                span.set_attribute(self.input_key, self.arguments(args, kwargs))
            except Exception:
                logger.debug("agentops_otel: could not record arguments of %s", self.name, exc_info=True)
        return span, trace.set_span_in_context(span, ctx)

    def finish(self, span: Span, exc: BaseException | None, result: Any) -> None:
        """Record the outcome and end the span; never raises."""
        try:
            if exc is not None:
                if _is_error(exc):
                    record_error(span, exc)
            elif result is not _NO_RESULT and _runtime.content_capture_enabled():
                span.set_attribute(self.output_key, serialize(result))
        except Exception:
            logger.debug("agentops_otel: could not record the outcome of %s", self.name, exc_info=True)
        try:
            span.end()
        except Exception:
            logger.debug("agentops_otel: could not end the span of %s", self.name, exc_info=True)


def _detach(token: object) -> None:
    try:
        otel_context.detach(token)  # type: ignore[arg-type]
    except Exception:
        logger.debug("agentops_otel: detach failed", exc_info=True)


class _Yields:
    """Values a generator yielded, kept as bounded JSON-ready data (no references to user objects)."""

    __slots__ = ("items", "walker")

    def __init__(self) -> None:
        self.walker = _Walker()
        self.items: list[Any] = []

    def add(self, value: Any) -> None:
        if self.walker.nodes > 0 and self.walker.chars > 0:
            try:
                self.items.append(self.walker.walk(value))
            except Exception:
                self.items.append("<unserialisable>")


# -- wrappers ----------------------------------------------------------------------------------------


def _wrap_function(func: Callable[..., Any], recipe: _Recipe) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            span, span_ctx = recipe.start(args, kwargs)
            token = otel_context.attach(span_ctx)
        except Exception:
            logger.debug("agentops_otel: no span for %s", recipe.name, exc_info=True)
            return func(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            recipe.finish(span, exc, _NO_RESULT)
            raise
        _detach(token)
        recipe.finish(span, None, result)
        return result

    return wrapper


def _wrap_coroutine_function(func: Callable[..., Any], recipe: _Recipe) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            span, span_ctx = recipe.start(args, kwargs)
            token = otel_context.attach(span_ctx)
        except Exception:
            logger.debug("agentops_otel: no span for %s", recipe.name, exc_info=True)
            return await func(*args, **kwargs)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            _detach(token)
            recipe.finish(span, exc, _NO_RESULT)
            raise
        _detach(token)
        recipe.finish(span, None, result)
        return result

    return wrapper


def _wrap_generator_function(func: Callable[..., Any], recipe: _Recipe) -> Callable[..., Any]:
    # The span opens when iteration starts (a generator's body runs then) and is attached only around
    # each resumption, so between yields the consumer's context is current.
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        try:
            span, span_ctx = recipe.start(args, kwargs)
        except Exception:
            logger.debug("agentops_otel: no span for %s", recipe.name, exc_info=True)
            return (yield from func(*args, **kwargs))
        yields = _Yields() if _runtime.content_capture_enabled() else None
        outcome: BaseException | None = None
        try:
            token = otel_context.attach(span_ctx)
            try:
                gen = func(*args, **kwargs)
                value = next(gen)
            finally:
                _detach(token)
            while True:
                if yields is not None:
                    yields.add(value)
                try:
                    sent = yield value
                except GeneratorExit:
                    token = otel_context.attach(span_ctx)
                    try:
                        gen.close()
                    finally:
                        _detach(token)
                    raise
                except BaseException as thrown:
                    token = otel_context.attach(span_ctx)
                    try:
                        value = gen.throw(thrown)
                    finally:
                        _detach(token)
                else:
                    token = otel_context.attach(span_ctx)
                    try:
                        value = gen.send(sent)
                    finally:
                        _detach(token)
        except StopIteration as stop:
            return stop.value
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            recipe.finish(span, outcome, _NO_RESULT if yields is None or outcome else yields.items)

    return wrapper


def _wrap_async_generator_function(func: Callable[..., Any], recipe: _Recipe) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        try:
            span, span_ctx = recipe.start(args, kwargs)
        except Exception:
            logger.debug("agentops_otel: no span for %s", recipe.name, exc_info=True)
            agen = func(*args, **kwargs)
            sent = None
            try:
                while True:
                    sent = yield await agen.asend(sent)
            except StopAsyncIteration:
                return
        yields = _Yields() if _runtime.content_capture_enabled() else None
        outcome: BaseException | None = None
        try:
            token = otel_context.attach(span_ctx)
            try:
                agen = func(*args, **kwargs)
                value = await agen.__anext__()
            finally:
                _detach(token)
            while True:
                if yields is not None:
                    yields.add(value)
                try:
                    sent = yield value
                except GeneratorExit:
                    token = otel_context.attach(span_ctx)
                    try:
                        await agen.aclose()
                    finally:
                        _detach(token)
                    raise
                except BaseException as thrown:
                    token = otel_context.attach(span_ctx)
                    try:
                        value = await agen.athrow(thrown)
                    finally:
                        _detach(token)
                else:
                    token = otel_context.attach(span_ctx)
                    try:
                        value = await agen.asend(sent)
                    finally:
                        _detach(token)
        except StopAsyncIteration:
            return
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            recipe.finish(span, outcome, _NO_RESULT if yields is None or outcome else yields.items)

    return wrapper


def _decorate(target: Any, kind: str, name: str | None, agent_id: str | None) -> Any:
    if isinstance(target, (classmethod, staticmethod)):
        return type(target)(_decorate(target.__func__, kind, name, agent_id))
    if isinstance(target, type):
        return _decorate_class(target, kind, name, agent_id)
    if not callable(target):
        raise TypeError(f"agentops_otel.{kind}: cannot decorate {type(target).__name__!r} (not callable)")
    recipe = _Recipe(target, kind, name or _default_name(target), agent_id)
    if inspect.isasyncgenfunction(target):
        wrapper = _wrap_async_generator_function(target, recipe)
    elif inspect.iscoroutinefunction(target):
        wrapper = _wrap_coroutine_function(target, recipe)
    elif inspect.isgeneratorfunction(target):
        wrapper = _wrap_generator_function(target, recipe)
    else:
        wrapper = _wrap_function(target, recipe)
    wrapper.__agentops_kind__ = kind  # type: ignore[attr-defined]
    return wrapper


def _decorate_class(cls: type, kind: str, name: str | None, agent_id: str | None) -> type:
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
            method_name = f"{name}.{attr}" if name else _default_name(func)
        setattr(cls, attr, _decorate(value, kind, method_name, agent_id))
    return cls


def _decorator(kind: str) -> Any:
    def decorator(
        func_or_name: Any = None, /, *, name: str | None = None, agent_id: str | None = None
    ) -> Any:
        if isinstance(func_or_name, str) or func_or_name is None:
            chosen = name if func_or_name is None else func_or_name
            return lambda target: _decorate(target, kind, chosen, agent_id)
        return _decorate(func_or_name, kind, name, agent_id)

    return decorator


_tool = _decorator(semconv.KIND_TOOL)
_agent = _decorator(semconv.KIND_AGENT)
_action = _decorator(semconv.KIND_ACTION)


@overload
def tool(func: F, /) -> F: ...
@overload
def tool(name: str | None = None, /) -> Callable[[T], T]: ...
@overload
def tool(*, name: str | None = None) -> Callable[[T], T]: ...
def tool(func: Any = None, /, **kwargs: Any) -> Any:
    """Record each call as a tool execution (``execute_tool {name}``)."""
    return _tool(func, **kwargs)


@overload
def action(func: F, /) -> F: ...
@overload
def action(name: str | None = None, /) -> Callable[[T], T]: ...
@overload
def action(*, name: str | None = None) -> Callable[[T], T]: ...
def action(func: Any = None, /, **kwargs: Any) -> Any:
    """Record each call as an action (a span named after it, ``agentops.span.kind=action``)."""
    return _action(func, **kwargs)


@overload
def agent(func: F, /) -> F: ...
@overload
def agent(name: str | None = None, /, *, agent_id: str | None = None) -> Callable[[T], T]: ...
@overload
def agent(*, name: str | None = None, agent_id: str | None = None) -> Callable[[T], T]: ...
def agent(func: Any = None, /, **kwargs: Any) -> Any:
    """Record each call as an agent invocation (``invoke_agent {name}``); spans started inside it
    carry the agent's name and id. ``agent_id`` fixes the id (default: one per instance or function)."""
    return _agent(func, **kwargs)
