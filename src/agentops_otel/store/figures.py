"""Session figures, folded one span at a time.

The same fold runs at ingest (adding a batch to the stored figures) and when a session is rebuilt from
its stored spans, so both give the same numbers. Rules (SPEC.md section 5):

- the start marker (``agentops.span.kind == "session.start"``) makes the session known (start time,
  tags, name, host environment) but is not a span of the session: not listed, not counted;
- ``span_count`` counts the root and every other span; ``llm_calls``/``tool_calls``/``actions`` count
  spans of that kind; ``errors`` counts spans other than the root whose status is ERROR or whose kind is
  ``error``, each once;
- tokens are ``gen_ai.usage.input_tokens``/``output_tokens`` of ``llm`` spans (the older
  ``prompt_tokens``/``completion_tokens`` names are read when the new ones are absent);
  ``cost_usd`` sums ``agentops.usage.cost_usd`` of every span;
- start = first start; end = the root's end (None until the root arrives); duration = last end minus
  first start;
- heartbeats (``agentops.span.kind == "session.heartbeat"``) are not spans of the session either: each
  advances ``last_seen_ns`` and may announce the interval (``heartbeat_s``, also on the start marker),
  from which a reader tells a live idle session from one whose process died (``store/queries.py``);
- end state: the root's ``agentops.session.end_state`` if valid, else its status (OK -> Success,
  ERROR -> Fail), else Indeterminate (also while the root has not arrived).
"""

from __future__ import annotations

from typing import Any

from agentops_otel import semconv
from agentops_otel.store.records import SpanRecord

END_STATES = semconv.END_STATES
#: Largest heartbeat interval taken from a span (seconds); larger values are read as this.
MAX_HEARTBEAT_S = 86_400.0
_END_STATE_BY_LOWER = {s.lower(): s for s in END_STATES}
_HOST_PREFIXES = semconv.HOST_ENV_PREFIXES
_INPUT_TOKENS = (semconv.USAGE_INPUT_TOKENS, semconv.USAGE_PROMPT_TOKENS_OLD)
_OUTPUT_TOKENS = (semconv.USAGE_OUTPUT_TOKENS, semconv.USAGE_COMPLETION_TOKENS_OLD)


