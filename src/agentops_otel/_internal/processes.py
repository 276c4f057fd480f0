"""Sessions follow the work into child processes: ``multiprocessing`` (fork, spawn, forkserver),
``multiprocessing.Pool`` and ``concurrent.futures.ProcessPoolExecutor``.

With :func:`enable` (called by ``init`` when ``Configuration.propagate_context_to_threads`` is on):

- ``BaseProcess.start`` (the parent side): while a session is current, the process object gets a small
  picklable note (:class:`_Join`) naming the session, the span current at ``start()`` and the parent's
  configuration. Pools start their workers through the same method, so their workers get one too.
- ``BaseProcess._bootstrap`` (the child side, around ``run()``): the note is read and the child joins
  the session. A forked child already has the client, its session and the parent's context; a spawned
  one calls ``init(inherited_session_id=...)`` with the parent's destination. Then the child's spans
  are children of the span that was current at ``start()``. When ``run()`` returns, queued spans are
  flushed within ``shutdown_timeout``: a forked child leaves through ``os._exit``, so no exit hook
  would do it. Pool workers stopped with ``terminate()`` (SIGTERM) flush from the SIGTERM handler that
  ``init`` chains (inherited by forked children, installed by ``init`` in spawned ones).

Nothing here may raise into the user's program: every step falls back to running the process as it
would run without us. Processes whose ``run()`` is overridden (no target) are covered the same way.
A child made with a bare ``os.fork()`` is not a ``multiprocessing`` process: it must call
``agentops_otel.get_client().flush()`` before ``os._exit``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan

from agentops_otel import _daemon, _sdk_compat
from agentops_otel._config import Configuration
from agentops_otel._internal import signal_watch
from agentops_otel._internal.context import (
    SESSION_KEY,
    in_session_trace,
    root_span_context,
    root_span_id_of,
    session_id_for,
    with_session,
)

logger = logging.getLogger("agentops_otel.processes")

_NOTE_ATTR = "_agentops_otel_join"

_lock = threading.Lock()
_enabled = False
_installed: dict[str, Any] = {}  # method name -> our wrapper, while installed
_warned_exporter = False


class Host(Protocol):
    """What this module needs of the client, handed to :func:`enable` (it never imports the client)."""

    @property
    def initialized(self) -> bool: ...
    @property
    def shutdown_timeout(self) -> float: ...
    def session_config(self) -> Configuration:
        """The configuration of the active session (the client's when it has none of its own)."""
        ...

    def flush(self, timeout: float | None = None) -> bool: ...


#: Joins a session in a spawned child: ``(session_id, settings) -> Host`` (None when it could not).
#: Handed to :func:`enable` and pickled into each note by reference, so the child imports it by name.
Joiner = Callable[[str, Configuration], "Host | None"]

_host: Host | None = None
_joiner: Joiner | None = None


def is_enabled() -> bool:
    return _enabled


class _Join:
    """What a child needs to join the parent's session. Pickled with the process for spawn/forkserver;
    for fork it is simply in the copied memory, along with the parent's context."""

    def __init__(
        self,
        session_id: str,
        parent_span_id: int,
        settings: Any,
        context: Context | None = None,
        joiner: Joiner | None = None,
    ) -> None:
        self.session_id = session_id
        self.parent_span_id = parent_span_id
        self.settings = settings  # a Configuration in the parent; a dict of fields once pickled, or None
        self.context = context  # only meaningful in a forked copy of the parent
        self.joiner = joiner

    def __reduce__(self) -> tuple[Callable[..., _Join], tuple[Any, ...]]:
        # Runs in the parent while the process is pickled: it must not fail, or start() would.
        try:
            fields = _portable_settings(self.settings)
        except Exception:
            logger.debug("agentops_otel: cannot send the configuration to a child", exc_info=True)
            fields = None
        return (_rebuild, (self.session_id, self.parent_span_id, fields, self.joiner))


def _rebuild(
    session_id: str, parent_span_id: int, fields: dict[str, Any] | None, joiner: Joiner | None = None
) -> _Join:
    """Unpickled in a spawned child, before ``_bootstrap`` runs: install the child-side hook there."""
    try:
        _install(_sdk_compat.PROCESS_BODY, _bootstrap)
    except Exception:
        logger.debug("agentops_otel: cannot hook the child process", exc_info=True)
    return _Join(session_id, parent_span_id, fields, joiner=joiner)


def _portable_settings(settings: Any) -> dict[str, Any] | None:
    """The configuration's fields, for another interpreter; None when its destination cannot travel."""
    global _warned_exporter
    if settings is None:
        return None
    if isinstance(settings, dict):
        return settings
    fields = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    exporter = fields.get("exporter")
    if exporter is not None:
        try:
            pickle.dumps(exporter)
        except Exception:
            if not _warned_exporter:
                _warned_exporter = True
                logger.warning(
                    "agentops_otel: the configured exporter %s cannot be sent to a spawned process; "
                    "spans of spawned processes are not exported",
                    type(exporter).__name__,
                )
            return None
    for name in list(fields):
        if name == "exporter":
            continue
        try:
            pickle.dumps(fields[name])
        except Exception:
            fields.pop(name)
    return fields


# -- parent side --------------------------------------------------------------------------------------


def _current_note() -> _Join | None:
    host = _host
    if host is None or not host.initialized:
        return None
    settings = host.session_config()
    ctx = otel_context.get_current()
    span_context = trace.get_current_span(ctx).get_span_context()
    session_id = session_id_for(ctx, span_context.trace_id, settings.trust_inbound_session)
    if session_id is None:
        return None
    # The span current at start() is the children's parent when it is in the session's trace; otherwise
    # (no span, or a context that only knows the session) they hang under the session's root.
    parent = (
        span_context.span_id if in_session_trace(span_context, session_id) else root_span_id_of(session_id)
    )
    return _Join(session_id, parent, settings, ctx, joiner=_joiner)


def _start(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    noted = False
    if _enabled:
        try:
            note = _current_note()
            if note is not None:
                setattr(instance, _NOTE_ATTR, note)
                noted = True
        except Exception:
            logger.debug("agentops_otel: could not hand the session to a process", exc_info=True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        if noted:
            # The child has its copy (forked or pickled); the parent's would only keep spans alive.
            instance.__dict__.pop(_NOTE_ATTR, None)


# -- child side ---------------------------------------------------------------------------------------


def _session_context(note: _Join) -> Context:
    """A context whose current span is the parent's span at start() and which carries the session."""
    remote = root_span_context(note.session_id, note.parent_span_id)
    return with_session(trace.set_span_in_context(NonRecordingSpan(remote), Context()), note.session_id)


def _join(note: _Join) -> Host | None:
    """Join the session in this (child) process; the host to flush at the end, if any."""
    host = _host
    if host is not None and host.initialized:
        # Forked: the client, its processors and the session came with the memory.
        ctx = note.context
        if not isinstance(ctx, Context) or ctx.get(SESSION_KEY) != note.session_id:
            ctx = _session_context(note)
        otel_context.attach(ctx)
        return host
    if not isinstance(note.settings, dict) or note.joiner is None:
        return None  # the destination could not travel: run unobserved rather than export elsewhere
    known = {f.name for f in dataclasses.fields(Configuration)}
    fields = {k: v for k, v in note.settings.items() if k in known}
    joined = note.joiner(note.session_id, Configuration(**fields))
    if joined is None or not joined.initialized:
        return None
    otel_context.attach(_session_context(note))
    return joined


def _bootstrap(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        note = instance.__dict__.pop(_NOTE_ATTR, None)
        if note is not None and os.getpid() == getattr(instance, "_parent_pid", None):
            note = None  # not in a child (should not happen): leave it alone
    except Exception:
        note = None
    if not isinstance(note, _Join):
        return wrapped(*args, **kwargs)
    joined: Host | None = None
    try:
        joined = _join(note)
        if joined is not None:
            # A Pool worker idles in SemLock.acquire, where CPython can lose our SIGTERM handler's call.
            signal_watch.arm()
    except Exception:
        logger.debug("agentops_otel: the child could not join the session", exc_info=True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        if joined is not None:
            _flush_off_main_thread(joined)


def _flush_off_main_thread(host: Host) -> None:
    """Flush from a helper thread while this one only waits.

    A pool's ``terminate()`` sends SIGTERM at any moment, and the SIGTERM handler flushes too. Python
    runs signal handlers on the main thread: had the main thread been inside the flush (holding its
    locks), the handler's flush would wait for it forever. Waiting in ``join`` holds none of them.
    """
    try:
        helper = _daemon.thread(lambda: _flush_quietly(host), "agentops-child-flush", pause=False)
        helper.start()
        helper.join(host.shutdown_timeout + 1.0)
    except Exception:
        logger.debug("agentops_otel: flush at the end of a child process failed", exc_info=True)


def _flush_quietly(host: Host) -> None:
    try:
        host.flush(host.shutdown_timeout)
    except Exception:
        logger.debug("agentops_otel: flush at the end of a child process failed", exc_info=True)


# -- switch -------------------------------------------------------------------------------------------


def _install(name: str, hook: Callable[..., Any]) -> None:
    with _lock:
        if name in _installed:
            return
        if name not in BaseProcess.__dict__:
            return
        wrapt.wrap_function_wrapper(BaseProcess, name, hook)
        _installed[name] = BaseProcess.__dict__[name]


def enable(host: Host, joiner: Joiner) -> None:
    """Hand the current session of ``host`` to processes started from now on; a spawned child joins it
    through ``joiner``."""
    global _enabled, _host, _joiner
    _host, _joiner = host, joiner
    for name, hook in (("start", _start), (_sdk_compat.PROCESS_BODY, _bootstrap)):
        try:
            _install(name, hook)
        except Exception:
            logger.warning("agentops_otel: cannot carry the session into processes (%s)", name)
    _enabled = True


def disable() -> None:
    """Stop handing the session to new processes and restore ``BaseProcess`` where nobody wrapped it
    after us. Processes already started keep their note."""
    global _enabled
    with _lock:
        _enabled = False
        for name, wrapper in list(_installed.items()):
            if BaseProcess.__dict__.get(name) is wrapper:
                setattr(BaseProcess, name, getattr(wrapper, "__wrapped__"))  # noqa: B009
                del _installed[name]
