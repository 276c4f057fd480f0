"""The sync and async wrapper of the integrations whose work is all before and after the wrapped call
(Google Gen AI, LiteLLM, CrewAI), so that work is written once for both.

``begin(instance, args, kwargs)`` reads the call and returns an :class:`Around` (None: pass through);
the wrapper calls the method with the arguments it holds, then hands it the outcome: ``failed`` or
``returned``. The two wrappers differ only in ``await``. The OpenAI and Anthropic wrappers
(``_wrapping``) do more between the two (raw and streaming responses, another instrumentation's span to
adopt) and keep their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from agentops_otel.instrumentation._core import LLMCall, call_context
from agentops_otel.instrumentation._wrapping import Switch


class Around(Protocol):
    """One wrapped call under way: what to call the method with, then exactly one of the two endings.
    Neither ending raises."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def failed(self, error: BaseException) -> None:
        """The method raised ``error``; it reaches the caller after this."""
        ...

    def returned(self, result: Any) -> Any:
        """The method returned ``result``: what the caller gets (``result``, or a proxy of it)."""
        ...


#: Reads a call: ``(instance, args, kwargs) -> Around | None``; never raises.
Begin = Callable[[Any, tuple[Any, ...], dict[str, Any]], "Around | None"]


def wrapper(switch: Switch, begin: Begin, is_async: bool) -> Callable[..., Any]:
    """The wrapt wrapper of one method: passes the call through while ``switch`` is off or ``begin``
    returns None."""
    if is_async:

        async def async_wrapper(
            wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            around = begin(instance, args, kwargs) if switch.active else None
            if around is None:
                return await wrapped(*args, **kwargs)
            try:
                result = await wrapped(*around.args, **around.kwargs)
            except BaseException as exc:
                around.failed(exc)
                raise
            return around.returned(result)

        return async_wrapper

    def sync_wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        around = begin(instance, args, kwargs) if switch.active else None
        if around is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*around.args, **around.kwargs)
        except BaseException as exc:
            around.failed(exc)
            raise
        return around.returned(result)

    return sync_wrapper


class LLMTarget(Protocol):
    """One wrapped LLM method: reads what its calls return."""

    def finish(self, around: LLMAround, result: Any) -> Any:
        """Reads ``result`` and ends ``around.call``, or returns a stream proxy that ends it with the
        stream; never raises."""
        ...


class LLMAround:
    """An LLM call around the wrapped one: the call's context (see ``call_context``) is current from
    construction until the method returns or raises; a failure ends the call with the error, a result
    goes to the target's ``finish``. ``state`` is the target's, for that."""

    __slots__ = ("args", "call", "kwargs", "state", "target", "token")

    def __init__(
        self,
        target: LLMTarget,
        call: LLMCall,
        ctx: Context,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        state: Any = None,
    ) -> None:
        self.target = target
        self.call = call
        self.args = args
        self.kwargs = kwargs
        self.state = state
        self.token = otel_context.attach(call_context(call, ctx))  # last: nothing after it can raise

    def failed(self, error: BaseException) -> None:
        otel_context.detach(self.token)
        self.call.end(error)

    def returned(self, result: Any) -> Any:
        otel_context.detach(self.token)
        return self.target.finish(self, result)
