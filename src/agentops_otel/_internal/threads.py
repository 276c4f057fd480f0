"""Sessions follow the work: carry the OpenTelemetry context into threads and thread pools.

Python starts every thread with an empty context, so spans started there would lose their parent and
the session. With :func:`enable` (called by ``init`` when ``Configuration.propagate_context_to_threads``
is on, the default):

- ``threading.Thread``: the context current at ``start()`` (the moment work is handed over) is
  attached for the thread's whole run. It is applied around ``Thread._bootstrap_inner``, so subclasses
  that override ``run()`` are covered too; threads started before ``enable()`` are left alone.
- ``concurrent.futures.ThreadPoolExecutor.submit`` (and so ``map`` and ``loop.run_in_executor``): the
  context current at ``submit()`` is attached around that one task. Pool worker threads themselves
  (``concurrent.futures``, ``multiprocessing.pool``) inherit nothing, so a worker never keeps the
  context of whoever happened to start it.
- Our own threads (named ``agentops-*``, e.g. the export worker) inherit nothing either, so spans of
  the export path never join the user's trace.

asyncio tasks need nothing: they copy the context when created.

:func:`disable` turns this off and unwraps what it can (if something wrapped the same methods after
us, our wrappers stay in place as pass-throughs). Both are idempotent and thread-safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from agentops_otel import _sdk_compat

logger = logging.getLogger("agentops_otel.threads")

_CONTEXT_ATTR = "_agentops_otel_context"
_OWN_THREAD_PREFIX = "agentops-"
_POOL_MODULES = frozenset({"concurrent.futures.thread", "multiprocessing.pool"})

_lock = threading.Lock()
_enabled = False
# (owner, attribute) -> the wrapper we installed there, while it is installed.
_installed: dict[tuple[type, str], Any] = {}


def is_enabled() -> bool:
    return _enabled


def _inherits(thread: threading.Thread) -> bool:
    if thread.name.startswith(_OWN_THREAD_PREFIX):
        return False
    target = getattr(thread, "_target", None)
    return getattr(target, "__module__", None) not in _POOL_MODULES


def _thread_start(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    if _enabled:
        try:
            ctx = otel_context.get_current()
            if ctx and _inherits(instance):
                setattr(instance, _CONTEXT_ATTR, ctx)
        except Exception:
            logger.debug("agentops_otel: could not capture the context for a thread", exc_info=True)
    return wrapped(*args, **kwargs)


def _thread_bootstrap(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        # Taken off the thread object so it does not keep spans alive after the thread ends.
        ctx = instance.__dict__.pop(_CONTEXT_ATTR, None)
    except Exception:
        ctx = None
    if not isinstance(ctx, Context):
        return wrapped(*args, **kwargs)
    token = otel_context.attach(ctx)
    try:
        return wrapped(*args, **kwargs)
    finally:
        otel_context.detach(token)


def _in_context(ctx: Context, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run_in_context(*args: Any, **kwargs: Any) -> Any:
        token = otel_context.attach(ctx)
        try:
            return fn(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return run_in_context


def _executor_submit(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    if _enabled and args:
        try:
            ctx = otel_context.get_current()
            if ctx:
                args = (_in_context(ctx, args[0]), *args[1:])
        except Exception:
            logger.debug("agentops_otel: could not capture the context for a task", exc_info=True)
    return wrapped(*args, **kwargs)


def _targets() -> list[tuple[type, str, Callable[..., Any]]]:
    from concurrent.futures import ThreadPoolExecutor

    return [
        (threading.Thread, "start", _thread_start),
        (threading.Thread, _sdk_compat.THREAD_BODY, _thread_bootstrap),
        (ThreadPoolExecutor, "submit", _executor_submit),
    ]


def enable() -> None:
    """Carry the context into threads and thread pools started from now on."""
    global _enabled
    with _lock:
        for owner, name, hook in _targets():
            if (owner, name) in _installed:
                continue
            try:
                wrapt.wrap_function_wrapper(owner, name, hook)
                _installed[(owner, name)] = owner.__dict__[name]
            except Exception:
                logger.warning("agentops_otel: cannot carry context through %s.%s", owner.__name__, name)
        _enabled = True


def disable() -> None:
    """Stop carrying the context; restore the original methods where nobody wrapped them after us."""
    global _enabled
    with _lock:
        _enabled = False
        for (owner, name), wrapper in list(_installed.items()):
            original = wrapper.__wrapped__
            if owner.__dict__.get(name) is wrapper:
                setattr(owner, name, original)
                del _installed[(owner, name)]
            # else: someone wrapped on top of us; ours stays as a pass-through (``_enabled`` is off),
            # except _thread_bootstrap, which only applies contexts captured while enabled.
