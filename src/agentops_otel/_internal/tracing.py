"""The tracer provider the SDK records with: the one ``init`` attached to, else the global one.

Instrumentation and decorators call :func:`get_tracer` at call time (cached per provider), so they
work whichever order the user imports and initialises things in.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Tracer, TracerProvider

from agentops_otel._internal import attributes as attrs
from agentops_otel.version import __version__

_provider: TracerProvider | None = None
_tracers: dict[tuple[int, str], Tracer] = {}


def set_provider(provider: TracerProvider | None) -> None:
    global _provider
    _provider = provider
    _tracers.clear()


def get_provider() -> TracerProvider:
    return _provider if _provider is not None else trace.get_tracer_provider()


def get_tracer(scope: str = attrs.SDK_NAME, provider: TracerProvider | None = None) -> Tracer:
    """A tracer of ``provider`` (default: the SDK's provider), cached."""
    provider = provider if provider is not None else get_provider()
    key = (id(provider), scope)
    tracer = _tracers.get(key)
    if tracer is None:
        tracer = provider.get_tracer(scope, __version__)
        # A ProxyTracerProvider's tracer turns real once a provider is set: caching it is safe.
        _tracers[key] = tracer
    return tracer
