"""Configuration: keyword arguments > ``AGENTOPS_*`` > ``OTEL_*`` > defaults.

Every field is documented on :class:`Configuration` and read by the code that it names; the tests in
``tests/test_config.py`` check that each one takes effect.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger("agentops_otel")

#: Base URL of the AgentOps cloud, used only with an API key and no endpoint (SPEC.md section 2).
CLOUD_API_ENDPOINT = "https://api.agentops.ai"
#: OTLP traces URL of the AgentOps cloud.
CLOUD_EXPORTER_ENDPOINT = "https://otlp.agentops.ai/v1/traces"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def default_db_path() -> str:
    """``$XDG_DATA_HOME/agentops-otel/agentops.db`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "agentops-otel", "agentops.db")


def parse_bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    logger.warning("agentops_otel: cannot read %r as a boolean; using %s", value, default)
    return default


def parse_tags(value: str | Iterable[str] | None) -> list[str]:
    """Tags from a comma-separated string or an iterable; blanks and duplicates removed, order kept."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    seen: dict[str, None] = {}
    for item in items:
        tag = item.strip()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def parse_capture_mode(value: str) -> bool:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``: a boolean, or one of the modes of the
    contrib GenAI instrumentations (``span_only``, ``event_only``, ``span_and_event``: content is
    recorded; ``no_content``: it is not)."""
    text = value.strip().lower()
    if text in ("span_only", "event_only", "span_and_event"):
        return True
    if text == "no_content":
        return False
    return parse_bool(value, False)


def _env_float(env: Mapping[str, str], name: str, scale: float = 1.0) -> float | None:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw) * scale
    except ValueError:
        logger.warning("agentops_otel: ignoring %s=%r: not a number", name, raw)
        return None
    if value <= 0:
        logger.warning("agentops_otel: ignoring %s=%r: must be positive", name, raw)
        return None
    return value


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    value = _env_float(env, name)
    return None if value is None else int(value)


@dataclass
class Configuration:
    """Settings of the SDK. Build one directly, or let :func:`agentops_otel.init` read the environment.

    Precedence: keyword arguments > ``AGENTOPS_*`` variables > ``OTEL_*`` variables > these defaults.
    """

    #: Project API key, exchanged for a token at ``POST /v3/auth/token``. Env: ``AGENTOPS_API_KEY``.
    api_key: str | None = None
    #: Backend base URL (auth and REST API). Env: ``AGENTOPS_API_ENDPOINT``. With neither endpoint nor
    #: key, spans go to the embedded local store (:attr:`db_path`).
    endpoint: str | None = None
    #: OTLP/HTTP traces URL. Env: ``AGENTOPS_EXPORTER_ENDPOINT``; default ``<endpoint>/v1/traces``.
    exporter_endpoint: str | None = None
    #: Local store file used when no endpoint and no key is set, and where undelivered spans are spooled
    #: (:attr:`spool_undelivered`). Env: ``AGENTOPS_DB``.
    db_path: str | None = None
    #: Tags added to every session. Env: ``AGENTOPS_TAGS`` (comma-separated).
    default_tags: list[str] = field(default_factory=list)
    #: Session name: the root span is ``<name>.session``.
    session_name: str = "agentops"
    #: Start a session in :func:`agentops_otel.init`.
    auto_start_session: bool = True
    #: End the open session (Indeterminate, or Fail after an uncaught exception or a signal) at exit.
    end_session_at_exit: bool = True
    #: Chain a SIGTERM handler that ends the session as Fail and flushes before the process dies.
    handle_sigterm: bool = True
    #: Instrument the LLM SDKs (OpenAI, Anthropic, Google Gen AI), LiteLLM and the agent frameworks
    #: (OpenAI Agents SDK, LangChain/LangGraph, CrewAI) as they are imported.
    instrument_llm_calls: bool = True
    #: Record prompts, completions, tool arguments and results.
    #: Env: ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
    capture_content: bool = False
    #: Carry the OpenTelemetry context (and so the session) into ``threading.Thread`` and
    #: ``concurrent.futures`` executors. Env: ``AGENTOPS_PROPAGATE_CONTEXT_TO_THREADS``.
    propagate_context_to_threads: bool = True
    #: Accept any inbound W3C baggage ``session.id``, not only one equal to the inbound trace id.
    trust_inbound_session: bool = False
    #: Do not collect the host environment (psutil) on the session root. Env: ``AGENTOPS_ENV_DATA_OPT_OUT``.
    env_data_opt_out: bool = False
    #: Spans held in memory waiting for export; past it new spans are dropped and counted.
    #: Env: ``OTEL_BSP_MAX_QUEUE_SIZE``.
    max_queue_size: int = 8192
    #: Spans per export request. Env: ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``.
    max_export_batch_size: int = 512
    #: Seconds between exports when fewer than a batch are waiting. Env: ``OTEL_BSP_SCHEDULE_DELAY`` (ms).
    schedule_delay: float = 1.0
    #: Seconds one export request may take. Env: ``OTEL_EXPORTER_OTLP_TIMEOUT`` (s) or
    #: ``OTEL_BSP_EXPORT_TIMEOUT`` (ms).
    export_timeout: float = 5.0
    #: Seconds the process waits at exit, in all, for a backend to take undelivered spans.
    #: Env: ``AGENTOPS_SHUTDOWN_TIMEOUT``.
    shutdown_timeout: float = 3.0
    #: Spans still undelivered (backend unreachable) when the process exits are written to the store
    #: file (:attr:`store_path`) and sent by the next process with the same endpoint and key.
    #: Env: ``AGENTOPS_SPOOL``.
    spool_undelivered: bool = True
    #: The most the spool table may hold, in bytes of encoded bodies; past it the oldest rows go first
    #: (counted and logged). Env: ``AGENTOPS_SPOOL_MAX_BYTES``.
    spool_max_bytes: int = 64 * 1024 * 1024
    #: Seconds a spooled body is kept; older ones are dropped (counted and logged) rather than sent.
    #: Env: ``AGENTOPS_SPOOL_MAX_AGE``.
    spool_max_age: float = 7 * 24 * 3600.0
    #: Seconds between the heartbeats of a session this process started (a zero-length
    #: ``<name>.session.heartbeat`` span), so a backend can tell a live idle session from one whose
    #: process died; 0 sends none. Env: ``AGENTOPS_HEARTBEAT_INTERVAL``.
    heartbeat_interval: float = 15.0
    #: With content capture on, replace values that look like secrets (provider API keys, bearer tokens,
    #: JWTs, private keys, ``password=...`` and JSON ``"password": ...``) by ``[REDACTED]`` in recorded
    #: content. Env: ``AGENTOPS_REDACT_SECRETS``.
    redact_secrets: bool = True
    #: More regular expressions whose matches are redacted (their first group, when they have one).
    #: Env: ``AGENTOPS_REDACT_PATTERNS`` (a JSON list, or one pattern).
    redact_patterns: list[str] = field(default_factory=list)
    #: Export with this exporter instead of the AgentOps or local-store exporter.
    exporter: SpanExporter | None = None
    #: Add the SDK's own export processor to the provider. False when the provider already exports with
    #: the AgentOps exporter (``OTEL_TRACES_EXPORTER=agentops`` under the stock configurator), so spans
    #: are not sent twice; sessions are still stamped.
    export_spans: bool = True
    #: ``service.name`` of a provider the SDK creates. Env: ``OTEL_SERVICE_NAME``.
    service_name: str | None = None
    #: Model prices overriding or adding to the shipped price table: ``{model: {"input": usd_per_mtok,
    #: "output": usd_per_mtok, "cached_input": usd_per_mtok}}``.
    pricing: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Hosts of OpenAI-compatible servers and the ``gen_ai.provider.name`` to record for them, on top of
    #: the known ones (``api.groq.com`` -> ``groq``, ...): ``{"gpu-box:8000": "vllm", "llm.corp": "openai"}``
    #: (``host`` or ``host:port``). Env: ``AGENTOPS_PROVIDER_HOSTS`` (JSON, or ``host=name,host=name``).
    provider_hosts: dict[str, str] = field(default_factory=dict)

    # -- derived values ------------------------------------------------------------------------------

    @property
    def destination(self) -> str:
        """``"backend"`` (endpoint set), ``"cloud"`` (key only) or ``"local"`` (neither)."""
        if self.endpoint:
            return "backend"
        if self.api_key:
            return "cloud"
        return "local"

    @property
    def api_url(self) -> str:
        if self.endpoint:
            return self.endpoint.rstrip("/")
        return CLOUD_API_ENDPOINT

    @property
    def traces_url(self) -> str:
        if self.exporter_endpoint:
            return self.exporter_endpoint
        if self.endpoint:
            return self.endpoint.rstrip("/") + "/v1/traces"
        return CLOUD_EXPORTER_ENDPOINT

    @property
    def store_path(self) -> str:
        return self.db_path or default_db_path()

    def replace(self, **changes: Any) -> Configuration:
        return dataclasses.replace(self, **changes)

    # -- construction ----------------------------------------------------------------------------------

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Configuration:
        """Defaults, then ``OTEL_*``, then ``AGENTOPS_*``, then ``overrides`` (None means "not given").

        Every field but :attr:`exporter` has a variable ``AGENTOPS_<FIELD>`` (the name in upper case);
        a few also have the shorter names SPEC.md gives (``AGENTOPS_API_ENDPOINT``, ``AGENTOPS_DB``,
        ``AGENTOPS_TAGS``, ``AGENTOPS_SPOOL``), which the ``AGENTOPS_<FIELD>`` name beats when both
        are set. A value that cannot be read is logged and skipped.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}

        # OTEL_* first, so AGENTOPS_* can win over them.
        if (v := _env_int(env, "OTEL_BSP_MAX_QUEUE_SIZE")) is not None:
            values["max_queue_size"] = v
        if (v := _env_int(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")) is not None:
            values["max_export_batch_size"] = v
        if (f := _env_float(env, "OTEL_BSP_SCHEDULE_DELAY", 0.001)) is not None:
            values["schedule_delay"] = f
        if (f := _env_float(env, "OTEL_BSP_EXPORT_TIMEOUT", 0.001)) is not None:
            values["export_timeout"] = f
        if (f := _env_float(env, "OTEL_EXPORTER_OTLP_TIMEOUT")) is not None:
            values["export_timeout"] = f
        if env.get("OTEL_SERVICE_NAME"):
            values["service_name"] = env["OTEL_SERVICE_NAME"]
        if "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in env:
            values["capture_content"] = parse_capture_mode(
                env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"]
            )

        for name, variables in ENV_VARIABLES.items():
            for variable in reversed(variables):  # the AGENTOPS_<FIELD> name, first, wins
                raw = env.get(variable)
                if raw is None:
                    continue
                parsed = _ENV_PARSERS[name](env, variable)
                if parsed is not _UNSET:
                    values[name] = parsed

        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        if "default_tags" in values:
            values["default_tags"] = parse_tags(values["default_tags"])
        return cls(**values)

    def merged(self, **overrides: Any) -> Configuration:
        """A copy with every override that is not None applied (keyword arguments win)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "default_tags" in changes:
            changes["default_tags"] = parse_tags(changes["default_tags"])
        return dataclasses.replace(self, **changes) if changes else self


_UNSET: Any = object()


def _read_text(env: Mapping[str, str], name: str) -> Any:
    return env[name].strip() or _UNSET


def _read_bool(env: Mapping[str, str], name: str) -> Any:
    text = env[name].strip().lower()
    if not text:
        return _UNSET  # set but empty: as if not set
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    logger.warning("agentops_otel: ignoring %s=%r: not true/false/1/0/yes/no", name, env[name])
    return _UNSET


def _read_float(env: Mapping[str, str], name: str) -> Any:
    value = _env_float(env, name)
    return _UNSET if value is None else value


def _read_int(env: Mapping[str, str], name: str) -> Any:
    value = _env_int(env, name)
    return _UNSET if value is None else value


def _read_tags(env: Mapping[str, str], name: str) -> Any:
    return parse_tags(env[name])


def _read_non_negative(env: Mapping[str, str], name: str) -> Any:
    raw = env[name].strip()
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        logger.warning("agentops_otel: ignoring %s=%r: not a number >= 0", name, env[name])
        return _UNSET
    return value


def _read_patterns(env: Mapping[str, str], name: str) -> Any:
    raw = env[name].strip()
    if not raw:
        return _UNSET
    if raw.startswith("["):
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            logger.warning("agentops_otel: ignoring %s: not a JSON list of strings", name)
            return _UNSET
        return value
    return [raw]


def _read_prices(env: Mapping[str, str], name: str) -> Any:
    try:
        value = json.loads(env[name])
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        logger.warning(
            'agentops_otel: ignoring %s: not a JSON object like {"model": {"input": 1.0, "output": 2.0}}',
            name,
        )
        return _UNSET
    return value


def _read_names(env: Mapping[str, str], name: str) -> Any:
    text = env[name].strip()
    try:
        value = (
            json.loads(text) if text.startswith("{") else dict(p.split("=", 1) for p in text.split(",") if p)
        )
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        logger.warning("agentops_otel: ignoring %s: not like host=name,host=name", name)
        return _UNSET
    return {str(k).strip(): v.strip() for k, v in value.items()}


_READERS_BY_TYPE = {
    "bool": _read_bool,
    "int": _read_int,
    "float": _read_float,
    "str": _read_text,
    "str | None": _read_text,
    "list[str]": _read_tags,
    "dict[str, dict[str, float]]": _read_prices,
    "dict[str, str]": _read_names,
}
#: Shorter names SPEC.md gives some variables, besides ``AGENTOPS_<FIELD>``.
_ALIASES = {
    "endpoint": "AGENTOPS_API_ENDPOINT",
    "db_path": "AGENTOPS_DB",
    "default_tags": "AGENTOPS_TAGS",
    "spool_undelivered": "AGENTOPS_SPOOL",
}
_NOT_FROM_ENV = frozenset({"exporter"})  # a live object

#: The environment variables of each field, the ``AGENTOPS_<FIELD>`` one first.
ENV_VARIABLES: dict[str, tuple[str, ...]] = {
    f.name: (f"AGENTOPS_{f.name.upper()}", *((_ALIASES[f.name],) if f.name in _ALIASES else ()))
    for f in dataclasses.fields(Configuration)
    if f.name not in _NOT_FROM_ENV
}
#: Fields whose variable is read otherwise than their type says.
_READERS_BY_FIELD = {"heartbeat_interval": _read_non_negative, "redact_patterns": _read_patterns}
_ENV_PARSERS = {
    f.name: _READERS_BY_FIELD.get(f.name) or _READERS_BY_TYPE[str(f.type)]
    for f in dataclasses.fields(Configuration)
    if f.name in ENV_VARIABLES
}

FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Configuration))
