"""Where LangChain runs the work, our span of that run is made current, and left in the same frame.

LangChain fires a run's start and end callbacks from wherever it likes (an async graph node starts in
one task and ends in another), so a span attached in a start callback could stay current in a context
LangChain never comes back to. Instead the span is entered where the work runs:

- a chain's, graph node's or tool's body runs in a context LangChain copies for it
  (``_set_config_context``): the run's span is set there, in the copy only;
- a chat model's ``_generate_with_cache`` (invoke, batch, agents) enters and leaves around the call;
- a chat model's own ``stream()`` / ``astream()``: each step enters and leaves around its ``next``.
"""

from __future__ import annotations

import contextvars
from typing import Any, Protocol
from uuid import UUID

from agentops_otel import _sdk_compat
from agentops_otel.instrumentation._core import debug_failure, logger


class Recorder(Protocol):
    """What these wrappers need of ``_langchain.Recorder`` (no import back: no circle)."""

    patcher: Any

    def enter(self, run_id: UUID | None) -> object | None: ...


class Step:
    __slots__ = ("run_id", "token")

    def __init__(self, run_id: UUID | None) -> None:
        self.run_id = run_id
        self.token: object | None = None


# Set while one step of a chat model's own ``stream()`` / ``astream()`` runs (see _stream_steps).
STREAM_STEP: contextvars.ContextVar[Step | None] = contextvars.ContextVar("agentops_lc_step", default=None)


def leave(token: object | None) -> None:
    if token is not None and not _sdk_compat.detach_quietly(token):
        logger.debug("agentops_otel: a LangChain run's context was left from another context")


def config_context(recorder: Recorder) -> Any:
    """``_set_config_context`` runs inside the copied context LangChain makes for each runnable's body
    (chains, graph nodes, tools): the run's span is made current there, and only there."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        try:
            config = args[0] if args else kwargs.get("config")
            callbacks = config.get("callbacks") if isinstance(config, dict) else None
            parent = getattr(callbacks, "parent_run_id", None)
            if parent is not None and recorder.patcher.active:
                recorder.enter(parent)  # never left: the copied context is the body's own
        except Exception:
            debug_failure("entering a LangChain run")
        return result

    return wrapper


def generate(recorder: Recorder, is_async: bool) -> Any:
    """``_generate_with_cache``: the model run's span is current (with its watch) while it calls the SDK."""

    def enter(kwargs: dict[str, Any]) -> object | None:
        try:
            manager = kwargs.get("run_manager")
            return recorder.enter(getattr(manager, "run_id", None)) if manager is not None else None
        except Exception:
            debug_failure("entering a LangChain model run")
            return None

    if is_async:

        async def async_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            token = enter(kwargs)
            try:
                return await wrapped(*args, **kwargs)
            finally:
                leave(token)

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        token = enter(kwargs)
        try:
            return wrapped(*args, **kwargs)
        finally:
            leave(token)

    return wrapper


def stream_steps(recorder: Recorder, is_async: bool) -> Any:
    """A chat model's own ``stream()`` / ``astream()``: each step (``next``) runs with the model run's
    span current, entered and left within the step, whichever context the consumer steps it from."""

    def step_in(step: Step) -> tuple[object, object | None]:
        marker = STREAM_STEP.set(step)
        token = recorder.enter(step.run_id) if step.run_id is not None else None
        return marker, token

    def step_out(step: Step, marker: object, token: object | None) -> None:
        leave(step.token if token is None else token)
        step.token = None
        STREAM_STEP.reset(marker)  # type: ignore[arg-type]

    if is_async:

        async def async_gen(inner: Any) -> Any:
            step = Step(None)
            while True:
                marker, token = step_in(step)
                try:
                    chunk = await inner.__anext__()
                except StopAsyncIteration:
                    return
                finally:
                    step_out(step, marker, token)
                yield chunk

        def async_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return async_gen(wrapped(*args, **kwargs))

        return async_wrapper

    def gen(inner: Any) -> Any:
        step = Step(None)
        while True:
            marker, token = step_in(step)
            try:
                chunk = next(inner)
            except StopIteration:
                return
            finally:
                step_out(step, marker, token)
            yield chunk

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return gen(wrapped(*args, **kwargs))

    return wrapper
