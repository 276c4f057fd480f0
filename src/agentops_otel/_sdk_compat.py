"""Every use of OpenTelemetry's or CPython's private API, in one place.

Each item says why a public way does not do, so that a new SDK or interpreter release that breaks one
breaks here, where ``tests/test_sdk_compat.py`` runs each of them against the installed versions (CI
installs the newest releases the version ranges allow).

- Context keys: the SDK's "suppress instrumentation" keys (``suppress_instrumentation()`` is a context
  manager; the hot path of an LLM call needs the key itself, to build one context in one copy), and the
  key of the current span (``trace.set_span_in_context`` copies the context once per key).
- :func:`context_var_methods`: OpenTelemetry's default runtime context keeps the current context in
  a private ``ContextVar``; ``get_current()`` and ``attach()`` are two Python calls each around its
  ``get`` and ``set``, which an LLM call's wrapper calls directly.
- :func:`attributes_dropped`: the count of attributes a span dropped for its limit is kept by the
  SDK (``ReadableSpan.dropped_attributes``) but not on an open span's public API.
- :func:`add_valid_attributes`: ``Span.set_attributes`` checks every value in Python (four calls per
  attribute, about a fifth of what an LLM span costs the caller); the attributes an LLM call ends
  with are values of ours known to be valid, written in one locked update of the SDK's dict.
- :func:`tracer_with_ids`: the session root's trace and span ids are derived from the session id
  (SPEC.md section 3), and the SDK offers no way to choose them for one span of a provider it did not
  create; a shallow copy of the SDK tracer with another id generator does.
- :data:`BaseConfigurator`: ``opentelemetry-instrument`` loads configurators derived from it.
- :func:`on_refused_tracer_provider`: OpenTelemetry refuses a second global provider with a bare
  warning and no hook; every way of setting one (``set_tracer_provider``, imported by name or not, and
  the stock configurator) goes through the private ``opentelemetry.trace._set_tracer_provider``.
- :func:`records_nothing`: whether a tracer is a no-op, seen through OpenTelemetry's proxy tracer
  (whose delegate is private), so an LLM call with nothing to record it is not wrapped at all.
- :func:`global_meter_provider_set`: whether any global meter provider is set yet. Until one is, an
  instrument from the global meter is a proxy that drops what it is given; the API exposes no way to
  ask, and an LLM call should not pay for building and dropping three metric records.
- :func:`attributes_of`: an SDK span's attributes as the plain dict they are kept in. The public
  ``span.attributes`` wraps them in a mapping proxy over a ``Mapping`` subclass: a key read costs four
  Python calls, and the session processor reads two keys of every span.
- :func:`carry`/:func:`carried`: a value kept on an SDK span object itself (its instance ``__dict__``),
  so that it lives exactly as long as the span: the span API has no place for such a value, and a
  ``WeakKeyDictionary`` keeps its values (and whatever they refer to, the span included) alive.
- :func:`set_attributes_on_ending`: ``SpanProcessor._on_ending`` is the SDK's hook for a span about to
  end, but the SDK freezes the attributes just before calling it; another instrumentation's LLM span
  gets its cost there.
- :func:`restore_keyboard_interrupt_exit`: CPython's record of an unhandled KeyboardInterrupt (exit
  status 130) is lost when source text is evaluated at exit.
- The names of the ``threading.Thread`` and ``multiprocessing`` methods that run a thread's or a
  child process's body: wrapping them covers subclasses that override ``run()``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from multiprocessing.process import BaseProcess
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY, _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.metrics import _internal as _metrics_state
from opentelemetry.sdk._configuration import _BaseConfigurator
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace.propagation import _SPAN_KEY

logger = logging.getLogger("agentops_otel")

SUPPRESS_INSTRUMENTATION_KEY: Any = _SUPPRESS_INSTRUMENTATION_KEY
SUPPRESS_HTTP_INSTRUMENTATION_KEY: Any = _SUPPRESS_HTTP_INSTRUMENTATION_KEY
#: OpenLLMetry's key for "do not record LLM calls" (a plain string in its context).
SUPPRESS_LLM_INSTRUMENTATION_KEY = "suppress_language_model_instrumentation"
SPAN_KEY: str = _SPAN_KEY
BaseConfigurator: Any = _BaseConfigurator

#: The ``threading.Thread`` method that runs ``run()`` (covers subclasses that override ``run``).
THREAD_BODY = "_bootstrap_inner" if hasattr(threading.Thread, "_bootstrap_inner") else "run"
#: The ``BaseProcess`` method that runs a child's ``run()``, in the child.
PROCESS_BODY = "_bootstrap" if "_bootstrap" in BaseProcess.__dict__ else "run"


class _FixedIds(IdGenerator):
    """Hands the next root span the given ids; random ids for anything else."""

    def __init__(self, trace_id: int, span_id: int) -> None:
        self._trace_id = trace_id
        self._span_id = span_id
        self._random = RandomIdGenerator()

    def generate_trace_id(self) -> int:
        return self._trace_id

    def generate_span_id(self) -> int:
        return self._span_id

    def is_trace_id_random(self) -> bool:
        # A UUID4's low 7 bytes are random, which is what the W3C random-trace-id flag promises.
        return True


def tracer_with_ids(tracer: trace.Tracer, trace_id: int, span_id: int) -> trace.Tracer:
    """A copy of an SDK tracer whose roots get ``trace_id`` and ``span_id``; ``tracer`` itself when it
    is not the SDK's (then the ids are random, and one warning says so)."""
    if not hasattr(tracer, "id_generator"):
        logger.warning(
            "agentops_otel: the tracer provider is not the OpenTelemetry SDK's; the session root will "
            "not have the session's trace id"
        )
        return tracer
    copy = tracer.__class__.__new__(tracer.__class__)
    copy.__dict__.update(tracer.__dict__)
    copy.id_generator = _FixedIds(trace_id, span_id)
    return copy


