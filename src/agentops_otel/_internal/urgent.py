"""The session spans that wake the export worker at once: a session root or start marker, which the
session code ends through :func:`end_urgently`. Only while one of those ends does the export processor
read the kind of a span it is given, so that an ordinary span (ours or anyone's) costs it no attribute
read; the mark is process-wide, so a session under a user's own provider with our processor wakes it.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from agentops_otel import _sdk_compat, semconv

#: Session spans that are never dropped for a full queue.
SESSION_KINDS = frozenset({semconv.KIND_SESSION, semconv.KIND_SESSION_START, semconv.KIND_SESSION_HEARTBEAT})
#: Session spans that wake the worker at once (a heartbeat waits for the next round).
URGENT_KINDS = frozenset({semconv.KIND_SESSION, semconv.KIND_SESSION_START})

#: A token per session span being ended by :func:`end_urgently` now, in any thread (added and
#: discarded, never rebound: a module that imports it reads the one set).
ENDING: set[object] = set()
if hasattr(os, "register_at_fork"):
    # A fork while another thread ends a session span copies that thread's token into a child where
    # nothing would discard it (every span there would then have its kind read).
    os.register_at_fork(after_in_child=ENDING.clear)


def end_urgently(span: trace.Span) -> None:
    """End a session root or start marker so that every export processor it reaches wakes its worker
    for it at once (unless the worker backs off) rather than at its next round."""
    token = object()
    ENDING.add(token)
    try:
        span.end()
    finally:
        ENDING.discard(token)


def kind_of(span: ReadableSpan) -> object:
    """A span's ``agentops.span.kind`` (None when it has none)."""
    return _sdk_compat.attributes_of(span).get(semconv.SPAN_KIND)
