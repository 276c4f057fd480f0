"""Services: a request whose headers carry a valid session joins it, under any contrib server instrumentation.

The OpenTelemetry server instrumentations (ASGI, and so FastAPI and Starlette; WSGI; Flask; Django;
Falcon; Pyramid; ...) start their request span through one helper,
``opentelemetry.instrumentation.utils._start_internal_or_server_span``. It reads the inbound
``traceparent``/``baggage`` only when no span is current; otherwise the request becomes an INTERNAL child
of whatever is current. In a service with a session of its own, that is the session root, current for
the whole process (threads and tasks inherit it), so every request would land in the service's
session and the caller's trace and session would be ignored.

:func:`enable` replaces that helper, in ``opentelemetry.instrumentation.utils`` and in every module that
already imported it by name, with :func:`start_server_span`: when the current span is a session root
of ours and the inbound headers carry a valid session (SPEC section 3: a ``session.id`` baggage member
equal to the inbound trace id, or any one with ``trust_inbound_session``), the request starts a SERVER
span under the caller's span in the extracted context, so all work under it carries the caller's
session. Any other request goes to the original helper and behaves as before. The contrib helper is
private API, hence the replacement is kept here and tested against the installed release.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from agentops_otel import _runtime
from agentops_otel._internal.context import SESSION_KEY, inbound_session_id, root_span_id_of, trace_id_of

logger = logging.getLogger("agentops_otel")

_HELPER = "_start_internal_or_server_span"
_UTILS = "opentelemetry.instrumentation.utils"
_PARAMS = ("tracer", "span_name", "start_time", "context_carrier", "context_getter", "attributes")

_lock = threading.Lock()
_original: Callable[..., Any] | None = None  # kept after disable(): a module may still hold ours
_replaced: list[Any] = []  # modules whose global name we replaced
_wanted = False  # between enable() and disable()
_hooked = False  # the import hook for a utils module not yet imported is registered


def _session_root_is_current(ctx: Context) -> bool:
    """Whether the current span of ``ctx`` is the root of the active (or context's) session."""
    span_context = trace.get_current_span(ctx).get_span_context()
    if not span_context.is_valid:
        return False
    sid = ctx.get(SESSION_KEY) or _runtime.session_id()
    if not isinstance(sid, str):
        return False
    try:
        return span_context.span_id == root_span_id_of(sid) and span_context.trace_id == trace_id_of(sid)
    except ValueError:
        return False


def inbound_session_context(carrier: Any, getter: Any) -> Context | None:
    """The context extracted from ``carrier`` when the request should join its caller's session.

    None when the request should be served as before: no session root of ours is current (the contrib
    helper extracts the headers itself then), or the headers carry no valid session.
    """
    current = otel_context.get_current()
    if not _session_root_is_current(current):
        return None
    if getter is not None:
        extracted = propagate.extract(carrier, getter=getter)
    else:
        extracted = propagate.extract(carrier)
    span_context = trace.get_current_span(extracted).get_span_context()
    if not span_context.is_valid:
        return None
    trust = _runtime.config().trust_inbound_session
    if inbound_session_id(extracted, span_context.trace_id, trust) is None:
        return None
    return extracted


def start_server_span(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Drop-in for the contrib helper: ``(span, token)``; the caller detaches ``token`` when not None."""
    original = _original
    assert original is not None
    values = dict(zip(_PARAMS, args, strict=False))
    values.update(kwargs)
    try:
        inbound = inbound_session_context(values.get("context_carrier"), values.get("context_getter"))
    except Exception:
        logger.debug("agentops_otel: reading an inbound session failed", exc_info=True)
        inbound = None
    if inbound is None:
        return original(*args, **kwargs)  # type: ignore[no-any-return]
    token = otel_context.attach(inbound)
    try:
        span = values["tracer"].start_span(
            name=values["span_name"],
            context=inbound,
            kind=SpanKind.SERVER,
            start_time=values.get("start_time"),
            attributes=values.get("attributes"),
        )
    except BaseException:
        otel_context.detach(token)
        raise
    return span, token


def enable() -> bool:
    """Replace the contrib helper (now and for modules imported later). False when it is not installed.

    Before its module is imported nothing can hold the helper, so the module is left unimported (it
    costs ``init()`` about a millisecond) and the helper is replaced by an import hook when it loads."""
    global _wanted, _hooked
    with _lock:
        _wanted = True
        utils = sys.modules.get(_UTILS)
        if utils is None:
            if importlib.util.find_spec(_UTILS.rpartition(".")[0]) is None:
                return False
            if not _hooked:  # wrapt cannot remove a hook: it checks _wanted when it runs
                wrapt.register_post_import_hook(_on_import, _UTILS)
                _hooked = True
            return True
        return _replace(utils)


def _on_import(utils: Any) -> None:
    # Runs inside the user's import statement: nothing of ours may escape into it.
    try:
        with _lock:
            if _wanted:
                _replace(utils)
    except Exception:
        logger.debug("agentops_otel: could not replace %s.%s", _UTILS, _HELPER, exc_info=True)


def _replace(utils: Any) -> bool:
    global _original
    current = getattr(utils, _HELPER, None)
    if current is None:
        logger.debug("agentops_otel: %s.%s not found; services keep their own sessions", _UTILS, _HELPER)
        return False
    if current is start_server_span:
        return True
    _original = current
    setattr(utils, _HELPER, start_server_span)
    _replaced.append(utils)
    # Instrumentations imported before us hold the original under their own name.
    for name, module in list(sys.modules.items()):
        if not name.startswith("opentelemetry.instrumentation.") or module is utils:
            continue
        namespace = getattr(module, "__dict__", None)  # sys.modules may hold any object
        if isinstance(namespace, dict) and namespace.get(_HELPER) is current:
            setattr(module, _HELPER, start_server_span)
            _replaced.append(module)
    return True


def disable() -> None:
    """Put the contrib helper back where :func:`enable` replaced it."""
    global _wanted
    with _lock:
        _wanted = False
        original = _original
        while original is not None and _replaced:
            module = _replaced.pop()
            if vars(module).get(_HELPER) is start_server_span:
                setattr(module, _HELPER, original)
