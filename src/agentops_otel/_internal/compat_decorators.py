"""The decorators of the ``agentops`` SDK, on ours.

- 0.3: ``record_action`` / ``record_function`` (-> ``@action``), ``record_tool`` (-> ``@tool``), both
  also taking the ``session=`` keyword 0.3 added to the decorated function; ``track_agent`` (-> ``@agent``,
  with the ``agentops_name=`` constructor keyword and a CrewAI-style ``role`` as the agent's name).
- 0.4: ``trace`` / ``session`` / ``track_endpoint``: each call is a session of its own (Success, or Fail
  with the exception; inside an active session, a span of it); ``operation`` / ``task`` / ``workflow``
  / ``guardrail`` (-> ``@action``); ``track_tool`` (-> ``@tool``). ``agent`` and ``tool`` (with
  ``cost=``) are ours, which take the 0.4 options.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from agentops_otel._errors import describe_exception, is_error
from agentops_otel._internal.client import get_client, init
from agentops_otel._internal.compat_session import as_tags
from agentops_otel._internal.decorators import action, agent, tool
from agentops_otel._internal.session import EndState
from agentops_otel._internal.wrappers import INSTANCE_NAME_ATTRIBUTE, default_name

logger = logging.getLogger("agentops_otel")

operation = task = workflow = guardrail = action
track_tool = tool


# -- 0.3 ----------------------------------------------------------------------------------------------


def _without_session_keyword(original: Callable[..., Any], decorated: Callable[..., Any]) -> Any:
    """agentops 0.3's wrappers took ``session=`` out of the call: so do these, unless the function
    has a parameter of that name."""
    try:
        if "session" in inspect.signature(original).parameters:
            return decorated
    except (TypeError, ValueError):
        return decorated
    if inspect.iscoroutinefunction(original):

        @functools.wraps(decorated)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs.pop("session", None)
            return await decorated(*args, **kwargs)

        return async_wrapper

    @functools.wraps(decorated)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("session", None)
        return decorated(*args, **kwargs)

    return wrapper


def _v03(ours: Callable[..., Any]) -> Callable[..., Any]:
    def decorator_factory(name: Any = None, **_: Any) -> Any:
        if callable(name):  # used bare: @record_action
            return _without_session_keyword(name, ours(name))

        def decorate(func: Callable[..., Any]) -> Any:
            return _without_session_keyword(func, ours(name)(func))

        return decorate

    return decorator_factory


record_action = _v03(action)
record_function = record_action
record_tool = _v03(tool)


def track_agent(name: Any = None, **_: Any) -> Any:
    """agentops 0.3's ``@track_agent(name=...)``: ``@agent``. On a class, the constructor also takes
    ``agentops_name=`` (that instance's name); without a name, a ``role`` attribute names the agent."""

    def decorate(obj: Any) -> Any:
        if isinstance(obj, type):
            _accept_agentops_name(obj, name)
        return agent(name)(obj) if name else agent(obj)

    if callable(name):
        obj, name = name, None
        return decorate(obj)
    return decorate


def _accept_agentops_name(cls: type, name: str | None) -> None:
    original: Any = cls.__init__  # type: ignore[misc]

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        own = kwargs.pop("agentops_name", None)
        original(self, *args, **kwargs)
        chosen = own or name or getattr(self, "role", None)
        if isinstance(chosen, str) and chosen:
            try:
                object.__setattr__(self, INSTANCE_NAME_ATTRIBUTE, chosen)
            except Exception:  # __slots__, frozen models: the class's name stays
                logger.debug("agentops_otel: cannot name agent %r", self, exc_info=True)

    cls.__init__ = __init__  # type: ignore[misc]


# -- 0.4: @trace -----------------------------------------------------------------------------------


class _Scope:
    """One call of a ``@trace`` function: a session of its own, or (one active already) a span in it."""

    _noted: set[str] = set()

    def __init__(self, name: str, tags: Any) -> None:
        self.name = name
        self.tags = as_tags(tags)

    def enter(self) -> bool:
        """True when this call started a session (False: it runs in the active one, as a span)."""
        client = get_client()
        if client.current_session_id() is not None:
            if self.name not in self._noted:
                self._noted.add(self.name)
                logger.info(
                    "agentops_otel: @trace %s runs inside session %s, as a span of it (one session at a "
                    "time; init(auto_start_session=False) makes each call a session of its own)",
                    self.name,
                    client.current_session_id(),
                )
            return False
        if not client.initialized:
            init(auto_start_session=False)
        return client.start_session(self.tags, name=self.name) is not None

    @staticmethod
    def exit(exc: BaseException | None) -> None:
        if exc is not None and is_error(exc):
            get_client().end_session(EndState.FAIL, describe_exception(exc))
        else:
            get_client().end_session(EndState.SUCCESS)


def trace(wrapped: Any = None, /, *, name: str | None = None, tags: Any = None, **_: Any) -> Any:
    """Each call of the decorated function is a session named after it (or ``name``): Success when it
    returns, Fail with the exception when it raises (agentops 0.4 said Indeterminate)."""
    if isinstance(wrapped, str):
        wrapped, name = None, wrapped
    if wrapped is None:
        return lambda func: _trace(func, name, tags)
    return _trace(wrapped, name, tags)


def _trace(func: Any, name: str | None, tags: Any) -> Any:
    if isinstance(func, type) or not callable(func):
        logger.warning(
            "agentops_otel: @trace on %r is not supported: decorate the function that runs the work",
            func,
        )
        return func
    session_name = name or default_name(func)
    nested = action(session_name)(func)  # what a call does inside an active session
    if inspect.isasyncgenfunction(func):
        return _trace_async_generator(func, nested, session_name, tags)
    if inspect.isgeneratorfunction(func):
        return _trace_generator(func, nested, session_name, tags)
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            scope = _Scope(session_name, tags)
            if not scope.enter():
                return await nested(*args, **kwargs)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                scope.exit(exc)
                raise
            scope.exit(None)
            return result

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scope = _Scope(session_name, tags)
        if not scope.enter():
            return nested(*args, **kwargs)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            scope.exit(exc)
            raise
        scope.exit(None)
        return result

    return wrapper


def _trace_generator(func: Any, nested: Any, session_name: str, tags: Any) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scope = _Scope(session_name, tags)
        if not scope.enter():
            return (yield from nested(*args, **kwargs))
        try:
            result = yield from func(*args, **kwargs)
        except BaseException as exc:
            scope.exit(exc)
            raise
        scope.exit(None)
        return result

    return wrapper


def _trace_async_generator(func: Any, nested: Any, session_name: str, tags: Any) -> Any:
    # Values sent with asend() are not passed on (agentops 0.4 did not either).
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        scope = _Scope(session_name, tags)
        own = scope.enter()
        source = func(*args, **kwargs) if own else nested(*args, **kwargs)
        try:
            async for item in source:
                yield item
        except BaseException as exc:
            if own:
                scope.exit(exc)
            raise
        if own:
            scope.exit(None)

    return wrapper


session = track_endpoint = trace
