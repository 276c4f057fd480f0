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
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
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


def internal_provider(resource: Any, *processors: Any) -> SdkTracerProvider | None:
    """A private SDK provider (never set globally) for the SDK's bookkeeping spans (start markers,
    heartbeats): same resource as the user's provider, and only our processors, so the user's own
    exporters never see those spans. None if it cannot be made."""
    kwargs: dict[str, Any] = {"shutdown_on_exit": False}
    if resource is not None:
        kwargs["resource"] = resource
    try:
        internal = SdkTracerProvider(**kwargs)
        for processor in processors:
            if processor is not None:
                internal.add_span_processor(processor)
    except Exception:
        logger.debug("agentops_otel: no internal provider", exc_info=True)
        return None
    return internal


def choose(tracer_provider: Any, service_name: str | None) -> tuple[Any, bool]:
    """The provider ``init`` joins (see the module docstring) and whether the SDK created it; one
    warning when it cannot take span processors."""
    given = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    provider = resolve(given)
    owns = False
    if isinstance(provider, trace.ProxyTracerProvider):
        if tracer_provider is not None:
            logger.warning(
                "agentops_otel: the tracer_provider passed to init() is OpenTelemetry's proxy and no "
                "provider is set behind it yet; the SDK creates and sets one"
            )
        ours = SdkTracerProvider(
            resource=Resource.create({SERVICE_NAME: service_name or "agentops"}),
            shutdown_on_exit=False,  # the client's exit hook shuts it down within the deadline
        )
        trace.set_tracer_provider(ours)
        provider = resolve(trace.get_tracer_provider())
        owns = provider is ours
    watch_late_providers()
    if not takes_processors(provider):
        logger.warning(
            "agentops_otel: the tracer provider %s cannot take span processors, so nothing will be "
            "recorded (tracing disabled, e.g. OTEL_SDK_DISABLED or OTEL_PYTHON_TRACER_PROVIDER?). "
            "Set an OpenTelemetry SDK TracerProvider before init(), or pass one as "
            "init(tracer_provider=...)",
            type(provider).__name__,
        )
    return provider, owns


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
