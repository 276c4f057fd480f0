"""The span of one call of an ``@agent``/``@tool``/``@action`` function: what each call needs (worked
out once per function, :class:`Recipe`), and the wrappers for the four kinds of callables (plain,
coroutine, generator, async generator). :mod:`.decorators` chooses among them.

A generator's span is current only while the generator runs; it ends when the generator is exhausted,
closed or garbage collected. Exceptions are recorded and re-raised unchanged; nothing of ours raises
into the call.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import uuid
import weakref
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from agentops_otel import _runtime, semconv
from agentops_otel._content import Walker, serialize
from agentops_otel._errors import is_error, record_error
from agentops_otel._internal import context as _ctx
from agentops_otel.instrumentation._keys import STAMPED, attach_context, stamp

logger = logging.getLogger("agentops_otel.decorators")

NO_RESULT: Any = object()
#: An agent instance's own name, when it has one (set by ``track_agent``'s ``agentops_name=``).
INSTANCE_NAME_ATTRIBUTE = "__agentops_agent_name__"


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


def default_name(func: Any) -> str:
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__
    return str(name).rsplit("<locals>.", 1)[-1]


class Recipe:
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

    def __init__(
        self,
        func: Callable[..., Any],
        kind: str,
        name: str,
        agent_id: str | None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
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
            static.update(
                {
                    semconv.OPERATION_NAME: "execute_tool",
                    semconv.TOOL_NAME: name,
                    semconv.TOOL_TYPE: "function",
                }
            )
            self.input_key, self.output_key = semconv.TOOL_CALL_ARGUMENTS, semconv.TOOL_CALL_RESULT
        elif kind == semconv.KIND_AGENT:
            self.span_name = f"invoke_agent {name}"
            static.update(
                {
                    semconv.OPERATION_NAME: "invoke_agent",
                    semconv.AGENT_NAME: name,
                    semconv.AGENT_ID: self.agent_id,
                }
            )
            self.input_key, self.output_key = semconv.ENTITY_INPUT, semconv.ENTITY_OUTPUT
        else:
            self.span_name = name
            static[semconv.ACTION_TYPE] = name
            self.input_key, self.output_key = semconv.ENTITY_INPUT, semconv.ENTITY_OUTPUT
        static.update(attributes or {})
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
        ctx = _ctx.parent_context()
        span_name = self.span_name
        if self.kind == semconv.KIND_AGENT:
            ref = self.agent_ref
            if self.per_instance and args:
                instance_id = _instance_agent_id(args[0])
                if instance_id is not None:
                    # An instance may carry its own name (``track_agent``'s ``agentops_name=``).
                    own = getattr(args[0], INSTANCE_NAME_ATTRIBUTE, None)
                    name = own if isinstance(own, str) and own else self.name
                    ref = _ctx.AgentRef(name, instance_id)
                    if name != self.name:
                        span_name = f"invoke_agent {name}"
            ctx = otel_context.set_value(_ctx.AGENT_KEY, ref, ctx)
        # The session and the agent (for an agent's own span, its own name and id) go in at start,
        # so the session span processor has nothing to write.
        attributes = dict(self.static_attributes)
        # Stamped from a context that names the session, the span needs nothing from the processor.
        parent = Context({**ctx, STAMPED: True}) if stamp(attributes, ctx) else ctx
        span = _runtime.tracer().start_span(
            span_name, context=parent, kind=self.span_kind, attributes=attributes
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
                if is_error(exc):
                    record_error(span, exc)
            elif result is not NO_RESULT and _runtime.content_capture_enabled():
                span.set_attribute(self.output_key, serialize(result))
        except Exception:
            logger.debug("agentops_otel: could not record the outcome of %s", self.name, exc_info=True)
        try:
            span.end()
        except Exception:
            logger.debug("agentops_otel: could not end the span of %s", self.name, exc_info=True)


class _Yields:
    """Values a generator yielded, kept as bounded JSON-ready data (no references to user objects)."""

    __slots__ = ("items", "walker")

    def __init__(self) -> None:
        self.walker = Walker()
        self.items: list[Any] = []

    def add(self, value: Any) -> None:
        if self.walker.nodes > 0 and self.walker.chars > 0:
            try:
                self.items.append(self.walker.walk(value))
            except Exception:
                self.items.append("<unserialisable>")


# -- wrappers ----------------------------------------------------------------------------------------
# ``otel_context.detach`` logs a failed reset (a generator closed in another context) and never raises.


def wrap_function(func: Callable[..., Any], recipe: Recipe) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            span, span_ctx = recipe.start(args, kwargs)
            token = attach_context(span_ctx)
        except Exception:
            logger.debug("agentops_otel: no span for %s", recipe.name, exc_info=True)
            return func(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            recipe.finish(span, exc, NO_RESULT)
            raise
        otel_context.detach(token)
        recipe.finish(span, None, result)
        return result

    return wrapper


def wrap_coroutine_function(func: Callable[..., Any], recipe: Recipe) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            span, span_ctx = recipe.start(args, kwargs)
            token = attach_context(span_ctx)
        except Exception:
            logger.debug("agentops_otel: no span for %s", recipe.name, exc_info=True)
            return await func(*args, **kwargs)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            recipe.finish(span, exc, NO_RESULT)
            raise
        otel_context.detach(token)
        recipe.finish(span, None, result)
        return result

    return wrapper


def wrap_generator_function(func: Callable[..., Any], recipe: Recipe) -> Callable[..., Any]:
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
            token = attach_context(span_ctx)
            try:
                gen = func(*args, **kwargs)
                value = next(gen)
            finally:
                otel_context.detach(token)
            while True:
                if yields is not None:
                    yields.add(value)
                try:
                    sent = yield value
                except GeneratorExit:
                    token = attach_context(span_ctx)
                    try:
                        gen.close()
                    finally:
                        otel_context.detach(token)
                    raise
                except BaseException as thrown:
                    token = attach_context(span_ctx)
                    try:
                        value = gen.throw(thrown)
                    finally:
                        otel_context.detach(token)
                else:
                    token = attach_context(span_ctx)
                    try:
                        value = gen.send(sent)
                    finally:
                        otel_context.detach(token)
        except StopIteration as stop:
            return stop.value
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            recipe.finish(span, outcome, NO_RESULT if yields is None or outcome else yields.items)

    return wrapper


def wrap_async_generator_function(func: Callable[..., Any], recipe: Recipe) -> Callable[..., Any]:
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
            token = attach_context(span_ctx)
            try:
                agen = func(*args, **kwargs)
                value = await agen.__anext__()
            finally:
                otel_context.detach(token)
            while True:
                if yields is not None:
                    yields.add(value)
                try:
                    sent = yield value
                except GeneratorExit:
                    token = attach_context(span_ctx)
                    try:
                        await agen.aclose()
                    finally:
                        otel_context.detach(token)
                    raise
                except BaseException as thrown:
                    token = attach_context(span_ctx)
                    try:
                        value = await agen.athrow(thrown)
                    finally:
                        otel_context.detach(token)
                else:
                    token = attach_context(span_ctx)
                    try:
                        value = await agen.asend(sent)
                    finally:
                        otel_context.detach(token)
        except StopAsyncIteration:
            return
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            recipe.finish(span, outcome, NO_RESULT if yields is None or outcome else yields.items)

    return wrapper
