"""The process's runtime state, in one place: what ``init`` set up and what is active now.

- the configuration in force (read by instrumentation and pricing: content capture, prices);
- the id of the active session (at most one per process);
- the tracer provider the SDK records with, and a cache of its tracers.

Each value is one reference, replaced as a whole and never mutated, so readers need no lock; the
client is the only writer (:mod:`agentops_otel._internal.client`). :func:`reset` forgets everything
(tests, notebooks). This module imports nothing of the package but the bottom layer.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import Tracer, TracerProvider

from agentops_otel import semconv
from agentops_otel._config import Configuration
from agentops_otel.version import __version__


class _State:
    __slots__ = ("config", "internal_provider", "provider", "session_id", "tracers")

    def __init__(self) -> None:
        self.config: Configuration | None = None
        self.session_id: str | None = None
        self.provider: TracerProvider | None = None
        self.internal_provider: TracerProvider | None = None
        self.tracers: dict[tuple[int, str], tuple[TracerProvider, Tracer]] = {}


_state = _State()


# -- configuration -------------------------------------------------------------------------------------


def config() -> Configuration:
    """The configuration of ``init`` (or of the active session), else one read from the environment."""
    current = _state.config
    if current is None:
        current = _state.config = Configuration.from_env()
    return current


def set_config(value: Configuration | None) -> None:
    _state.config = value


def content_capture_enabled() -> bool:
    """Whether prompts, completions, arguments and results may be recorded."""
    return config().capture_content


# -- the active session ----------------------------------------------------------------------------------


def session_id() -> str | None:
    """The id of the process's active session, or None."""
    return _state.session_id


def set_session_id(value: str | None) -> None:
    _state.session_id = value


# -- tracing ---------------------------------------------------------------------------------------------

#: Providers times scopes: a program that makes providers without end (tests) empties the cache now and then.
_MAX_TRACERS = 256


def provider() -> TracerProvider:
    """The provider ``init`` attached to, else the global one."""
    current = _state.provider
    return current if current is not None else trace.get_tracer_provider()


def set_provider(value: TracerProvider | None) -> None:
    _state.provider = value
    _state.tracers = {}


def tracer(scope: str = semconv.SDK_NAME, of: TracerProvider | None = None) -> Tracer:
    """A tracer of ``of`` (default: :func:`provider`), cached per provider and scope."""
    source = of if of is not None else provider()
    key = (id(source), scope)
    tracers = _state.tracers
    found = tracers.get(key)
    # The entry holds its provider: a provider made after another was freed can have the freed one's
    # id, and must not get that provider's tracer.
    if found is None or found[0] is not source:
        if len(tracers) >= _MAX_TRACERS:
            tracers.clear()
        # A ProxyTracerProvider's tracer turns real once a provider is set: caching it is safe.
        found = tracers[key] = (source, source.get_tracer(scope, __version__))
    return found[1]


def set_internal_provider(value: TracerProvider | None) -> None:
    """The provider of the SDK's own bookkeeping spans (start markers, heartbeats): its spans go to
    our export path only, never to the user's exporters."""
    _state.internal_provider = value


def internal_tracer() -> Tracer:
    """A tracer for bookkeeping spans (see :func:`set_internal_provider`); the SDK's tracer when no
    internal provider is set."""
    internal = _state.internal_provider
    return tracer(semconv.SDK_NAME, internal) if internal is not None else tracer()


def reset() -> None:
    """Forget the configuration, the active session and the providers."""
    _state.config = None
    _state.session_id = None
    _state.internal_provider = None
    set_provider(None)
