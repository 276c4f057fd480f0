"""Configuration: keyword arguments > ``AGENTOPS_*`` > ``OTEL_*`` > defaults.

Every field is documented on :class:`Configuration` and read by the code that it names; the tests in
``tests/test_config.py`` check that each one takes effect.
"""

from __future__ import annotations

import dataclasses
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
    #: Instrument the OpenAI and Anthropic SDKs.
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
        """Defaults, then ``OTEL_*``, then ``AGENTOPS_*``, then ``overrides`` (None means "not given")."""
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
            values["capture_content"] = parse_bool(
                env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"], False
            )

        if env.get("AGENTOPS_API_KEY"):
            values["api_key"] = env["AGENTOPS_API_KEY"]
        if env.get("AGENTOPS_API_ENDPOINT"):
            values["endpoint"] = env["AGENTOPS_API_ENDPOINT"]
        if env.get("AGENTOPS_EXPORTER_ENDPOINT"):
            values["exporter_endpoint"] = env["AGENTOPS_EXPORTER_ENDPOINT"]
        if env.get("AGENTOPS_DB"):
            values["db_path"] = env["AGENTOPS_DB"]
        if "AGENTOPS_TAGS" in env:
            values["default_tags"] = parse_tags(env["AGENTOPS_TAGS"])
        if "AGENTOPS_PROPAGATE_CONTEXT_TO_THREADS" in env:
            values["propagate_context_to_threads"] = parse_bool(
                env["AGENTOPS_PROPAGATE_CONTEXT_TO_THREADS"], True
            )
        if "AGENTOPS_ENV_DATA_OPT_OUT" in env:
            values["env_data_opt_out"] = parse_bool(env["AGENTOPS_ENV_DATA_OPT_OUT"], False)
        if (f := _env_float(env, "AGENTOPS_SHUTDOWN_TIMEOUT")) is not None:
            values["shutdown_timeout"] = f
        if "AGENTOPS_SPOOL" in env:
            values["spool_undelivered"] = parse_bool(env["AGENTOPS_SPOOL"], True)

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


FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(Configuration))

# The configuration in force, read by instrumentation (content capture, prices) without importing the
# client. Replaced as a whole, never mutated, so readers need no lock.
_active: Configuration | None = None


def active() -> Configuration:
    """The configuration of ``init``, or one read from the environment when ``init`` was not called."""
    global _active
    if _active is None:
        _active = Configuration.from_env()
    return _active


def set_active(config: Configuration) -> None:
    global _active
    _active = config


def capture_content() -> bool:
    """Whether prompts, completions, arguments and results may be recorded."""
    return active().capture_content