_refused_callbacks: list[Callable[[Any], None]] = []


def on_refused_tracer_provider(callback: Callable[[Any], None]) -> bool:
    """Call ``callback(provider)`` whenever OpenTelemetry refuses to set ``provider`` as the global
    tracer provider (one was set already). False when the SDK's internals are not as expected."""
    original = getattr(trace, "_set_tracer_provider", None)
    if original is None:
        return False
    _refused_callbacks.append(callback)
    if getattr(original, "_agentops_watch", False):
        return True

    def set_tracer_provider(tracer_provider: Any, log: bool) -> None:
        original(tracer_provider, log)
        try:
            if log and trace.get_tracer_provider() is not tracer_provider:
                for refused in list(_refused_callbacks):
                    refused(tracer_provider)
        except Exception:
            logger.debug("agentops_otel: provider watch failed", exc_info=True)

    set_tracer_provider._agentops_watch = True  # type: ignore[attr-defined]
    trace._set_tracer_provider = set_tracer_provider
    return True


def records_nothing(tracer: Any) -> bool:
    """True for a no-op tracer, or OpenTelemetry's proxy tracer while no provider is set."""
    if isinstance(tracer, trace.NoOpTracer):
        return True
    if isinstance(tracer, trace.ProxyTracer):
        return isinstance(getattr(tracer, "_tracer", None), trace.NoOpTracer)
    return False


def global_meter_provider_set() -> bool:
    """Whether ``metrics.set_meter_provider`` (or ``opentelemetry-instrument``) has set a global meter
    provider: until then the global meter's instruments record nothing."""
    return _metrics_state._METER_PROVIDER is not None


def attributes_of(span: Any) -> Mapping[str, Any]:
    """The attributes of ``span`` (an SDK span, started or ended), to read: the SDK's own dict (a read
    needs no lock under the GIL), else the public ``attributes``, else an empty mapping."""
    try:
        # An SDK span's ``BoundedAttributes`` keeps them in ``_dict``: two attribute reads and no type
        # check, as this runs for every span of the process.
        return span._attributes._dict  # type: ignore[no-any-return]
    except AttributeError:
        return getattr(span, "attributes", None) or {}


