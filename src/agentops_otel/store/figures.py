"""Session figures, folded a batch of spans at a time.

The same fold runs at ingest (adding a batch's new spans to the stored figures) and when a session is
rebuilt from its stored spans, so both give the same numbers. Rules (SPEC.md section 5, docs/backend.md):

- the start marker (``agentops.span.kind == "session.start"``) makes the session known (start time,
  tags, name, host environment) but is not a span of the session: not listed, not counted;
- ``span_count`` counts the root and every other span; what a span is (a model call, a tool call, an
  agent, an action, an error) is read by :func:`~agentops_otel.store.genai.classify`, from our kind or
  from the GenAI conventions and other instrumentations' names;
- model calls: chains of nested model-call spans, each one call (:mod:`~agentops_otel.store.calls`);
  a call with no cost is unpriced, unless it failed and used no tokens (nothing to price); ``models``
  lists every request and response model named, and each call's figures are also kept by model (the
  response model, else the request model);
- ``cost_usd`` is the calls' costs plus ``agentops.usage.cost_usd`` of spans that are not model calls;
- ``errors`` counts failures, not spans (:mod:`~agentops_otel.store.failures`);
- start = first start; end = the root's end (None until the root arrives); duration = last end minus
  first start;
- heartbeats (``agentops.span.kind == "session.heartbeat"``) are not spans of the session either: each
  advances ``last_seen_ns`` and may announce the interval (``heartbeat_s``, also on the start marker),
  from which a reader tells a live idle session from one whose process died (``store/queries.py``);
- end state: the root's ``agentops.session.end_state`` if valid, else its status (OK -> Success,
  ERROR -> Fail), else Indeterminate (also while the root has not arrived);
- a trace none of whose spans carries ``session.id`` is kept as a trace (``is_trace``), not a session.

A span whose figures the store could not hold (a token sum past int64, a cost sum past any float) is
refused alone: :meth:`SessionFigures.add` returns it, and it is not stored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from agentops_otel import semconv
from agentops_otel.store import genai
from agentops_otel.store.calls import Call, calls_of
from agentops_otel.store.failures import MAX_FAILURES_KEPT, Failure, count_failures, failure_record
from agentops_otel.store.records import SpanRecord

END_STATES = semconv.END_STATES
#: Largest heartbeat interval taken from a span (seconds); larger values are read as this.
MAX_HEARTBEAT_S = 86_400.0
_END_STATE_BY_LOWER = {s.lower(): s for s in END_STATES}
_HOST_PREFIXES = semconv.HOST_ENV_PREFIXES
#: The largest sum a BIGINT column holds.
INT64_MAX = 2**63 - 1


def normalise_end_state(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return _END_STATE_BY_LOWER.get(value.strip().lower())


def host_env_of(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if k.startswith(_HOST_PREFIXES)}


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
        "is_trace",
        "agents",
        "unpriced_llm_calls",
        "models",
        "model_figures",
        "failures",
        "has_content",
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
        self.is_trace = True  # until a span names the session (session.id)
        self.agents = 0
        self.unpriced_llm_calls = 0
        self.models: list[str] = []
        #: model -> [calls, input tokens, output tokens, cost, unpriced calls]
        self.model_figures: dict[str, list[Any]] = {}
        self.failures: list[Failure] = []
        self.failure_overflow = 0
        self.has_content = False

    # -- the fold --------------------------------------------------------------------------------------

    def add(
        self, records: Sequence[SpanRecord], found: tuple[list[Call], set[int]] | None = None
    ) -> list[tuple[SpanRecord, str]]:
        """Fold ``records`` (spans of this session not folded before) into the figures. Returns the
        spans refused (with why): their figures do not fit, and they must not be stored. ``found``:
        ``calls_of(records)`` when the caller has it already."""
        refused: list[tuple[SpanRecord, str]] = []
        calls, in_calls = found if found is not None else calls_of(records)
        skip: set[int] = set()
        for call in calls:
            reason = self._add_call(call)
            if reason is not None:
                refused += [(r, reason) for r in call.members]
                skip.update(id(r) for r in call.members)
        for record in records:
            if id(record) in skip:
                continue
            reason = self._add_span(record, id(record) in in_calls)
            if reason is not None:
                refused.append((record, reason))
        self._count_errors()
        return refused

    def _add_call(self, call: Call) -> str | None:
        prompt = self.prompt_tokens + call.input_tokens
        completion = self.completion_tokens + call.output_tokens
        cost = self.cost_usd + (call.cost or 0.0)
        if prompt > INT64_MAX or completion > INT64_MAX:
            return "its token count takes the session's total past 2^63 - 1, the most the store keeps"
        if not math.isfinite(cost):
            return "its cost takes the session's total past the largest number the store keeps"
        self.llm_calls += 1
        self.prompt_tokens, self.completion_tokens, self.cost_usd = prompt, completion, cost
        unpriced = 1 if call.unpriced else 0
        self.unpriced_llm_calls += unpriced
        if call.model is not None:
            figures = self.model_figures.setdefault(call.model, [0, 0, 0, 0.0, 0])
            figures[0] += 1
            figures[1] += call.input_tokens
            figures[2] += call.output_tokens
            figures[3] += call.cost or 0.0
            figures[4] += unpriced
        if not call.names.issubset(self.models):
            self.models = sorted(call.names.union(self.models))
        return None

    def _add_span(self, record: SpanRecord, in_call: bool) -> str | None:
        start, end = record.start_ns, record.end_ns
        if start and (not self.start_ns or start < self.start_ns):
            self.start_ns = start
        seen = max(start, end)
        if seen and (self.last_seen_ns is None or seen > self.last_seen_ns):
            self.last_seen_ns = seen
        if self.trace_id is None:
            self.trace_id = record.trace_id
        if self.is_trace and record.has_session_id:
            self.is_trace = False
        if record.is_heartbeat:
            self._take_interval(record)
            return None
        if end and (self.last_end_ns is None or end > self.last_end_ns):
            self.last_end_ns = end
        if record.is_start_marker:
            self.has_marker = True
            self._take_interval(record)
            if not self.has_root:
                self._take_session_info(record)
            return None
        a = record.attributes
        kind = genai.LLM if in_call else genai.classify(record.kind, a)
        if kind != genai.LLM:
            cost = genai.own_cost(a)
            if cost is not None:
                total = self.cost_usd + cost
                if not math.isfinite(total):
                    return "its cost takes the session's total past the largest number the store keeps"
                self.cost_usd = total
        self.span_count += 1
        if kind == genai.TOOL:
            self.tool_calls += 1
        elif kind == genai.ACTION:
            self.actions += 1
        elif kind == genai.AGENT:
            self.agents += 1
        is_root = record.is_root
        if not is_root and (kind == genai.ERROR or record.status == "ERROR"):
            self._add_failure(record, kind == genai.ERROR)
        # A real session root always wins over a parentless span of another tracer.
        if record.kind == semconv.KIND_SESSION or (is_root and not self.has_root):
            self._take_root(record)
        return None

    def _add_failure(self, record: SpanRecord, error_kind: bool) -> None:
        if len(self.failures) >= MAX_FAILURES_KEPT:
            self.failure_overflow += 1
            return
        signature = genai.exception_signature(record.events)
        self.failures.append(
            failure_record(record.span_id, record.parent_span_id, signature, error_kind, record.start_ns)
        )

    def _count_errors(self) -> None:
        errors = count_failures(self.failures, self.failure_overflow)
        if errors == 0 and self.has_root and self.end_state == semconv.END_STATE_FAIL:
            errors = 1  # the failure that ended the session: an uncaught exception, a signal, Fail
        self.errors = errors

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
        if not previous.is_trace:
            self.is_trace = False
        self.seen_ns = previous.seen_ns
        self.has_content = self.has_content or previous.has_content

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
        failures = None
        if self.failures or self.failure_overflow:
            failures = dumps({"f": self.failures, "n": self.failure_overflow})
        return (
            self.project_id,
            self.session_id,
            self.trace_id,
            self.name,
            self.start_ns or 0,
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
            int(self.is_trace),
            self.agents,
            self.unpriced_llm_calls,
            dumps(self.models),
            dumps(dict(sorted(self.model_figures.items()))),
            failures,
            int(self.has_content),
        )

    @classmethod
    def from_row(cls, row: Any, loads: Any) -> SessionFigures:
        fig = cls(row["project_id"], row["session_id"])
        for column in cls.COLUMNS[2:]:
            setattr(fig, column, row[column])
        for flag in ("has_root", "has_marker", "is_trace", "has_content"):
            setattr(fig, flag, bool(getattr(fig, flag)))
        fig.tags = loads(row["tags"]) if row["tags"] else []
        fig.host_env = loads(row["host_env"]) if row["host_env"] else {}
        fig.models = loads(row["models"]) if row["models"] else []
        fig.model_figures = loads(row["model_figures"]) if row["model_figures"] else {}
        failures = loads(row["failures"]) if row["failures"] else {}
        fig.failures = failures.get("f", [])
        fig.failure_overflow = failures.get("n", 0)
        return fig
