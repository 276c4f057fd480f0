"""The client: configuration, the export pipeline it attached (see ``pipeline``), exit hooks and the
active session; ``init`` and the process's one client."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import propagate, trace

from agentops_otel import _runtime, instrumentation
from agentops_otel._config import FIELD_NAMES, Configuration, parse_tags
from agentops_otel._internal import exit_hooks, heartbeat, processes, providers, servers, threads
from agentops_otel._internal.context import rejected_inbound
from agentops_otel._internal.pipeline import Pipeline
from agentops_otel._internal.processors import ExportProcessor
from agentops_otel._internal.session import EndState, Session, new_session_id

logger = logging.getLogger("agentops_otel")

# init() arguments that are about that call (start a session? instrument now?), not settings that a
# second call could be expected to change.
_PER_CALL_SWITCHES = frozenset({"auto_start_session", "instrument_llm_calls"})


class Client:
    """Owns the configuration, the processors it attached, the exit hooks and the active session."""

    def __init__(self, config: Configuration | None = None) -> None:
        self._config = config
        self._lock = threading.RLock()
        self._initialized = False
        self._session: Session | None = None
        self._pipeline: Pipeline | None = None
        self._heartbeat: heartbeat.Heartbeat | None = None

    # -- properties ------------------------------------------------------------------------------------

    @property
    def config(self) -> Configuration:
        if self._config is None:
            self._config = Configuration.from_env()
        return self._config

    @property
    def initialized(self) -> bool:
        return self._initialized

    @property
    def tracer_provider(self) -> trace.TracerProvider | None:
        return self._pipeline.provider if self._pipeline is not None else None

    @property
    def export_processor(self) -> ExportProcessor | None:
        return self._pipeline.export_processor if self._pipeline is not None else None

    # Every span the SDK exports ends in one of these four (docs/reliability.md).

    @property
    def delivered_spans(self) -> int:
        """Spans the backend (or the local store) took."""
        processor = self.export_processor
        return processor.delivered_spans if processor is not None else 0

    @property
    def spooled_spans(self) -> int:
        """Spans undelivered at shutdown, kept in the spool for the next process to send."""
        processor = self.export_processor
        return processor.spooled_spans if processor is not None else 0

    @property
    def rejected_spans(self) -> int:
        """Spans the backend refused for good (invalid key, a span it cannot take), or that could not
        be encoded."""
        processor = self.export_processor
        return processor.rejected_spans if processor is not None else 0

    @property
    def dropped_spans(self) -> int:
        """Spans not kept: the export queue was full, or they were undelivered at shutdown and could not
        be spooled."""
        processor = self.export_processor
        return processor.dropped_spans if processor is not None else 0

    @property
    def rejected_inbound_sessions(self) -> int:
        """Inbound baggage ``session.id`` values ignored: malformed, or not the inbound trace id."""
        return rejected_inbound.count

    @property
    def shutdown_timeout(self) -> float:
        """Seconds the process waits at exit, in all, for a backend to take undelivered spans."""
        return self.config.shutdown_timeout

    @property
    def session(self) -> Session | None:
        return self._session

    def session_config(self) -> Configuration:
        """The configuration of the active session (the client's when it has none of its own)."""
        session = self._session
        return session.config if session is not None else self.config

    def current_session_id(self) -> str | None:
        session = self._session
        return session.id if session is not None and not session.ended else None

    # -- set-up ----------------------------------------------------------------------------------------

    def configure(self, config: Configuration, tracer_provider: trace.TracerProvider | None = None) -> None:
        """Attach to the tracer provider and install hooks. Does nothing the second time."""
        with self._lock:
            if self._initialized:
                changed = _changed_settings(self.config, config)
                if changed or (tracer_provider is not None and tracer_provider is not self.tracer_provider):
                    logger.warning(
                        "agentops_otel: init() was already called; the first call's settings stay in force "
                        "(ignored: %s)",
                        ", ".join(changed) or "tracer_provider",
                    )
                return
            self._config = config
            _runtime.set_config(config)
            self._pipeline = Pipeline(config, tracer_provider)
            _runtime.set_provider(self._pipeline.provider)
            # Registered after any provider we created, so it runs before that provider's shutdown.
            exit_hooks.install(self, handle_sigterm=config.handle_sigterm)
            self._initialized = True
        _guarded(threads.enable if config.propagate_context_to_threads else threads.disable)
        _guarded(servers.enable)  # requests carrying a session join it (SPEC section 4, services)
        if config.propagate_context_to_threads:
            _guarded(processes.enable, host=self, joiner=join_spawned)
        else:
            _guarded(processes.disable)
        if config.instrument_llm_calls:
            _guarded(instrumentation.instrument_all, tracer_provider=self.tracer_provider)
        if "baggage" not in propagate.get_global_textmap().fields:
            logger.warning(
                "agentops_otel: the W3C baggage propagator is not configured (OTEL_PROPAGATORS); "
                "sessions will not follow requests to other services"
            )

    def start_export(self) -> None:
        """Start the export worker (see ``Pipeline.start``); it also starts with the first span."""
        if self._pipeline is not None:
            self._pipeline.start()

    # -- sessions --------------------------------------------------------------------------------------

    def start_session(
        self,
        tags: Iterable[str] | str | None = None,
        *,
        name: str | None = None,
        inherited_session_id: str | None = None,
        config: Configuration | None = None,
    ) -> str | None:
        """Start the session (or join ``inherited_session_id``); None if one is already active."""
        with self._lock:
            if not self._initialized:
                self.configure(self.config)
            if self._session is not None and not self._session.ended:
                logger.warning(
                    "agentops_otel: session %s is already active; end it before starting another",
                    self._session.id,
                )
                return None
            session_config = config if config is not None else self.config
            inherited = inherited_session_id is not None
            if inherited:
                session_id = _parse_session_id(inherited_session_id)
                if session_id is None:
                    logger.error(
                        "agentops_otel: inherited_session_id %r is not a UUID; no session started",
                        inherited_session_id,
                    )
                    return None
            else:
                session_id = new_session_id()
            if config is not None:
                _runtime.set_config(config)
            try:
                session = Session(
                    session_id,
                    name=name or session_config.session_name,
                    tags=parse_tags([*session_config.default_tags, *parse_tags(tags)]),
                    inherited=inherited,
                    collect_host_env=not session_config.env_data_opt_out,
                    config=session_config,
                )
                session.activate()
            except Exception:  # a broken tracer provider must not break the user's program
                logger.exception("agentops_otel: could not start a session")
                return None
            self._session = session
            _runtime.set_session_id(session_id)
            if not inherited:
                self._heartbeat = beat = heartbeat.make(session, self.config.heartbeat_interval)
                if beat is not None:
                    # Its thread starts once the host environment is collected, off the caller's thread.
                    session.after_announced(beat.start)
            return session_id

    def end_session(
        self,
        end_state: EndState | str = EndState.SUCCESS,
        end_state_reason: str | None = None,
        video: str | None = None,
    ) -> None:
        state = EndState.parse(end_state)  # a clear ValueError for an unknown state, session or not
        with self._lock:
            session = self._session
            if session is None or session.ended:
                logger.warning("agentops_otel: end_session() called with no active session")
                return
            self._session = None
            self._stop_heartbeat()
            _runtime.set_session_id(None)
            _runtime.set_config(self.config)
        try:
            if _owned_here(session):
                session.end(state, end_state_reason, video)
            session.deactivate()
        except Exception:
            logger.exception("agentops_otel: could not end session %s", session.id)

    # -- flushing --------------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver queued spans, waiting at most ``timeout`` seconds. True when all were delivered."""
        seconds = self.config.shutdown_timeout if timeout is None else timeout
        return self._pipeline.flush(seconds) if self._pipeline is not None else True

    def shutdown(self, timeout: float | None = None) -> bool:
        """Flush within ``timeout`` seconds and stop exporting. The session is not ended."""
        session = self._session
        if session is not None:
            session.wait_announced(0.5)  # a short script may exit before its marker was made
        seconds = self.config.shutdown_timeout if timeout is None else timeout
        return self._pipeline.shutdown(seconds) if self._pipeline is not None else True

    # -- called by exit_hooks --------------------------------------------------------------------------

    def _end_at_exit(self, end_state: str, reason: str) -> None:
        session = self._session
        if session is None or session.ended:
            return
        if not (session.config or self.config).end_session_at_exit:
            return
        with self._lock:
            self._session = None
            self._stop_heartbeat()
            _runtime.set_session_id(None)
        if _owned_here(session):
            session.end(EndState.parse(end_state), reason)

    def _stop_heartbeat(self) -> None:
        beat, self._heartbeat = self._heartbeat, None
        if beat is not None:
            beat.stop()

    def _shutdown_at_exit(self) -> None:
        self.shutdown(self.config.shutdown_timeout)

    def _settled(self) -> bool:
        pipeline = self._pipeline
        return pipeline is None or pipeline.settled()


def _changed_settings(before: Configuration, after: Configuration) -> list[str]:
    fields = (f.name for f in dataclasses.fields(Configuration) if f.name not in _PER_CALL_SWITCHES)
    return sorted(name for name in fields if getattr(before, name) != getattr(after, name))


def _owned_here(session: Session) -> bool:
    """A joined session, or one inherited through fork, is ended by the process that started it."""
    return not session.inherited and session.pid == os.getpid()


def _parse_session_id(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _guarded(function: Callable[..., object], **kwargs: Any) -> None:
    """Switch on an optional part (instrumentation, thread propagation); its failure never stops init."""
    try:
        function(**kwargs)
    except Exception:
        logger.debug("agentops_otel: %s failed", getattr(function, "__qualname__", function), exc_info=True)


def init(
    api_key: str | None = None,
    *,
    endpoint: str | None = None,
    tags: Iterable[str] | str | None = None,
    auto_start_session: bool = True,
    inherited_session_id: str | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    instrument_llm_calls: bool = True,
    config: Configuration | None = None,
    **options: Any,
) -> str | None:
    """The body of :func:`agentops_otel.init` (see there). Never raises."""
    try:
        unknown = sorted(set(options) - FIELD_NAMES)
        if unknown:
            logger.error("agentops_otel.init: ignoring unknown option(s) %s", ", ".join(unknown))
            for name in unknown:
                options.pop(name)
        base = config if config is not None else Configuration.from_env()
        overrides: dict[str, Any] = {"api_key": api_key, "endpoint": endpoint, "default_tags": tags}
        overrides.update(options)
        # The two switches default to True: only an explicit False overrides the configuration.
        if not auto_start_session:
            overrides["auto_start_session"] = False
        if not instrument_llm_calls:
            overrides["instrument_llm_calls"] = False
        settings = base.merged(**overrides)
        client = get_client()
        client.configure(settings, tracer_provider)
        try:
            active = client.current_session_id()
            if active is not None:
                return active
            if inherited_session_id is not None:
                return client.start_session(inherited_session_id=inherited_session_id)
            if settings.auto_start_session:
                return client.start_session()
            return None
        finally:
            # Last: the worker's imports would otherwise compete with init's own work for the GIL.
            client.start_export()
    except Exception:
        logger.exception("agentops_otel.init failed; the program continues without tracing")
        return None


def join_spawned(session_id: str, config: Configuration) -> Client | None:
    """Join ``session_id`` in a spawned child process, with the parent's settings (see processes)."""
    init(inherited_session_id=session_id, config=config)
    client = get_client()
    return client if client.initialized else None


_client: Client | None = None
_client_lock = threading.Lock()


def get_client() -> Client:
    """The process's client (the one ``init`` sets up)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = Client()
    return _client


def reset_client(timeout: float = 1.0) -> None:
    """Shut the process's client down and forget it, so ``init`` can set up afresh (tests, notebooks).

    An active session is left unended (as if the process had been killed); processors already added to
    a provider stay there but are shut down.
    """
    global _client
    with _client_lock:
        client, _client = _client, None
    if client is None:
        return
    with client._lock:
        client._session = None
        client._stop_heartbeat()
    client.shutdown(timeout)
    if client._pipeline is not None:
        client._pipeline.detach()
    providers.reset_warning()
    _runtime.reset()