def carry(span: Any, name: str, value: Any) -> bool:
    """Keep ``value`` on the span object under ``name``; False when the span takes no attribute of
    ours (a class with ``__slots__``)."""
    try:
        span.__dict__[name] = value
        return True
    except AttributeError:
        return False


def carried(span: Any, name: str, drop: bool = False) -> Any:
    """What :func:`carry` kept on ``span`` under ``name`` (None if nothing), taken off with ``drop``."""
    held = getattr(span, "__dict__", None)
    if held is None:
        return None
    return held.pop(name, None) if drop else held.get(name)


def set_attributes_on_ending(span: Any, attributes: dict[str, Any]) -> bool:
    """Add ``attributes`` to an SDK span inside ``SpanProcessor._on_ending`` (before any processor's
    ``on_end`` sees it). False when the span is not shaped as expected."""
    bounded = getattr(span, "_attributes", None)
    lock = getattr(span, "_lock", None)
    if bounded is None or lock is None or not hasattr(bounded, "_immutable"):
        return False
    with lock:
        frozen = bounded._immutable
        bounded._immutable = False
        try:
            for key, value in attributes.items():
                bounded[key] = value
        finally:
            bounded._immutable = frozen
    return True


def restore_keyboard_interrupt_exit() -> None:
    """Keep the exit status of a program that died of KeyboardInterrupt (130, or killed by SIGINT).

    CPython records the unhandled KeyboardInterrupt in a flag that every evaluation of source text
    clears, and code run at exit can do that: importing ``ssl`` or protobuf modules, any namedtuple or
    dataclass definition. Evaluating a ``raise KeyboardInterrupt`` sets the flag again, as the
    interpreter did when the program ended.
    """
    with contextlib.suppress(KeyboardInterrupt):
        exec("raise KeyboardInterrupt")


def detach_quietly(token: object) -> bool:
    """Detaches a context token; False, with nothing logged, when it was made in another context (a
    framework that ends in one task or thread what it started in another). The API's ``detach`` logs
    that case as an error, which is the framework's doing, not the user's."""
    from opentelemetry.context import _RUNTIME_CONTEXT

    try:
        _RUNTIME_CONTEXT.detach(token)  # type: ignore[arg-type]
        return True
    except Exception:
        return False


def context_var_methods() -> tuple[Callable[[], Any], Callable[[Any], Any]] | None:
    """``get`` and ``set`` of the ``ContextVar`` behind OpenTelemetry's runtime context, when it is the
    default (contextvars) one: what ``context.get_current()`` and ``context.attach()`` do, without
    their two Python calls each (``detach`` stays OpenTelemetry's: it logs a failed reset instead of
    raising). None for any other runtime context (``OTEL_PYTHON_CONTEXT``)."""
    from contextvars import ContextVar

    from opentelemetry import context
    from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext

    runtime = getattr(context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if type(runtime) is not ContextVarsRuntimeContext or not isinstance(var, ContextVar):
        return None
    return var.get, var.set


def add_valid_attributes(span: Any, attributes: Mapping[str, Any]) -> bool:
    """``span.set_attributes(attributes)`` for an open SDK span, in one update of its attribute dict
    (under the span's and the dict's locks, as the SDK takes them), when no attribute limit could apply
    (a value length limit, or the count limit within reach). The caller guarantees what the SDK would
    otherwise check: non-empty string keys, and values it stores unchanged (str, bool, int, float, or a
    tuple of str). False, and nothing written, otherwise: then ``set_attributes`` does it the SDK's way
    (cleaning, truncating, dropping)."""
    try:
        bounded = span._attributes
        span_lock = span._lock
        if type(bounded) is not BoundedAttributes or bounded.max_value_len is not None:
            return False
        maxlen = bounded.maxlen
        with span_lock, bounded._lock:
            inner = bounded._dict
            if span._end_time is not None or (maxlen is not None and len(inner) + len(attributes) > maxlen):
                return False
            inner.update(attributes)
        return True
    except AttributeError:
        return False


def attributes_dropped(span: Any) -> int:
    """How many attributes an SDK span dropped for its count limit (0 for any other span)."""
    try:
        return int(span._attributes.dropped)
    except (AttributeError, TypeError, ValueError):
        return 0
