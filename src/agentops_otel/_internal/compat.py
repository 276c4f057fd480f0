"""Code written for the ``agentops`` SDK (0.3 and 0.4) runs with ``import agentops_otel as agentops``.

The public face calls these adapters; each maps an agentops call onto this project's model (one active
session per process, SPEC.md) or, where it cannot fit, logs what to write instead and carries on.
docs/migrating-from-agentops.md has the table of every agentops API and what it becomes here.

- ``init``: agentops's options (``trace_name``, ``max_wait_time``, ``skip_auto_end_session``,
  ``log_level``, ...) mapped to ours, or accepted with a one-line note of what they do here;
- ``start_session``/``end_session`` with agentops's spellings; the handle of :mod:`.compat_session`;
- ``start_trace``/``end_trace`` (0.4) are in :mod:`.compat_trace`;
- ``update_trace_metadata``, ``add_tags``/``set_tags``, ``get_session``, ``end_all_sessions``,
  ``configure`` and the small 0.3 helpers.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

from agentops_otel import _config, instrumentation
from agentops_otel._internal import client as _client
from agentops_otel._internal.client import get_client
from agentops_otel._internal.compat_session import (
    ONE_AT_A_TIME,
    Session,
    active_session,
    as_tags,
    end,
    options,
    set_tags,
    wrap,
)
from agentops_otel._internal.session import EndState

logger = logging.getLogger("agentops_otel")


# -- init options ------------------------------------------------------------------------------------

#: agentops options accepted with no effect here, and the note that says why.
NOTES = {
    "fail_safe": "always on: agentops_otel never raises into your code",
    "auto_init": "agentops_otel never starts on import; init() does",
    "prefetch_jwt_token": "the token is fetched on the export thread before the first export",
    "log_session_replay_url": "no URLs are logged; Session.session_url gives the dashboard link",
    "parent_key": "no organisation keys here; the API key's project owns the data",
}
#: agentops environment variables read when neither the argument nor our own variable is set.
ENV_NAMES = {
    "trace_name": "AGENTOPS_TRACE_NAME",
    "max_wait_time": "AGENTOPS_MAX_WAIT_TIME",
    "export_flush_interval": "AGENTOPS_EXPORT_FLUSH_INTERVAL",
    "skip_auto_end_session": "AGENTOPS_SKIP_AUTO_END_SESSION",
    "log_level": "AGENTOPS_LOG_LEVEL",
    "app_url": "AGENTOPS_APP_URL",
}


def translate(given: dict[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any], Any, list[str]]:
    """Our ``init`` options for agentops's: (options, a span processor to add or None, notes)."""
    opts = dict(given)
    for name, variable in ENV_NAMES.items():
        if name not in opts and env.get(variable, "").strip():
            opts[name] = env[variable].strip()
    notes = [f"{name} ({NOTES[name]})" for name in sorted(NOTES) if opts.pop(name, None) is not None]
    if "trace_name" in opts:
        name = opts.pop("trace_name")
        if name and "session_name" not in opts and not env.get("AGENTOPS_SESSION_NAME"):
            opts["session_name"] = str(name)
    for ms_option in ("max_wait_time", "export_flush_interval"):  # the later one wins
        value = opts.pop(ms_option, None)
        if value is not None and "schedule_delay" not in given and not _own_delay(env):
            try:
                opts["schedule_delay"] = max(float(value), 1.0) / 1000.0
            except (TypeError, ValueError):
                notes.append(f"{ms_option} ({value!r} is not a number of milliseconds: not applied)")
    if "api_endpoint" in opts:  # the name of its variable, AGENTOPS_API_ENDPOINT
        value = opts.pop("api_endpoint")
        if value and not opts.get("endpoint"):
            opts["endpoint"] = value
    if "override" in opts:  # agentops 0.2's name of instrument_llm_calls
        opts.setdefault("instrument_llm_calls", bool(opts.pop("override")))
    if "skip_auto_end_session" in opts:
        value = opts.pop("skip_auto_end_session")
        skip = _config.parse_bool(value, False) if isinstance(value, str) else bool(value)
        options.skip_auto_end_session = skip
    if "app_url" in opts:
        options.app_url = str(opts.pop("app_url"))
    if "log_level" in opts:
        _set_log_level(opts.pop("log_level"), notes)
    return opts, opts.pop("processor", None), notes


def _own_delay(env: Mapping[str, str]) -> bool:
    return bool(env.get("AGENTOPS_SCHEDULE_DELAY") or env.get("OTEL_BSP_SCHEDULE_DELAY"))


def _set_log_level(level: Any, notes: list[str]) -> None:
    value = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if isinstance(value, int):
        logging.getLogger("agentops_otel").setLevel(value)
    else:
        notes.append(f"log_level ({level!r} is not a logging level: not applied)")


def init(
    api_key: str | None = None,
    *,
    tags: Iterable[str] | str | None = None,
    auto_start_session: bool = True,
    instrument_llm_calls: bool = True,
    **kwargs: Any,
) -> Session | None:
    """:func:`agentops_otel.init` with agentops's options; returns the session handle. Never raises."""
    try:
        kwargs = {**options.pending, **kwargs}
        options.pending = {}
        default_tags = kwargs.pop("default_tags", None)
        if default_tags is not None:  # agentops: tags (deprecated) and default_tags are merged
            tags = [*as_tags(tags), *as_tags(default_tags)]
        elif isinstance(tags, Mapping):
            tags = as_tags(tags)
        env = os.environ if kwargs.get("config") is None else {}
        kwargs, processor, notes = translate(kwargs, env)
        if notes:
            logger.info("agentops_otel.init: agentops options: %s", "; ".join(notes))
        session_id = _client.init(
            api_key,
            tags=tags,
            auto_start_session=auto_start_session,
            instrument_llm_calls=instrument_llm_calls,
            **kwargs,
        )
        if processor is not None:
            _add_processor(processor)
        return wrap(session_id)
    except Exception:
        logger.exception("agentops_otel.init failed; the program continues without tracing")
        return None


