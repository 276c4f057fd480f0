"""The session (and trace) list: filters, sort orders and keyset pages, as SQL for both engines.

- **Keyset pages.** Every order is a sort value and the session id (and project id, over all
  projects), in one direction; a page ends with a cursor holding its last row's values, and the next
  page starts after them (``(value, id) < (?, ?)``), so page 1,000 costs what page 1 does. ``offset``
  still works: the keys of the rows it skips are read (from the list index where the filters allow),
  and only the page's rows are built (a deferred join, :func:`_deferred`).
- **Indexes.** The default order (newest first) reads ``sessions_by_start`` backwards; with a ``tag``
  filter the list is driven by the tag table (``session_tags_by_tag``: project, tag, start), so a tag
  that matches nothing, or a few sessions of 100,000, costs only its matches. ``model`` is a lookup in
  ``session_models`` per session.
- **Text.** ``q`` matches a session whose id starts with it (any case, dashes ignored), whose name
  contains it (ASCII case ignored on both engines, any case on PostgreSQL), with a tag equal to it
  (any case), or whose recorded content contains it (searched by the store: ``content_ids``).

Standard library only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentops_otel.store.figures import END_STATES
from agentops_otel.store.queries import CLOCK, Dialect, duration_ns_sql, end_ns_sql, marks

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000
MAX_OFFSET = 2**62
SORT_KEYS = (
    "start_time",
    "end_time",
    "duration_s",
    "name",
    "span_count",
    "llm_calls",
    "tool_calls",
    "errors",
    "total_tokens",
    "cost_usd",
)


class BadQuery(ValueError):
    """A list query that cannot be answered (a bad sort, cursor or end state): a 400."""


@dataclass
class ListQuery:
    """What a list asks for (``GET /api/sessions``; every field optional)."""

    project_id: str | None = None
    tags: Sequence[str] = ()
    end_state: str | None = None
    limit: int = DEFAULT_LIST_LIMIT
    offset: int = 0
    q: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    sort: str = "-start_time"
    model: str | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    min_errors: int | None = None
    cursor: str | None = None
    traces: bool = False
    content_ids: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.sort.lstrip("-") not in SORT_KEYS:
            raise BadQuery(f"sort must be one of {', '.join(SORT_KEYS)}, with - for descending")
        if self.end_state is not None and self.end_state not in END_STATES:
            raise BadQuery(f"end_state must be one of {', '.join(END_STATES)}")
        self.limit = max(1, min(self.limit, MAX_LIST_LIMIT))
        self.offset = max(0, min(self.offset, MAX_OFFSET))


def _sort_sql(key: str, d: Dialect, by_tag: bool) -> str:
    if key == "start_time":
        return "t0.start_ns" if by_tag else "sessions.start_ns"
    if key == "end_time":
        return f"COALESCE({end_ns_sql()}, 0)"
    if key == "duration_s":
        return f"({duration_ns_sql()})"
    if key == "name":
        return f"COALESCE(sessions.name, ''){d.collate}"
    if key == "total_tokens":
        return "(sessions.prompt_tokens + sessions.completion_tokens)"
    return f"sessions.{key}"


def encode_cursor(sort: str, value: Any, session_id: str, project_id: str | None) -> str:
    raw = json.dumps([sort, value, session_id, project_id], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str, str | None]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        found_sort, value, session_id, project_id = json.loads(raw)
    except (ValueError, TypeError):
        raise BadQuery("cursor is not one this server gave (pass next_cursor back as it is)") from None
    if found_sort != sort:
        raise BadQuery(f"this cursor is for sort={found_sort}; ask again without it to sort by {sort}")
    if not isinstance(session_id, str) or not isinstance(value, (int, float, str)) or isinstance(value, bool):
        raise BadQuery("cursor is not one this server gave (pass next_cursor back as it is)")
    return value, session_id, project_id if isinstance(project_id, str) else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def build(
    query: ListQuery, d: Dialect, object_sql: str, now_ns: int
) -> tuple[str, list[Any], str, list[Any]]:
    """The page's SQL and parameters (rows: object JSON, sort value, session id, project id), and the
    count's. ``object_sql`` is the object built for each row (a session's or a trace's)."""
    by_tag = bool(query.tags) and query.project_id is not None
    key = query.sort.lstrip("-")
    descending = query.sort.startswith("-")
    sort_sql = _sort_sql(key, d, by_tag)
    id_sql = "t0.session_id" if by_tag and key == "start_time" else "sessions.session_id"
    where: list[str] = []
    params: list[Any] = []
    tags = list(query.tags)
    if by_tag:
        source = "session_tags t0 CROSS JOIN sessions CROSS JOIN clock"
        where += [
            "t0.project_id = ?",
            "t0.tag = ?",
            "sessions.project_id = t0.project_id",
            "sessions.session_id = t0.session_id",
        ]
        params += [query.project_id, tags.pop(0)]
    else:
        source = "sessions CROSS JOIN clock"
        if query.project_id is not None:
            where.append("sessions.project_id = ?")
            params.append(query.project_id)
    where.append("sessions.is_trace = ?")
    params.append(1 if query.traces else 0)
    start_col = "t0.start_ns" if by_tag else "sessions.start_ns"
    more_sql, more_params = _filters(query, tags, start_col)
    where += more_sql
    params += more_params
    count_sql, count_params = _rollup_count(query) or (
        f"SELECT COUNT(*) FROM {source.replace(' CROSS JOIN clock', '')} WHERE {' AND '.join(where)}",
        list(params),
    )
    ids = [sort_sql, id_sql] + ([] if query.project_id is not None else ["sessions.project_id"])
    if query.cursor:
        value, session_id, project_id = decode_cursor(query.cursor, query.sort)
        bound = [value, session_id] + ([] if query.project_id is not None else [project_id or ""])
        where.append(f"({', '.join(ids)}) {'<' if descending else '>'} ({marks(bound)})")
        params += bound
    direction = " DESC" if descending else ""
    order = ", ".join(i + direction for i in ids)
    if query.offset:
        sql = _deferred(object_sql, sort_sql, source, " AND ".join(where), order, key, d, direction)
    else:
        sql = (
            f"{CLOCK} SELECT {object_sql}, {sort_sql}, sessions.session_id, sessions.project_id FROM {source}"
            f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ? OFFSET ?"
        )
    params = [now_ns, *params, query.limit + 1, query.offset]
    return sql, params, count_sql, count_params


