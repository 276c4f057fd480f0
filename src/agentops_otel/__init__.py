"""agentops_otel: sessions, LLM instrumentation and export for AI agents, on OpenTelemetry.

    import agentops_otel

    agentops_otel.init()                 # starts a session; spans go to the local store by default
    ...                                  # OpenAI/Anthropic calls, @agent/@tool/@action functions
    agentops_otel.end_session("Success")

Everything public is here; the modules under ``agentops_otel._internal`` are not API.

Code written for the ``agentops`` SDK (0.3 and 0.4) runs with ``import agentops_otel as agentops``:
the second half of ``__all__`` holds its names (``track_agent``, ``record_action``, ``start_trace``,
``add_tags``, ...), and ``agentops_otel.sdk.decorators`` its decorators module. What each becomes here
is in docs/migrating-from-agentops.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.trace import TracerProvider

from agentops_otel._config import Configuration
from agentops_otel._internal import compat as _compat
from agentops_otel._internal import compat_session as _compat_session
from agentops_otel._internal.client import Client, get_client
from agentops_otel._internal.compat import (
    configure,
    create_agent,
    end_all_sessions,
    get_api_key,
    get_session,
    set_api_key,
    set_parent_key,
    stop_instrumenting,
    update_trace_metadata,
)
from agentops_otel._internal.compat_decorators import (
    guardrail,
    operation,
    record_action,
    record_function,
    record_tool,
    session,
    task,
    trace,
    track_agent,
    track_endpoint,
    track_tool,
    workflow,
)
from agentops_otel._internal.compat_session import Session
from agentops_otel._internal.compat_trace import TraceContext, TraceState, end_trace, start_trace
from agentops_otel._internal.decorators import action, agent, tool
from agentops_otel._internal.events import ActionEvent, ErrorEvent, LLMEvent, ToolEvent, record
from agentops_otel._internal.session import EndState
from agentops_otel.version import __version__

#: agentops 0.4's module-level end states.
SUCCESS = TraceState.SUCCESS
ERROR = TraceState.ERROR
UNSET = TraceState.UNSET

# Two groups, each sorted: the API of SPEC.md section 2, then the agentops SDK's names.
__all__ = [  # noqa: RUF022
    # -- the API of SPEC.md section 2
    "ActionEvent",
    "Client",
    "Configuration",
    "EndState",
    "ErrorEvent",
    "LLMEvent",
    "Session",
    "ToolEvent",
    "__version__",
    "action",
    "agent",
    "current_session_id",
    "end_session",
    "get_client",
    "init",
    "record",
    "start_session",
    "tool",
    # -- the agentops SDK's names (docs/migrating-from-agentops.md)
    "ERROR",
    "SUCCESS",
    "TraceContext",
    "TraceState",
    "add_tags",
    "configure",
    "create_agent",
    "end_all_sessions",
    "end_trace",
    "get_api_key",
    "get_session",
    "guardrail",
    "operation",
    "record_action",
    "record_function",
    "record_tool",
    "session",
    "set_api_key",
    "set_parent_key",
    "set_tags",
    "start_trace",
    "stop_instrumenting",
    "task",
    "trace",
    "track_agent",
    "track_endpoint",
    "track_tool",
    "update_trace_metadata",
    "workflow",
]


def init(
    api_key: str | None = None,
    *,
    endpoint: str | None = None,
    tags: Iterable[str] | str | None = None,
    auto_start_session: bool = True,
    inherited_session_id: str | None = None,
    tracer_provider: TracerProvider | None = None,
    instrument_llm_calls: bool = True,
    config: Configuration | None = None,
    **options: Any,
) -> Session | None:
    """Set up the client and start a session (unless ``auto_start_session=False``).

    Returns the session id, or None. The id is a :class:`Session`: a ``str`` that also has the session
    methods (``record``, ``end_session``, ``add_tags``, ``get_analytics``). Settings come from keyword
    arguments, then ``config`` (or the ``AGENTOPS_*`` and ``OTEL_*`` environment when no ``config`` is
    given); ``options`` are :class:`Configuration` fields, or the ``agentops`` SDK's ``init`` options
    (``default_tags``, ``trace_name``, ``max_wait_time``, ``skip_auto_end_session``, ``log_level``, ...:
    each mapped to ours or accepted with a note). Never raises for a bad key or an unreachable backend
    and never waits on the network: export happens on a background thread. Calling it again returns
    the active session.
    """
    return _compat.init(
        api_key,
        endpoint=endpoint,
        tags=tags,
        auto_start_session=auto_start_session,
        inherited_session_id=inherited_session_id,
        tracer_provider=tracer_provider,
        instrument_llm_calls=instrument_llm_calls,
        config=config,
        **options,
    )


def start_session(
    tags: Iterable[str] | str | None = None,
    *,
    name: str | None = None,
    inherited_session_id: str | None = None,
    config: Configuration | None = None,
) -> Session | None:
    """Start a session and return its id (a :class:`Session`).

    With a session already active, it warns, changes nothing and returns a falsy handle (equal to
    ``""``) whose methods warn and do nothing: one session is active per process.
    ``inherited_session_id`` joins a session started by another process: spans go under its root and
    this process never ends it. A ``config`` applies to this session (tags, name, content capture).
    """
    return _compat.start_session(tags, name=name, inherited_session_id=inherited_session_id, config=config)


def end_session(
    end_state: EndState | str = EndState.SUCCESS,
    end_state_reason: str | None = None,
    video: str | None = None,
    **options: Any,
) -> None:
    """End the active session as ``"Success"``, ``"Fail"`` or ``"Indeterminate"``.

    The ``agentops`` SDK's spellings are read too (``"Failure"``, ``TraceState.ERROR``, ...); anything
    else is a ValueError. ``end_state`` may also be a :class:`Session` (the session to end, if still
    active). ``options``: ``is_auto_end=True`` (a framework ending the run) is skipped when ``init``
    had ``skip_auto_end_session=True``; ``session_or_status`` is agentops 0.4's first argument.
    """
    _compat.end_session(end_state, end_state_reason, video, **options)


def current_session_id() -> str | None:
    """The active session's id, or None."""
    return get_client().current_session_id()


def add_tags(tags: Iterable[str] | str) -> None:
    """Add tags to the active session while it runs (root span and backend)."""
    _compat_session.set_tags(tags, add=True)


def set_tags(tags: Iterable[str] | str) -> None:
    """Replace the active session's tags while it runs (root span and backend)."""
    _compat_session.set_tags(tags, add=False)
