"""The SQL that differs between SQLite and PostgreSQL, and the read-side SQL built from it.

Everything else the stores run is one SQL text for both (``?`` placeholders, ``ON CONFLICT``, which both
engines speak; the PostgreSQL store turns ``?`` into ``%s``). What differs: JSON construction, ISO time
formatting, rounding, and the tag filter. Session objects (SPEC.md section 5) are built by the database
as JSON text, so listing 10,000 sessions never builds 10,000 Python dicts on the server.

A session whose root has not arrived, whose SDK announced a heartbeat interval, and from which nothing
was received for ``3 x interval + 10 s`` (the backend's clock, so a skewed SDK clock cannot kill a live
session) reads as ended: Indeterminate, ``end_time`` = the last span or heartbeat it sent, and a reason
saying so. Nothing is written for it: if the root arrives later, it wins.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: A session is read as ended when nothing arrived for ``HEARTBEAT_MISSES x interval + HEARTBEAT_GRACE_S``.
HEARTBEAT_MISSES = 3
HEARTBEAT_GRACE_S = 10

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def iso_time(ns: int | None) -> str | None:
    """Unix nanoseconds as ISO 8601 UTC with microseconds, e.g. ``2025-01-02T03:04:05.678901Z``."""
    if not ns:
        return None
    moment = _EPOCH + _dt.timedelta(microseconds=ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Tx(Protocol):
    """One open transaction (or, for reads, one connection): what the shared SQL runs on."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


@dataclass(frozen=True)
class Dialect:
    name: str
    json_object: str  # function building a JSON object from key/value pairs
    iso_format: str  # SQL of iso_time() for a column, with {c} for the column
    round_format: str  # SQL of round(value, digits), with {v} and {d}
    json_text: str  # SQL embedding a TEXT column holding JSON, with {c}
    tag_filter: str  # WHERE clause: the session has the tag (placeholders: tag_params)
    object_as_text: str  # SQL turning a built JSON object into text, with {o}
    tag_as_json: bool = False  # tag_filter takes the tag's JSON text first, then the tag
    collate: str = ""  # appended to text compared or sorted, so that both engines order by code point

    def tag_params(self, tag: str) -> tuple[str, ...]:
        if self.tag_as_json:
            return json.dumps(tag, ensure_ascii=False), tag
        return (tag,)

    def iso(self, column: str) -> str:
        return self.iso_format.format(c=column)

    def round(self, value: str, digits: int) -> str:
        return self.round_format.format(v=value, d=digits)


SQLITE = Dialect(
    name="sqlite",
    json_object="json_object",
    iso_format=(
        "CASE WHEN {c} > 0 THEN strftime('%Y-%m-%dT%H:%M:%S', {c} / 1000000000, 'unixepoch')"
        " || printf('.%06dZ', ({c} / 1000) % 1000000) END"
    ),
    round_format="round({v}, {d})",
    json_text="json({c})",
    tag_filter="EXISTS (SELECT 1 FROM json_each(sessions.tags) WHERE json_each.value = ?)",
    object_as_text="{o}",
)

# No "%" anywhere below: psycopg reads it as a placeholder.
POSTGRESQL = Dialect(
    name="postgresql",
    json_object="json_build_object",
    iso_format=(
        "CASE WHEN {c} > 0 THEN to_char(timestamp '1970-01-01' + ({c} / 1000) * interval '1 microsecond',"
        ' \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') END'
    ),
    round_format="round(CAST({v} AS numeric), {d})",
    json_text="CAST({c} AS json)",
    # A substring test on the stored text first (cheap), the exact JSON test only where it matches.
    tag_filter=(
        "strpos(sessions.tags, CAST(? AS text)) > 0"
        " AND CAST(sessions.tags AS jsonb) @> jsonb_build_array(CAST(? AS text))"
    ),
    tag_as_json=True,
    object_as_text="CAST({o} AS text)",
    collate=' COLLATE "C"',
)


def stale_sql() -> str:
    """True for a session read as ended because its heartbeats stopped (the module docstring)."""
    return (
        f"(sessions.has_root = 0 AND sessions.heartbeat_s IS NOT NULL AND sessions.seen_ns IS NOT NULL"
        f" AND sessions.seen_ns < clock.now_ns"
        f" - ({HEARTBEAT_MISSES} * sessions.heartbeat_s + {HEARTBEAT_GRACE_S}) * 1000000000.0)"
    )


