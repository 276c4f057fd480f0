"""Which tracer provider the client joins, and one clear warning wherever it cannot.

A user's provider may be the OpenTelemetry SDK's, or wrap one: Logfire's ``ProxyTracerProvider`` (a
dataclass, so unhashable, holding the SDK provider in ``.provider``), OpenTelemetry's own
``ProxyTracerProvider`` once a real provider is set behind it, a vendor's wrapper with
``add_span_processor``. :func:`resolve` finds the provider that takes span processors: the SDK provider
inside when there is one (our tracers then make plain SDK spans, so the session root can have the
session's ids), else the outermost object that takes processors.

OpenTelemetry keeps the first global provider it is given: a provider set after ``init`` is refused
with a terse "Overriding ... not allowed", and its exporters receive nothing of what the global
tracers make. :func:`watch_late_providers` says so once, with what to do (see docs/existing-setups.md).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

from agentops_otel import _sdk_compat

logger = logging.getLogger("agentops_otel")

#: Attributes under which known wrappers keep the provider they wrap (Logfire: ``provider``).
_INNER = ("provider", "_provider", "tracer_provider", "_tracer_provider", "_delegate", "_real_provider")
_MAX_DEPTH = 5


def takes_processors(provider: Any) -> bool:
    return callable(getattr(provider, "add_span_processor", None))


def resolve(provider: Any) -> Any:
    """The provider to attach to and record with (see the module docstring); ``provider`` itself when
    nothing inside it takes span processors."""
    found = provider if takes_processors(provider) else None
    current = provider
    for _ in range(_MAX_DEPTH):
        if isinstance(current, SdkTracerProvider):
            return current
        inner = _inner(current)
        if inner is None or inner is current:
            break
        current = inner
        if found is None and takes_processors(current):
            found = current
    return found if found is not None else provider


def _inner(provider: Any) -> Any:
    if isinstance(provider, trace.ProxyTracerProvider):
        # OpenTelemetry's proxy stands for the global provider once one is set.
        real = trace.get_tracer_provider()
        return None if isinstance(real, trace.ProxyTracerProvider) else real
    for name in _INNER:
        try:
            inner = getattr(provider, name, None)
        except Exception:
            continue
        if inner is not None and (isinstance(inner, trace.TracerProvider) or takes_processors(inner)):
            return inner
    return None


class Attached:
    """Providers that have our processors, by identity: some (Logfire's) cannot be hashed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: list[Any] = []

    def _alive(self) -> list[Any]:
        return [r for r in (ref() for ref in self._refs) if r is not None]

    def __contains__(self, provider: object) -> bool:
        with self._lock:
            return any(p is provider for p in self._alive())

    def add(self, provider: object) -> None:
        with self._lock:
            if any(p is provider for p in self._alive()):
                return
            try:
                self._refs.append(weakref.ref(provider))
            except TypeError:  # not weak-referenceable: kept alive, as the global provider is anyway
                self._refs.append(lambda provider=provider: provider)

    def discard(self, provider: object) -> None:
        with self._lock:
            self._refs = [ref for ref in self._refs if ref() is not provider and ref() is not None]


def internal_provider(resource: Any) -> SdkTracerProvider:
    """A private SDK provider (never set globally) for the SDK's bookkeeping spans."""
    kwargs: dict[str, Any] = {"shutdown_on_exit": False}
    if resource is not None:
        kwargs["resource"] = resource
    return SdkTracerProvider(**kwargs)


_watch_lock = threading.Lock()
_watching = False
_warned = False


def _refused(provider: object) -> None:
    global _warned
    if _warned:
        return
    _warned = True
    logger.warning(
        "agentops_otel: a tracer provider (%s) was set after agentops_otel.init(); OpenTelemetry keeps "
        "the first one, so that provider's exporters receive nothing from the global tracers (LLM "
        "calls, sessions, instrumentations). Set your provider up before calling init(), or add your "
        "span processors to the global provider: "
        "opentelemetry.trace.get_tracer_provider().add_span_processor(...)",
        type(provider).__name__,
    )


def watch_late_providers() -> None:
    """Warn once when a provider is set (and refused) after ``init``."""
    global _watching
    with _watch_lock:
        if _watching:
            return
        _watching = _sdk_compat.on_refused_tracer_provider(_refused)


def reset_warning() -> None:
    """Let the next refused provider warn again (tests, a client set up afresh)."""
    global _warned
    _warned = False
