"""The wrapper shared by every instrumented method: sync and async, plain, streamed and raw results."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from agentops_otel.instrumentation._core import (
    LLMCall,
    Telemetry,
    attach_context,
    call_context,
    context_without_session_baggage,
    debug_failure,
    foreign_llm_span,
    raw_mode,
    replace_parsed,
    unsuppressed_context,
)
from agentops_otel.instrumentation._streams import Accumulator, wrap_stream


class Operation(Protocol):
    """What one provider method contributes: request attributes, response attributes, a stream reader."""

    def begin(
        self, telemetry: Telemetry, client: Any, kwargs: dict[str, Any], ctx: Context | None = None
    ) -> tuple[LLMCall, dict[str, Any], Any] | None:
        """Prepares the call in ``ctx`` (the caller's context, default: current); returns it, the kwargs
        to call with, and state for the stream reader."""
        ...

    def response(self, call: LLMCall, result: Any) -> None: ...

    def accumulator(self, call: LLMCall, state: Any, stream: Any) -> Accumulator:
        """The reader of ``stream`` (the SDK's, not yet read) for this call."""
        ...


class Switch(Protocol):
    """The instrumentor: wrappers pass through while it is not instrumenting."""

    active: bool
    telemetry: Telemetry | None


def _complete(
    op: Operation, call: LLMCall, state: Any, kwargs: dict[str, Any], result: Any, target: Any, is_async: bool
) -> Any:
    """Reads a result: a stream gets a proxy (the span ends with it), anything else ends the span now.

    Sync or async follows the method, not the result's type: another instrumentation's stream wrapper
    (contrib openai-v2's) defines both ``__next__`` and ``__anext__``."""
    if kwargs.get("stream") is True and hasattr(type(target), "__anext__" if is_async else "__next__"):
        proxy = wrap_stream(target, call, op.accumulator(call, state, target), is_async)
        if target is result:
            return proxy
        if not replace_parsed(result, target, proxy):
            call.end()
        return result
    op.response(call, target)
    call.end()
    return result


def adopt_streaming_response(
    op: Operation, call: LLMCall, state: Any, kwargs: dict[str, Any], raw: Any, is_async: bool
) -> bool:
    """``with_streaming_response.create(stream=True)`` (the Agents SDK streams this way): the events
    are read from ``raw.parse()``, so that parse hands back our stream proxy and the span ends with the
    stream; if the body is never parsed, the span ends when the raw response is collected."""
    if kwargs.get("stream") is not True or not callable(getattr(raw, "parse", None)):
        return False
    original = raw.parse

    def adopt(parsed: Any) -> Any:
        if hasattr(type(parsed), "__next__") or hasattr(type(parsed), "__anext__"):
            return wrap_stream(parsed, call, op.accumulator(call, state, parsed), is_async)
        call.end()
        return parsed

    if is_async:

        async def parse_async(*args: Any, **kw: Any) -> Any:
            parsed = await original(*args, **kw)
            return parsed if kw.get("to") is not None else adopt(parsed)

        raw.parse = parse_async
    else:

        def parse(*args: Any, **kw: Any) -> Any:
            parsed = original(*args, **kw)
            return parsed if kw.get("to") is not None else adopt(parsed)

        raw.parse = parse
    weakref.finalize(raw, call.end)
    return True


def sync_wrapper(switch: Switch, op: Operation) -> Callable[..., Any]:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        telemetry = switch.telemetry
        if not switch.active or telemetry is None:
            return wrapped(*args, **kwargs)
        ctx = unsuppressed_context()
        if ctx is None:
            return wrapped(*args, **kwargs)
        begun = None
        try:
            begun = op.begin(telemetry, getattr(instance, "_client", None), kwargs, ctx)
        except Exception:
            debug_failure("starting an LLM span")
        if begun is None:
            ctx = context_without_session_baggage()
            if ctx is None:
                return wrapped(*args, **kwargs)
            token = otel_context.attach(ctx)
            try:
                return wrapped(*args, **kwargs)
            finally:
                otel_context.detach(token)
        call, call_kwargs, state = begun
        other = foreign_llm_span(ctx)
        if other is not None:
            call.adopt(other)  # it wraps us and records this call: enrich it, add no span
        token = attach_context(call_context(call, ctx))
        try:
            result = wrapped(*args, **call_kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            call.end(exc)
            raise
        otel_context.detach(token)
        call.resolve()  # our span now, unless an instrumentation under us recorded the call
        try:
            mode = raw_mode(kwargs) if kwargs.get("extra_headers") else None
            if mode == "stream":
                if not adopt_streaming_response(op, call, state, call_kwargs, result, False):
                    call.end()
                return result
            target = result.parse() if mode == "raw" else result
            return _complete(op, call, state, call_kwargs, result, target, False)
        except Exception:
            debug_failure("reading an LLM response")
            call.end()
            return result

    return wrapper


def async_wrapper(switch: Switch, op: Operation) -> Callable[..., Awaitable[Any]]:
    async def wrapper(
        wrapped: Callable[..., Awaitable[Any]], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        telemetry = switch.telemetry
        if not switch.active or telemetry is None:
            return await wrapped(*args, **kwargs)
        ctx = unsuppressed_context()
        if ctx is None:
            return await wrapped(*args, **kwargs)
        begun = None
        try:
            begun = op.begin(telemetry, getattr(instance, "_client", None), kwargs, ctx)
        except Exception:
            debug_failure("starting an LLM span")
        if begun is None:
            ctx = context_without_session_baggage()
            if ctx is None:
                return await wrapped(*args, **kwargs)
            token = otel_context.attach(ctx)
            try:
                return await wrapped(*args, **kwargs)
            finally:
                otel_context.detach(token)
        call, call_kwargs, state = begun
        other = foreign_llm_span(ctx)
        if other is not None:
            call.adopt(other)  # it wraps us and records this call: enrich it, add no span
        token = attach_context(call_context(call, ctx))
        try:
            result = await wrapped(*args, **call_kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            call.end(exc)
            raise
        otel_context.detach(token)
        call.resolve()  # our span now, unless an instrumentation under us recorded the call
        try:
            mode = raw_mode(kwargs) if kwargs.get("extra_headers") else None
            if mode == "stream":
                if not adopt_streaming_response(op, call, state, call_kwargs, result, True):
                    call.end()
                return result
            target = result
            if mode == "raw":
                target = result.parse()
                if inspect.isawaitable(target):
                    target = await target
            return _complete(op, call, state, call_kwargs, result, target, True)
        except Exception:
            debug_failure("reading an LLM response")
            call.end()
            return result

    return wrapper