def _add_processor(processor: Any) -> None:
    provider = get_client().tracer_provider
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        logger.warning("agentops_otel.init: processor= given but the tracer provider takes no processors")
        return
    add(processor)


def start_session(
    tags: Iterable[str] | Mapping[str, Any] | str | None = None,
    *,
    name: str | None = None,
    inherited_session_id: str | None = None,
    config: _config.Configuration | None = None,
) -> Session | None:
    """:func:`agentops_otel.start_session`; None (and a warning saying what to write instead) when one
    is active, as SPEC.md section 2 says."""
    client = get_client()
    active = client.current_session_id()
    if active is not None:
        logger.warning(
            "agentops_otel: start_session(): session %s is already active; %s", active, ONE_AT_A_TIME
        )
        return None
    return wrap(
        client.start_session(
            as_tags(tags), name=name, inherited_session_id=inherited_session_id, config=config
        )
    )


def end_session(
    end_state: Any = EndState.SUCCESS,
    end_state_reason: str | None = None,
    video: str | None = None,
    **kwargs: Any,
) -> None:
    """:func:`agentops_otel.end_session` with agentops's calling patterns: ``end_session(session)``,
    ``end_session(session_or_status=...)``, ``is_auto_end=True``. ValueError for an unknown state."""
    target: Any = None
    if "session_or_status" in kwargs:  # agentops 0.4's first parameter, by keyword
        first = kwargs.pop("session_or_status")
        if isinstance(first, Session):
            target = first
        elif first is not None:
            end_state = first
    if isinstance(end_state, Session):
        target, end_state = end_state, kwargs.pop("end_state", EndState.SUCCESS)
    is_auto_end = bool(kwargs.pop("is_auto_end", False))
    if kwargs:
        logger.info("agentops_otel: end_session() ignores %s", ", ".join(sorted(kwargs)))
    end(end_state, end_state_reason, video, target=str(target) if target else None, is_auto_end=is_auto_end)


def get_session(session_id: str | None = None) -> Session | None:
    """The handle of session ``session_id`` (default: the active one). For an id that is not the active
    session it warns, and the handle it returns warns and does nothing (never an AttributeError on
    None); with no id and no session, None."""
    session = active_session(str(session_id) if session_id is not None else None)
    if session is not None:
        return Session(session.id)
    logger.warning(
        "agentops_otel: get_session(%s): no such active session (one session at a time; ended "
        "sessions are read with `agentops-otel sessions show`)",
        session_id if session_id is not None else "",
    )
    return Session(str(session_id)) if session_id else None


def end_all_sessions() -> None:
    """End the active session, if any, as Indeterminate (agentops 0.3's default state)."""
    if active_session() is not None:
        get_client().end_session(EndState.INDETERMINATE, "end_all_sessions() was called")


def update_trace_metadata(metadata: Mapping[str, Any], prefix: str = "trace.metadata") -> bool:
    """Set ``<prefix>.<key>`` attributes on the active session's root span; a ``tags`` key replaces
    the session's tags. True when anything was set."""
    session = active_session()
    if session is None:
        logger.warning("agentops_otel: update_trace_metadata(): no active session")
        return False
    values: dict[str, Any] = {}
    updated = False
    for key, value in dict(metadata).items():
        if key == "tags":
            updated = set_tags(value, add=False) or updated
            continue
        converted = _attribute_value(value)
        if converted is None:
            logger.warning("agentops_otel: update_trace_metadata(): skipping %r: unsupported value", key)
            continue
        values[f"{prefix}.{key}" if prefix else str(key)] = converted
    if values and not session.set_root_attributes(values):
        logger.warning(
            "agentops_otel: update_trace_metadata(): session %s was started by another process", session.id
        )
        return updated
    return updated or bool(values)


def _attribute_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        items = list(value)
        kinds = {type(v) for v in items}
        if len(kinds) <= 1 and kinds <= {str, bool, int, float}:
            return items
        try:
            return json.dumps(items, default=str)
        except (TypeError, ValueError):
            return None
    return None


# -- configure and the small 0.3 helpers ------------------------------------------------------------


def configure(**kwargs: Any) -> None:
    """Before ``init``: options for it (``init``'s own arguments win). After: settings stay as they are."""
    client = get_client()
    if not client.initialized:
        options.pending.update(kwargs)
        return
    logger.warning(
        "agentops_otel.configure(): init() was already called; its settings stay in force (ignored: %s). "
        "Per-session settings go to start_session(config=...)",
        ", ".join(sorted(kwargs)),
    )


def get_api_key() -> str | None:
    return get_client().config.api_key


def set_api_key(api_key: str) -> None:
    configure(api_key=api_key)


def set_parent_key(parent_key: str) -> None:
    logger.info("agentops_otel: set_parent_key(): %s", NOTES["parent_key"])


def stop_instrumenting() -> None:
    instrumentation.uninstrument_all()


def create_agent(name: str | None = None, agent_id: str | None = None, **_: Any) -> str | None:
    """Accepted: agents show as the ``invoke_agent`` spans of ``@agent`` calls. Returns ``agent_id``."""
    return agent_id
