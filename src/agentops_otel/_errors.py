"""Exceptions as recorded on spans and session roots: one way to name them, one way to record them."""

from __future__ import annotations

import sys

from opentelemetry.trace import Span, Status, StatusCode

from agentops_otel import semconv

_error_types: dict[type, str] = {}


def error_type(exc: BaseException | type[BaseException]) -> str:
    """``module.QualName`` of the exception's class, through its public module when re-exported.

    ``openai._exceptions.InternalServerError`` is ``openai.InternalServerError``: the shortest parent
    package that exposes the very same class is used. Builtins are bare (``ValueError``).
    """
    cls = exc if isinstance(exc, type) else type(exc)
    cached = _error_types.get(cls)
    if cached is not None:
        return cached
    module = getattr(cls, "__module__", None) or ""
    name = getattr(cls, "__qualname__", None) or cls.__name__
    if module in ("builtins", ""):
        result = name
    else:
        best = module
        parts = module.split(".")
        for i in range(len(parts) - 1, 0, -1):
            parent = ".".join(parts[:i])
            mod = sys.modules.get(parent)
            if mod is not None and getattr(mod, name, None) is cls:
                best = parent
        result = f"{best}.{name}"
    if len(_error_types) < 1024:
        _error_types[cls] = result
    return result


def is_error(exc: BaseException) -> bool:
    """False for the exceptions that end a generator or a program normally."""
    if isinstance(exc, (GeneratorExit, StopIteration, StopAsyncIteration)):
        return False
    return not (isinstance(exc, SystemExit) and exc.code in (None, 0))


def record_error(span: Span, exc: BaseException) -> None:
    """Status ERROR, ``error.type``, and the exception event (type, message, traceback)."""
    etype = error_type(exc)
    span.set_attribute(semconv.ERROR_TYPE, etype)
    try:
        message = str(exc)
    except Exception:
        message = ""
    span.set_status(Status(StatusCode.ERROR, f"{etype}: {message}"[:1024] if message else etype))
    try:
        span.record_exception(exc, escaped=True)
    except Exception:  # a broken __str__ must not cost us the rest
        span.add_event("exception", {"exception.type": etype})


def describe_exception(exc: BaseException) -> str:
    """A session's end-state reason for ``exc``: ``module.Name: message``."""
    if isinstance(exc, KeyboardInterrupt):
        return "SIGINT (KeyboardInterrupt): the process was interrupted"
    name = error_type(exc)
    try:
        message = str(exc)
    except Exception:
        message = ""
    return f"{name}: {message}" if message else name
