"""agentops_otel: sessions, LLM instrumentation and export for AI agents, on OpenTelemetry.

    import agentops_otel

    agentops_otel.init()                 # starts a session; spans go to the local store by default
    ...                                  # OpenAI/Anthropic calls, @agent/@tool/@action functions
    agentops_otel.end_session("Success")

Everything public is here; the modules under ``agentops_otel._internal`` are not API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.trace import TracerProvider

from agentops_otel._config import Configuration
from agentops_otel._internal import client as _client
from agentops_otel._internal.client import Client, get_client
from agentops_otel._internal.decorators import action, agent, tool
from agentops_otel._internal.events import ActionEvent, ErrorEvent, LLMEvent, ToolEvent, record
from agentops_otel._internal.session import EndState
from agentops_otel.version import __version__

__all__ = [
    "ActionEvent",
    "Client",
    "Configuration",
    "EndState",
    "ErrorEvent",
    "LLMEvent",
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
) -> str | None:
    """Set up the client and start a session (unless ``auto_start_session=False``).

    Returns the session id, or None. Settings come from keyword arguments, then ``config`` (or the
    ``AGENTOPS_*`` and ``OTEL_*`` environment when no ``config`` is given); ``options`` are
    :class:`Configuration` fields. Never raises for a bad key or an unreachable backend and never waits
    on the network: export happens on a background thread. Calling it again returns the active session.
    """
    return _client.init(
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
) -> str | None:
    """Start a session and return its id; with one already active, warn and return None.

    ``inherited_session_id`` joins a session started by another process: spans go under its root and
    this process never ends it. A ``config`` applies to this session (tags, name, content capture).
    """
    return get_client().start_session(
        tags, name=name, inherited_session_id=inherited_session_id, config=config
    )


def end_session(
    end_state: EndState | str = EndState.SUCCESS,
    end_state_reason: str | None = None,
    video: str | None = None,
) -> None:
    """End the active session as ``"Success"``, ``"Fail"`` or ``"Indeterminate"`` (ValueError otherwise)."""
    get_client().end_session(end_state, end_state_reason, video)


def current_session_id() -> str | None:
    """The active session's id, or None."""
    return get_client().current_session_id()
