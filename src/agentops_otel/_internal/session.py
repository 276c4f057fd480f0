"""A session: the root span of an agent run, its context, start marker and end state.

The session id is a UUID4; the root span's trace id is its 128 bits and its span id the low 64 bits, so
any process that knows only the id can parent spans to the real root (inherited sessions).
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanKind, Status, StatusCode

from agentops_otel import _runtime, _sdk_compat, semconv
from agentops_otel._internal import host
from agentops_otel._internal.context import (
    SESSION_KEY,
    root_span_context,
    root_span_id_of,
    with_session,
    without_session,
)
from agentops_otel._internal.urgent import end_urgently

logger = logging.getLogger("agentops_otel")


class EndState(str, enum.Enum):
    """How a session ended. A ``str``, so ``EndState.SUCCESS == "Success"``."""

    SUCCESS = semconv.END_STATE_SUCCESS
    FAIL = semconv.END_STATE_FAIL
    INDETERMINATE = semconv.END_STATE_INDETERMINATE

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object) -> EndState:
        """An ``EndState``, or a spelling of one (any case): ``Success``/``Fail``/``Indeterminate``, the
        ones the ``agentops`` SDK used (``Failure``, ``Error``, ``Unknown``, ...), or an enum member
        such as ``TraceState.SUCCESS`` or ``StatusCode.ERROR`` (read by value, else by name).
        Anything else is a ValueError."""
        if isinstance(value, EndState):
            return value
        if isinstance(value, enum.Enum) and not isinstance(value, str):
            value = value.value if isinstance(value.value, str) else value.name
        if isinstance(value, str):
            found = _SPELLINGS.get(value.strip().lower())
            if found is not None:
                return cls(found)
        raise ValueError(
            f"end_state must be 'Success', 'Fail' or 'Indeterminate' (or EndState.SUCCESS/FAIL/"
            f"INDETERMINATE; 'Failure', 'Error', 'Unknown' are read too), not {value!r}"
        )


# Accepted spellings (lower case): ours, and those of the agentops SDK (0.3 EndState, the v1 docs'
# "Failure", 0.4's TraceState/StatusCode names and decorator states).
_SPELLINGS = {
    **{state.lower(): state for state in semconv.END_STATES},
    "failure": semconv.END_STATE_FAIL,
    "failed": semconv.END_STATE_FAIL,
    "error": semconv.END_STATE_FAIL,
    "succeeded": semconv.END_STATE_SUCCESS,
    "successful": semconv.END_STATE_SUCCESS,
    "ok": semconv.END_STATE_SUCCESS,
    "unset": semconv.END_STATE_INDETERMINATE,
    "unknown": semconv.END_STATE_INDETERMINATE,
}


def new_session_id() -> str:
    return str(uuid.uuid4())


class Session:
    """One agent run. Made by :meth:`agentops_otel.Client.start_session`; ended once."""

    def __init__(
        self,
        session_id: str,
        *,
        name: str = "agentops",
        tags: Sequence[str] = (),
        inherited: bool = False,
        collect_host_env: bool = True,
        config: Any = None,
    ) -> None:
        self.id = session_id
        #: The Configuration that applies to this session (tags, name, content capture, exit behaviour).
        self.config = config
        #: The process that started (or joined) it: a forked child does not own it.
        self.pid = os.getpid()
        self.name = name
        self.tags = list(tags)
        self.inherited = inherited
        self.start_time_ns = time.time_ns()
        self.end_state: EndState | None = None
        self.end_state_reason: str | None = None
        self._lock = threading.Lock()
        self._ended = False
        self._announcer: threading.Thread | None = None
        self._announced = False
        self._after_announce: list[Callable[[], object]] = []
        self._collect_host_env = collect_host_env
        self._root: trace.Span
        self.context: Context
        self._start()

    # -- start -----------------------------------------------------------------------------------------

    def _start(self) -> None:
        parsed = uuid.UUID(self.id)
        if self.inherited:
            # The root lives in the process that started the session: point at it, never re-create it.
            self._root = NonRecordingSpan(root_span_context(self.id))
        else:
            tracer = _runtime.tracer()
            session_tracer = _sdk_compat.tracer_with_ids(tracer, parsed.int, root_span_id_of(self.id))
            self._root = session_tracer.start_span(
                f"{self.name}.session",
                context=Context(),  # a real root, whatever is current
                kind=SpanKind.INTERNAL,
                attributes={
                    semconv.SPAN_KIND: semconv.KIND_SESSION,
                    semconv.SESSION_ID: self.id,
                    semconv.SESSION_NAME: self.name,
                    semconv.SESSION_TAGS: self.tags,
                },
                start_time=self.start_time_ns,
            )
        self.context = with_session(trace.set_span_in_context(self._root, Context()), self.id)
        if not self.inherited and self._root.is_recording():
            if self._collect_host_env:
                self._announcer = host.in_background(self._announce)
            else:
                self._announce({})

    def _announce(self, host_env: dict[str, Any]) -> None:
        """Put the host environment on the root and send the start marker.

        The root is exported only when it ends, possibly never (process killed); the marker, a child
        with its own span id, tells a backend at once that the session exists.
        """
        with self._lock:
            if host_env and not self._ended:
                self._root.set_attributes(host_env)
        # Made by the internal provider: our export path gets it, the user's own exporters never do.
        marker = _runtime.internal_tracer().start_span(
            f"{self.name}.session.start",
            context=self.context,
            attributes={
                semconv.SPAN_KIND: semconv.KIND_SESSION_START,
                semconv.SESSION_ID: self.id,
                semconv.SESSION_NAME: self.name,
                semconv.SESSION_TAGS: self.tags,
                semconv.SESSION_HEARTBEAT_INTERVAL: float(getattr(self.config, "heartbeat_interval", 0.0)),
                **host_env,
            },
            start_time=self.start_time_ns,
        )
        end_urgently(marker)  # the backend learns of the session now
        with self._lock:
            self._announced = True
            waiting, self._after_announce = self._after_announce, []
        for callback in waiting:
            _run_quietly(callback)

    def after_announced(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the start marker is out (now, if it is), on the announcing thread:
        work that can wait for it (the heartbeat's thread) then costs the caller nothing."""
        with self._lock:
            if not self._announced:
                self._after_announce.append(callback)
                return
        _run_quietly(callback)

    def wait_announced(self, timeout: float) -> None:
        """Wait (bounded) until the start marker has been handed to the processors."""
        announcer = self._announcer
        if announcer is not None and announcer is not threading.current_thread():
            announcer.join(timeout)

    # -- attach/detach to the caller's context ---------------------------------------------------------

    def activate(self) -> None:
        """Make the session current in the caller's context (its thread or task)."""
        self._previous = otel_context.get_current()
        otel_context.attach(self.context)

    def deactivate(self) -> None:
        """If the caller's context still holds this session, go back to what was current before it."""
        current = otel_context.get_current()
        if current.get(SESSION_KEY) == self.id:
            previous = getattr(self, "_previous", None)
            otel_context.attach(without_session(previous) if previous is not None else Context())

    # -- end -------------------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def root_span(self) -> trace.Span:
        """The root span (a non-recording stand-in in a process that joined the session)."""
        return self._root

    def end(self, end_state: EndState, reason: str | None = None, video: str | None = None) -> bool:
        """End once; later calls do nothing and return False."""
        self.wait_announced(1.0)  # host environment on the root, and the marker out before the root ends
        with self._lock:
            if self._ended:
                return False
            self._ended = True
        self.end_state = end_state
        self.end_state_reason = reason
        if self.inherited:
            return True
        root = self._root
        # Always present on an ended root (SPEC lists them); "" when not given, as attributes cannot be null.
        root.set_attributes(
            {
                semconv.SESSION_END_STATE: end_state.value,
                semconv.SESSION_END_STATE_REASON: reason or "",
                semconv.SESSION_VIDEO: video or "",
            }
        )
        if end_state is EndState.FAIL:
            root.set_status(Status(StatusCode.ERROR, reason or "Fail"))
        elif end_state is EndState.SUCCESS:
            root.set_status(Status(StatusCode.OK))
        end_urgently(root)
        return True

    # -- changes while it runs (the owning process only) ----------------------------------------------

    def set_tags(self, tags: Sequence[str]) -> bool:
        """Replace the tags on the root and tell the backend at once (a new start marker carries them,
        as the root is exported only when it ends). False when ended or joined from another process."""
        if self.inherited or self._ended:
            return False
        self.wait_announced(1.0)  # the first marker goes out before the one with the new tags
        with self._lock:
            if self._ended:
                return False
            self.tags = list(tags)
            self._root.set_attribute(semconv.SESSION_TAGS, self.tags)
        marker = _runtime.internal_tracer().start_span(
            f"{self.name}.session.start",
            context=self.context,
            attributes={
                semconv.SPAN_KIND: semconv.KIND_SESSION_START,
                semconv.SESSION_NAME: self.name,
                semconv.SESSION_TAGS: self.tags,
            },
            start_time=self.start_time_ns,
        )
        end_urgently(marker)  # the backend learns of the new tags now
        return True

    def set_root_attributes(self, attributes: dict[str, Any]) -> bool:
        """Set attributes on the root span (exported when it ends). False when ended or joined."""
        if self.inherited:
            return False
        with self._lock:
            if self._ended:
                return False
            self._root.set_attributes(attributes)
        return True


def _run_quietly(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:
        logger.debug("agentops_otel: a session callback failed", exc_info=True)
