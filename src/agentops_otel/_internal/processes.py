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
import importlib
import logging
import os
import pickle
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from agentops_otel._internal.context import SESSION_KEY, root_span_id_of, session_id_for, with_session

logger = logging.getLogger("agentops_otel.processes")

_NOTE_ATTR = "_agentops_otel_join"

_lock = threading.Lock()
_enabled = False
_installed: dict[str, Any] = {}  # method name -> our wrapper, while installed
_warned_exporter = False


def is_enabled() -> bool:
    return _enabled


class _Join:
    """What a child needs to join the parent's session. Pickled with the process for spawn/forkserver;
    for fork it is simply in the copied memory, along with the parent's context."""

    def __init__(
        self, session_id: str, parent_span_id: int, settings: Any, context: Context | None = None
    ) -> None:
        self.session_id = session_id
        self.parent_span_id = parent_span_id
        self.settings = settings  # a Configuration in the parent; a dict of fields once pickled, or None
        self.context = context  # only meaningful in a forked copy of the parent

    def __reduce__(self) -> tuple[Callable[..., _Join], tuple[Any, ...]]:
        # Runs in the parent while the process is pickled: it must not fail, or start() would.
        try:
            fields = _portable_settings(self.settings)
        except Exception:
            logger.debug("agentops_otel: cannot send the configuration to a child", exc_info=True)
            fields = None
        return (_rebuild, (self.session_id, self.parent_span_id, fields))


def _rebuild(session_id: str, parent_span_id: int, fields: dict[str, Any] | None) -> _Join:
    """Unpickled in a spawned child, before ``_bootstrap`` runs: install the child-side hook there."""
    try:
        _install("_bootstrap", _bootstrap)
    except Exception:
        logger.debug("agentops_otel: cannot hook the child process", exc_info=True)
    return _Join(session_id, parent_span_id, fields)


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
    from agentops_otel._internal.client import get_client

    client = get_client()
    if not client.initialized:
        return None
    ctx = otel_context.get_current()
    span_context = trace.get_current_span(ctx).get_span_context()
    session_id = session_id_for(ctx, span_context.trace_id, client.config.trust_inbound_session)
    if session_id is None:
        return None
    # The span current at start() is the children's parent when it is in the session's trace; otherwise
    # (no span, or a context that only knows the session) they hang under the session's root.
    parent = root_span_id_of(session_id)
    if span_context.is_valid and format(span_context.trace_id, "032x") == session_id.replace("-", ""):
        parent = span_context.span_id
    session = client.session
    settings = session.config if session is not None and session.config is not None else client.config
    _settle_imports(client.config)
    return _Join(session_id, parent, settings, ctx)


def _settle_imports(settings: Any) -> None:
    """Finish importing the exporter module before a fork.

    The export thread imports it when it sends its first batch; a fork in the middle of that import
    would leave the child with a half-initialised module and no way to export. Importing here waits for
    that import to finish (a no-op once done).
    """
    if getattr(settings, "exporter", None) is not None:
        return
    if getattr(settings, "destination", "local") == "local":
        importlib.import_module("agentops_otel._internal.exporters.local")
    else:
        importlib.import_module("agentops_otel._internal.exporters.agentops")


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
    remote = SpanContext(
        trace_id=int(note.session_id.replace("-", ""), 16),
        span_id=note.parent_span_id,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID),
    )
    return with_session(trace.set_span_in_context(NonRecordingSpan(remote), Context()), note.session_id)


def _join(note: _Join) -> bool:
    """Join the session in this (child) process; True when there is something to flush at the end."""
    import agentops_otel
    from agentops_otel._internal.client import get_client
    from agentops_otel._internal.config import Configuration

    client = get_client()
    if client.initialized:
        # Forked: the client, its processors and the session came with the memory.
        ctx = note.context
        if not isinstance(ctx, Context) or ctx.get(SESSION_KEY) != note.session_id:
            ctx = _session_context(note)
        otel_context.attach(ctx)
        return True
    if not isinstance(note.settings, dict):
        return False  # the destination could not travel: run unobserved rather than export elsewhere
    known = {f.name for f in dataclasses.fields(Configuration)}
    fields = {k: v for k, v in note.settings.items() if k in known}
    agentops_otel.init(inherited_session_id=note.session_id, config=Configuration(**fields))
    otel_context.attach(_session_context(note))
    return get_client().initialized


def _flush() -> None:
    from agentops_otel._internal.client import get_client

    client = get_client()
    timeout = client.config.shutdown_timeout
    if client.export_processor is not None:
        client.flush(timeout)
        return
    # No export processor of ours (``export_spans=False``): the provider's own processors export.
    provider = client.tracer_provider
    force_flush = getattr(provider, "force_flush", None)
    if callable(force_flush):
        force_flush(int(timeout * 1000))


def _bootstrap(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        note = instance.__dict__.pop(_NOTE_ATTR, None)
        if note is not None and os.getpid() == getattr(instance, "_parent_pid", None):
            note = None  # not in a child (should not happen): leave it alone
    except Exception:
        note = None
    if not isinstance(note, _Join):
        return wrapped(*args, **kwargs)
    joined = False
    try:
        joined = _join(note)
    except Exception:
        logger.debug("agentops_otel: the child could not join the session", exc_info=True)
    try:
        return wrapped(*args, **kwargs)
    finally:
        if joined:
            _flush_off_main_thread()


def _flush_off_main_thread() -> None:
    """Flush from a helper thread while this one only waits.

    A pool's ``terminate()`` sends SIGTERM at any moment, and the SIGTERM handler flushes too. Python
    runs signal handlers on the main thread: had the main thread been inside the flush (holding its
    locks), the handler's flush would wait for it forever. Waiting in ``join`` holds none of them.
    """
    try:
        from agentops_otel._internal.client import get_client

        helper = threading.Thread(target=_flush_quietly, name="agentops-child-flush", daemon=True)
        helper.start()
        helper.join(get_client().config.shutdown_timeout + 1.0)
    except Exception:
        logger.debug("agentops_otel: flush at the end of a child process failed", exc_info=True)


def _flush_quietly() -> None:
    try:
        _flush()
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


def enable() -> None:
    """Hand the current session to processes started from now on."""
    global _enabled
    for name, hook in (("start", _start), ("_bootstrap", _bootstrap)):
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