def normalise_end_state(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return _END_STATE_BY_LOWER.get(value.strip().lower())


def host_env_of(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k.startswith(_HOST_PREFIXES)}


def _tokens(attributes: dict[str, Any], names: tuple[str, str]) -> int:
    for name in names:
        value = attributes.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return 0


def _session_name(record: SpanRecord) -> str | None:
    name = record.attributes.get(semconv.SESSION_NAME)
    if isinstance(name, str) and name:
        return name
    for suffix in (".session.start", ".session"):
        if record.name.endswith(suffix):
            return record.name[: -len(suffix)] or None
    return record.name or None


def _tags(attributes: dict[str, Any]) -> list[str] | None:
    value = attributes.get(semconv.SESSION_TAGS)
    if value is None:
        value = attributes.get("agentops.tags")  # the name AgentOps' own SDK uses
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


class SessionFigures:
    """The stored figures of one session (one row of the ``sessions`` table)."""

    COLUMNS = (
        "project_id",
        "session_id",
        "trace_id",
        "name",
        "start_ns",
        "last_end_ns",
        "end_ns",
        "has_root",
        "has_marker",
        "end_state",
        "end_state_reason",
        "tags",
        "host_env",
        "video",
        "span_count",
        "llm_calls",
        "tool_calls",
        "actions",
        "errors",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "last_seen_ns",
        "seen_ns",
        "heartbeat_s",
    )

    def __init__(self, project_id: str, session_id: str) -> None:
        self.project_id = project_id
        self.session_id = session_id
        self.trace_id: str | None = None
        self.name: str | None = None
        self.start_ns: int | None = None
        self.last_end_ns: int | None = None
        self.end_ns: int | None = None
        self.has_root = False
        self.has_marker = False
        self.end_state = "Indeterminate"
        self.end_state_reason: str | None = None
        self.tags: list[str] = []
        self.host_env: dict[str, Any] = {}
        self.video: str | None = None
        self.span_count = 0
        self.llm_calls = 0
        self.tool_calls = 0
        self.actions = 0
        self.errors = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self.last_seen_ns: int | None = None
        self.seen_ns: int | None = None  # set by the store: when it last received a span of the session
        self.heartbeat_s: float | None = None

    def add(self, record: SpanRecord) -> None:
        start, end = record.start_ns, record.end_ns
        if start and (self.start_ns is None or start < self.start_ns):
            self.start_ns = start
        seen = max(start, end)
        if seen and (self.last_seen_ns is None or seen > self.last_seen_ns):
            self.last_seen_ns = seen
        if self.trace_id is None:
            self.trace_id = record.trace_id
        if record.is_heartbeat:
            self._take_interval(record)
            return
        if end and (self.last_end_ns is None or end > self.last_end_ns):
            self.last_end_ns = end
        if record.is_start_marker:
            self.has_marker = True
            self._take_interval(record)
            if not self.has_root:
                self._take_session_info(record)
            return

        self.span_count += 1
        kind = record.kind
        a = record.attributes
        if kind == semconv.KIND_LLM:
            self.llm_calls += 1
            self.prompt_tokens += _tokens(a, _INPUT_TOKENS)
            self.completion_tokens += _tokens(a, _OUTPUT_TOKENS)
        elif kind == semconv.KIND_TOOL:
            self.tool_calls += 1
        elif kind == semconv.KIND_ACTION:
            self.actions += 1
        cost = a.get(semconv.COST_USD)
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            self.cost_usd += float(cost)
        is_root = record.is_root
        if not is_root and (kind == semconv.KIND_ERROR or record.status == "ERROR"):
            self.errors += 1
        # A real session root always wins over a parentless span of another tracer.
        if kind == semconv.KIND_SESSION or (is_root and not self.has_root):
            self._take_root(record)

    def _take_interval(self, record: SpanRecord) -> None:
        interval = record.attributes.get(semconv.SESSION_HEARTBEAT_INTERVAL)
        if isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval > 0:
            # Bounded, so that "3 x interval + 10 s" stays a sane number of nanoseconds.
            self.heartbeat_s = min(float(interval), MAX_HEARTBEAT_S)

    def keep_heartbeat_state(self, previous: SessionFigures | None) -> None:
        """After a rebuild from the stored spans: keep what only heartbeats (never stored) told."""
        if previous is None:
            return
        if previous.last_seen_ns and (self.last_seen_ns is None or previous.last_seen_ns > self.last_seen_ns):
            self.last_seen_ns = previous.last_seen_ns
        if previous.heartbeat_s is not None:
            self.heartbeat_s = previous.heartbeat_s
        self.seen_ns = previous.seen_ns

    def _take_session_info(self, record: SpanRecord) -> None:
        a = record.attributes
        self.trace_id = record.trace_id
        name = _session_name(record)
        if name:
            self.name = name
        tags = _tags(a)
        if tags is not None:
            self.tags = tags
        env = host_env_of(a)
        if env:
            self.host_env = env
        video = a.get(semconv.SESSION_VIDEO)
        if isinstance(video, str) and video:
            self.video = video

    def _take_root(self, record: SpanRecord) -> None:
        self.has_root = True
        self._take_session_info(record)
        a = record.attributes
        self.end_ns = record.end_ns or None
        state = normalise_end_state(a.get(semconv.SESSION_END_STATE))
        if state is None:
            state = {"OK": "Success", "ERROR": "Fail"}.get(record.status, "Indeterminate")
        self.end_state = state
        reason = a.get(semconv.SESSION_END_STATE_REASON)
        if isinstance(reason, str) and reason:
            self.end_state_reason = reason
        elif record.status == "ERROR" and record.status_message:
            self.end_state_reason = record.status_message
        else:
            self.end_state_reason = None

    # -- rows ------------------------------------------------------------------------------------------

    def to_row(self, dumps: Any) -> tuple[Any, ...]:
        return (
            self.project_id,
            self.session_id,
            self.trace_id,
            self.name,
            self.start_ns,
            self.last_end_ns,
            self.end_ns,
            int(self.has_root),
            int(self.has_marker),
            self.end_state,
            self.end_state_reason,
            dumps(self.tags),
            dumps(self.host_env),
            self.video,
            self.span_count,
            self.llm_calls,
            self.tool_calls,
            self.actions,
            self.errors,
            self.prompt_tokens,
            self.completion_tokens,
            self.cost_usd,
            self.last_seen_ns,
            self.seen_ns,
            self.heartbeat_s,
        )

    @classmethod
    def from_row(cls, row: Any, loads: Any) -> SessionFigures:
        fig = cls(row["project_id"], row["session_id"])
        for column in cls.COLUMNS[2:]:
            setattr(fig, column, row[column])
        fig.has_root = bool(fig.has_root)
        fig.has_marker = bool(fig.has_marker)
        fig.tags = loads(row["tags"]) if row["tags"] else []
        fig.host_env = loads(row["host_env"]) if row["host_env"] else {}
        return fig
