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
from collections.abc import Sequence
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
        """``"Success"``/``"Fail"``/``"Indeterminate"`` (any case) or an ``EndState``; else ValueError."""
        if isinstance(value, EndState):
            return value
        if isinstance(value, str):
            for state in cls:
                if value.strip().lower() == state.value.lower():
                    return state
        raise ValueError(
            f"end_state must be 'Success', 'Fail' or 'Indeterminate' (or EndState.SUCCESS/FAIL/"
            f"INDETERMINATE), not {value!r}"
        )


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
                **host_env,
            },
            start_time=self.start_time_ns,
        )
        marker.end()

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
        root.end()
        return True