def _deferred(
    object_sql: str, sort_sql: str, source: str, where: str, order: str, key: str, d: Dialect, direction: str
) -> str:
    """An ``offset`` page as a deferred join: the page's keys first (sort value and ids, from the list
    index), skipping ``offset`` rows, then the object of each of those rows alone, by primary key.
    PostgreSQL computes the select list in the scan below its Limit node, so selecting the objects with
    OFFSET built the JSON of every skipped row (EXPLAIN ANALYZE at offset 5,000 of 10,000 sessions:
    107 ms, all of it in that scan). The object is a scalar subquery so that both engines fetch the
    page's rows by key (as a join, PostgreSQL hashed a scan of the whole table). The parameters are
    those of the plain page, in the same order."""
    if "clock." not in sort_sql + where:  # the clock is for the objects (and the heartbeat-aware sorts)
        source = source.replace(" CROSS JOIN clock", "")
    keys = (
        f"SELECT {sort_sql} AS v, sessions.session_id AS sid, sessions.project_id AS pid FROM {source}"
        f" WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    )
    row = (
        f"(SELECT {object_sql} FROM sessions CROSS JOIN clock"
        " WHERE sessions.project_id = page.pid AND sessions.session_id = page.sid)"
    )
    collate = d.collate if key == "name" else ""
    return (
        f"{CLOCK} SELECT {row}, page.v, page.sid, page.pid FROM ({keys}) page"
        f" ORDER BY page.v{collate}{direction}, page.sid{direction}, page.pid{direction}"
    )


def _rollup_count(query: ListQuery) -> tuple[str, list[Any]] | None:
    """The count of a project's sessions, or of those with one tag, from the overview's rollups
    (``store/rollups.py``: a row per hour), where the list has no other filter: a sum over the
    project's hours instead of a count of its sessions."""
    others = (query.end_state, query.since_ns, query.until_ns, query.model)
    bounds = (query.min_cost, query.max_cost, query.min_errors)
    if query.project_id is None or query.traces or len(query.tags) > 1 or query.q:
        return None
    if any(v is not None for v in (*others, *bounds)):
        return None
    if query.tags:
        return (
            "SELECT COALESCE(SUM(sessions), 0) FROM overview_tags WHERE project_id = ? AND tag = ?",
            [query.project_id, query.tags[0]],
        )
    return "SELECT COALESCE(SUM(sessions), 0) FROM overview_hours WHERE project_id = ?", [query.project_id]


def _filters(query: ListQuery, tags: list[str], start_col: str) -> tuple[list[str], list[Any]]:
    """The conditions of the query's filters but the project and the first tag (which choose the
    index the list is read by), and their parameters."""
    where: list[str] = []
    params: list[Any] = []
    if query.since_ns is not None:
        where.append(f"{start_col} >= ?")
        params.append(query.since_ns)
    if query.until_ns is not None:
        where.append(f"{start_col} < ?")
        params.append(query.until_ns)
    if query.end_state is not None:
        where.append("sessions.end_state = ?")
        params.append(query.end_state)
    for tag in tags:
        where.append(
            "EXISTS (SELECT 1 FROM session_tags tn WHERE tn.project_id = sessions.project_id"
            " AND tn.session_id = sessions.session_id AND tn.tag = ?)"
        )
        params.append(tag)
    if query.model is not None:
        where.append(
            "EXISTS (SELECT 1 FROM session_models sm WHERE sm.project_id = sessions.project_id"
            " AND sm.session_id = sessions.session_id AND sm.model = ?)"
        )
        params.append(query.model)
    for column, op, value in (
        ("cost_usd", ">=", query.min_cost),
        ("cost_usd", "<=", query.max_cost),
        ("errors", ">=", query.min_errors),
    ):
        if value is not None:
            where.append(f"sessions.{column} {op} ?")
            params.append(value)
    if query.q:
        text_sql, text_params = _text_match(query.q, query.content_ids)
        where.append(text_sql)
        params += text_params
    return where, params


def _text_match(q: str, content_ids: list[str]) -> tuple[str, list[Any]]:
    needle = q.strip().lower()
    bare = needle.replace("-", "")
    parts = [
        "replace(lower(sessions.session_id), '-', '') LIKE ? ESCAPE '\\'",
        "lower(sessions.name) LIKE ? ESCAPE '\\'",
        "EXISTS (SELECT 1 FROM session_tags tq WHERE tq.project_id = sessions.project_id"
        " AND tq.session_id = sessions.session_id AND lower(tq.tag) = ?)",
    ]
    params: list[Any] = [_escape_like(bare) + "%", "%" + _escape_like(needle) + "%", needle]
    if content_ids:
        parts.append(f"sessions.session_id IN ({marks(content_ids)})")
        params += content_ids
    return "(" + " OR ".join(parts) + ")", params


def next_cursor(query: ListQuery, rows: list[tuple[Any, ...]]) -> str | None:
    """The cursor after the page (None when it is the last); ``rows`` as fetched (one more than the
    page when there is more)."""
    if len(rows) <= query.limit:
        return None
    last = rows[query.limit - 1]
    value = last[1]
    if not isinstance(value, (int, float, str)):  # PostgreSQL's numeric
        value = int(value) if value == int(value) else float(value)
    return encode_cursor(query.sort, value, last[2], None if query.project_id is not None else last[3])