def end_ns_sql() -> str:
    """The session's end in ns as read (see :func:`stale_sql`); NULL while it runs."""
    return f"CASE WHEN {stale_sql()} THEN sessions.last_seen_ns ELSE sessions.end_ns END"


def duration_ns_sql() -> str:
    stale, seen, start = stale_sql(), "sessions.last_seen_ns", "sessions.start_ns"
    last_end = "sessions.last_end_ns"
    return (
        f"CASE WHEN {stale} AND {start} > 0 AND {seen} >= {start} THEN {seen} - {start}"
        f" WHEN {start} > 0 AND {last_end} >= {start} THEN {last_end} - {start} ELSE 0 END"
    )


def _figure_pairs(d: Dialect) -> list[tuple[str, str]]:
    return [
        ("span_count", "sessions.span_count"),
        ("llm_calls", "sessions.llm_calls"),
        ("tool_calls", "sessions.tool_calls"),
        ("actions", "sessions.actions"),
        ("agents", "sessions.agents"),
        ("errors", "sessions.errors"),
        ("prompt_tokens", "sessions.prompt_tokens"),
        ("completion_tokens", "sessions.completion_tokens"),
        ("total_tokens", "sessions.prompt_tokens + sessions.completion_tokens"),
        ("cost_usd", d.round("sessions.cost_usd", 10)),
        ("unpriced_llm_calls", "sessions.unpriced_llm_calls"),
        ("models", d.json_text.format(c="sessions.models")),
        ("trace_id", "sessions.trace_id"),
    ]


def _times(d: Dialect) -> list[tuple[str, str]]:
    return [
        ("start_time", d.iso("sessions.start_ns")),
        ("end_time", d.iso(end_ns_sql())),
        ("duration_s", d.round(f"({duration_ns_sql()}) / 1000000000.0", 6)),
    ]


def _object(d: Dialect, pairs: list[tuple[str, str]]) -> str:
    body = ",\n    ".join(f"'{key}', {value}" for key, value in pairs)
    return d.object_as_text.format(o=f"{d.json_object}(\n    {body}\n)")


def session_json_sql(d: Dialect) -> str:
    """SQL of one session object as JSON text, over ``sessions`` joined with ``clock(now_ns)``."""
    seen = "sessions.last_seen_ns"
    pairs = [
        ("session_id", "sessions.session_id"),
        ("project_id", "sessions.project_id"),
        ("name", "sessions.name"),
        *_times(d),
        ("end_state", "sessions.end_state"),
        (
            "end_state_reason",
            f"CASE WHEN {stale_sql()} THEN 'the process stopped sending heartbeats at ' || {d.iso(seen)}"
            " || ' without end_session' ELSE sessions.end_state_reason END",
        ),
        ("tags", d.json_text.format(c="sessions.tags")),
        ("host_env", d.json_text.format(c="sessions.host_env")),
        ("video", "sessions.video"),
        *_figure_pairs(d),
    ]
    return _object(d, pairs)


def trace_json_sql(d: Dialect) -> str:
    """SQL of one trace object (a trace that carries no session) as JSON text: its root's name and
    status, its times and the same figures as a session."""
    status = "CASE sessions.end_state WHEN 'Success' THEN 'OK' WHEN 'Fail' THEN 'ERROR' ELSE 'UNSET' END"
    pairs = [
        ("trace_id", "sessions.trace_id"),
        ("project_id", "sessions.project_id"),
        ("name", "sessions.name"),
        *_times(d),
        ("status", f"CASE WHEN sessions.has_root = 1 THEN {status} ELSE 'UNSET' END"),
        ("status_message", "sessions.end_state_reason"),
        *[p for p in _figure_pairs(d) if p[0] != "trace_id"],
    ]
    return _object(d, pairs)


def marks(items: Sequence[Any]) -> str:
    """``?, ?, ...``: one placeholder per item, for an ``IN (...)`` list."""
    return ", ".join("?" * len(items))


#: The clock of a read, as a one-row table: ``WITH clock(now_ns) AS (SELECT ?)``.
CLOCK = "WITH clock(now_ns) AS (SELECT CAST(? AS BIGINT))"
