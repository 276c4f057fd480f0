"""The value ``init()``/``start_session()`` return: the session id, as a ``str``, that also offers the
session methods code written for the ``agentops`` SDK calls on it.

    session = agentops_otel.init()          # a str: json.dumps(session), uuid.UUID(session) work
    session.record(ToolEvent(name="search"))
    session.add_tags(["retried"])
    session.end_session("Success")

One session is active per process (SPEC.md section 2). A handle whose session is no longer active
says so in a warning and does nothing; it never ends or changes another session. A ``start_session``
refused because a session is already active returns None, as SPEC.md says, with a warning that says
what to write instead.

Also here: ending with the agentops options (``is_auto_end`` and ``skip_auto_end_session``), and tags
changed while the session runs, which the handle and the module-level functions share.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentops_otel._config import parse_tags
from agentops_otel._internal import analytics
from agentops_otel._internal.client import get_client
from agentops_otel._internal.events import Event, record
from agentops_otel._internal.session import EndState
from agentops_otel._internal.session import Session as ActiveSession

logger = logging.getLogger("agentops_otel")

ONE_AT_A_TIME = (
    "one session is active per process: end it first (end_session()), or give each concurrent session "
    "its own process (each calls init(); a worker can join with init(inherited_session_id=...))"
)


@dataclass
class CompatOptions:
    """agentops ``init`` options that act outside :class:`Configuration` (set by ``compat.init``)."""

    #: ``end_session(..., is_auto_end=True)`` calls (frameworks ending the run) are skipped.
    skip_auto_end_session: bool = False
    #: Base URL of the AgentOps cloud dashboard, for :attr:`Session.session_url` there.
    app_url: str = "https://app.agentops.ai"
    #: Options given to ``configure()`` before ``init()``, applied by it.
    pending: dict[str, Any] = field(default_factory=dict)


options = CompatOptions()


def reset_options() -> None:
    """Back to the defaults (tests, notebooks: with :func:`agentops_otel._internal.client.reset_client`)."""
    fresh = CompatOptions()
    options.skip_auto_end_session = fresh.skip_auto_end_session
    options.app_url = fresh.app_url
    options.pending = {}


def as_tags(tags: Iterable[str] | Mapping[str, Any] | str | None) -> list[str]:
    """Tags as a list: agentops 0.4 also took a dict, whose items become ``key:value`` tags."""
    if isinstance(tags, Mapping):
        return parse_tags(f"{k}:{v}" for k, v in tags.items())
    return parse_tags(tags)


def active_session(session_id: str | None = None) -> ActiveSession | None:
    """The active session (the one with ``session_id`` when given), or None."""
    session = get_client().session
    if session is None or session.ended:
        return None
    if session_id is not None and session.id != session_id:
        return None
    return session


def wrap(session_id: str | None) -> Session | None:
    return Session(session_id) if session_id else None


# -- ending and tags, shared by the handle and the module-level functions ----------------------------


def end(
    end_state: Any = EndState.SUCCESS,
    end_state_reason: str | None = None,
    video: str | None = None,
    *,
    target: str | None = None,
    is_auto_end: bool = False,
) -> None:
    """End the active session (only if it is ``target``, when given). A ValueError for an unknown
    ``end_state`` (SPEC.md); otherwise never raises."""
    state = EndState.parse(end_state)
    if is_auto_end and options.skip_auto_end_session:
        logger.info("agentops_otel: end_session(is_auto_end=True) skipped (skip_auto_end_session=True)")
        return
    if target is not None and active_session(target) is None:
        logger.warning("agentops_otel: end_session(): session %s is not active (already ended?)", target)
        return
    get_client().end_session(state, end_state_reason, video)


def set_tags(tags: Any, *, add: bool, target: str | None = None) -> bool:
    """Replace (or extend) the tags of the active session while it runs. False, with a warning, when
    there is none or this process joined it (only its owner sets tags)."""
    verb = "add_tags" if add else "set_tags"
    session = active_session(target)
    if session is None:
        logger.warning("agentops_otel: %s(): no active session%s", verb, f" {target}" if target else "")
        return False
    new = as_tags(tags)
    if add:
        new = parse_tags([*session.tags, *new])
    if not session.set_tags(new):
        logger.warning(
            "agentops_otel: %s(): session %s was started by another process; only that process sets its tags",
            verb,
            session.id,
        )
        return False
    return True


class Session(str):
    """A session id (``str``) with the methods of the agentops SDK's ``Session``."""

    __slots__ = ()

    @property
    def session_id(self) -> str | None:
        """The session id as a plain ``str`` (the handle itself is one too)."""
        return str.__str__(self) or None

    @property
    def is_running(self) -> bool:
        """Whether this is the process's active session."""
        return active_session(str(self)) is not None

    @property
    def tags(self) -> list[str]:
        """The session's tags while it runs (empty once it ended)."""
        session = active_session(str(self))
        return list(session.tags) if session is not None else []

    @property
    def session_url(self) -> str | None:
        """Where a dashboard shows the session: the backend's own (``<endpoint>/#/sessions/<id>``), the
        AgentOps cloud's, or None for the local store (``agentops-otel serve`` shows it there)."""
        config = get_client().config
        if config.destination == "backend" and config.endpoint:
            return f"{config.endpoint.rstrip('/')}/#/sessions/{self}"
        if config.destination == "cloud":
            hex_id = str(self).replace("-", "")
            return f"{options.app_url.rstrip('/')}/sessions?trace_id={hex_id}"
        return None

    def record(self, event: Event, flush_now: bool = False) -> None:
        """Record ``event`` in this session (``flush_now`` is accepted: export runs on its own thread)."""
        if active_session(str(self)) is None:
            logger.warning("agentops_otel: record(): session %s is not active; event not recorded", self)
            return
        record(event)

    def end_session(
        self,
        end_state: Any = EndState.SUCCESS,
        end_state_reason: str | None = None,
        video: str | None = None,
        is_auto_end: bool = False,
        **ignored: Any,
    ) -> None:
        """End this session, if it is still the active one. Returns None (agentops 0.3 returned the
        cost: :meth:`get_analytics` gives it)."""
        if ignored:
            logger.info("agentops_otel: end_session() ignores %s", ", ".join(sorted(ignored)))
        end(end_state, end_state_reason, video, target=str(self), is_auto_end=is_auto_end)

    def add_tags(self, tags: Any) -> None:
        set_tags(tags, add=True, target=str(self))

    def set_tags(self, tags: Any) -> None:
        set_tags(tags, add=False, target=str(self))

    def create_agent(self, name: str | None = None, agent_id: str | None = None, **_: Any) -> str | None:
        """Accepted for agentops 0.3 code: agents show as the ``invoke_agent`` spans of ``@agent`` calls,
        so nothing is recorded here. Returns ``agent_id``."""
        return agent_id

    def get_analytics(self, timeout: float = 2.0) -> dict[str, Any] | None:
        """The session's figures as the backend or local store counts them (see
        :func:`agentops_otel._internal.analytics.session_analytics`): waits at most ``timeout`` s."""
        return analytics.session_analytics(str(self), timeout)
