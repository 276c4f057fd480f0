"""``GET /api/overview``: a project's sessions over a time range, in totals, per hour or day, per model
and per tag, from aggregate queries over the session-level tables (``sessions``, ``session_models``,
``session_tags``): no span is read, so it costs what the sessions of the range cost (tens of ms at
10,000 sessions, whatever the spans).

Sessions are placed by their start time; a bucket starts on a whole UTC hour or day. Standard library
only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentops_otel.store import clock
from agentops_otel.store.listing import BadQuery
from agentops_otel.store.spanjson import iso

DAY_NS = 86_400 * 10**9
HOUR_NS = 3_600 * 10**9
BUCKETS = {"hour": HOUR_NS, "day": DAY_NS}
#: The default range: the last 7 days. Ranges of up to 2 days are shown by the hour, longer by the day.
DEFAULT_RANGE_NS = 7 * DAY_NS
_HOURLY_UP_TO_NS = 2 * DAY_NS
#: The most buckets one answer holds.
MAX_BUCKETS = 2000
#: Models and tags listed, most used first.
MAX_GROUPS = 100


def _tag_filter(alias: str, tags: Sequence[str]) -> tuple[str, list[Any]]:
    sql = "".join(
        f" AND EXISTS (SELECT 1 FROM session_tags f{i} WHERE f{i}.project_id = {alias}.project_id"
        f" AND f{i}.session_id = {alias}.session_id AND f{i}.tag = ?)"
        for i in range(len(tags))
    )
    return sql, list(tags)


def _series(
    rows: list[tuple[Any, ...]], first: int, last: int, size: int
) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
    """Every bucket from ``first`` to ``last`` (empty ones too) from the rows of the bucket query, and
    the totals and cost summed over them."""
    by_bucket = {int(r[0]): r for r in rows}
    names = ("sessions", "failed", "llm_calls", "tool_calls", "prompt_tokens", "completion_tokens")
    totals: dict[str, Any] = dict.fromkeys((*names, "errors"), 0)
    cost = 0.0
    series = []
    for index in range(first, last + 1):
        r = by_bucket.get(index)
        counts = (
            dict(zip(names, (int(v or 0) for v in r[1:7]), strict=True)) if r else dict.fromkeys(names, 0)
        )
        counts["errors"] = int(r[8] or 0) if r else 0
        bucket_cost = float(r[7] or 0.0) if r else 0.0
        for name, value in counts.items():
            totals[name] += value
        cost += bucket_cost
        series.append(
            {
                "start": iso(index * size),
                "sessions": counts["sessions"],
                "failed": counts["failed"],
                "llm_calls": counts["llm_calls"],
                "total_tokens": counts["prompt_tokens"] + counts["completion_tokens"],
                "cost_usd": round(bucket_cost, 10),
                "errors": counts["errors"],
            }
        )
    return series, totals, cost


class OverviewMixin:
    """The overview of a store (mixed into :class:`~agentops_otel.store.base.BaseStore`)."""

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def overview(
        self,
        project_id: str,
        *,
        since_ns: int | None = None,
        until_ns: int | None = None,
        bucket: str | None = None,
        tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        until = clock.now_ns() if until_ns is None else until_ns
        since = until - DEFAULT_RANGE_NS if since_ns is None else since_ns
        if since >= until:
            raise BadQuery("since must be before until")
        if bucket is None:
            bucket = "hour" if until - since <= _HOURLY_UP_TO_NS else "day"
        if bucket not in BUCKETS:
            raise BadQuery("bucket must be hour or day")
        size = BUCKETS[bucket]
        first, last = since // size, (until - 1) // size
        if last - first + 1 > MAX_BUCKETS:
            raise BadQuery(
                f"{last - first + 1} buckets of a {bucket}: at most {MAX_BUCKETS}; choose bucket=day"
            )
        base = [project_id, since, until]
        tag_sql, tag_params = _tag_filter("s", tags)
        rows = self._read(
            f"SELECT s.start_ns / {size}, COUNT(*), SUM(CASE WHEN s.end_state = 'Fail' THEN 1 ELSE 0 END),"
            " SUM(s.llm_calls), SUM(s.tool_calls), SUM(s.prompt_tokens), SUM(s.completion_tokens),"
            " SUM(s.cost_usd), SUM(s.errors) FROM sessions s WHERE s.project_id = ? AND s.is_trace = 0"
            f" AND s.start_ns >= ? AND s.start_ns < ?{tag_sql} GROUP BY s.start_ns / {size}",
            [*base, *tag_params],
        )
        series, totals, cost = _series(rows, first, last, size)
        return {
            "since": iso(since),
            "until": iso(until),
            "bucket": bucket,
            "totals": {
                **totals,
                "fail_rate": round(totals["failed"] / totals["sessions"], 6) if totals["sessions"] else 0.0,
                "total_tokens": totals["prompt_tokens"] + totals["completion_tokens"],
                "cost_usd": round(cost, 10),
            },
            "series": series,
            "by_model": self._by_model(base, tags),
            "by_tag": self._by_tag(base, tags),
        }

    def _by_model(self, base: list[Any], tags: Sequence[str]) -> list[dict[str, Any]]:
        tag_sql, tag_params = _tag_filter("m", tags)
        rows = self._read(
            "SELECT m.model, SUM(m.llm_calls), SUM(m.prompt_tokens), SUM(m.completion_tokens),"
            " SUM(m.cost_usd), SUM(m.unpriced_llm_calls) FROM session_models m WHERE m.project_id = ?"
            f" AND m.start_ns >= ? AND m.start_ns < ?{tag_sql} GROUP BY m.model HAVING SUM(m.llm_calls) > 0"
            f" ORDER BY SUM(m.llm_calls) DESC, m.model LIMIT {MAX_GROUPS}",
            [*base, *tag_params],
        )
        return [
            {
                "model": r[0],
                "llm_calls": int(r[1]),
                "prompt_tokens": int(r[2]),
                "completion_tokens": int(r[3]),
                "cost_usd": round(float(r[4]), 10),
                "unpriced_llm_calls": int(r[5]),
            }
            for r in rows
        ]

    def _by_tag(self, base: list[Any], tags: Sequence[str]) -> list[dict[str, Any]]:
        tag_sql, tag_params = _tag_filter("s", tags)
        rows = self._read(
            "SELECT t.tag, COUNT(*), SUM(CASE WHEN s.end_state = 'Fail' THEN 1 ELSE 0 END), SUM(s.cost_usd),"
            " SUM(s.prompt_tokens + s.completion_tokens) FROM session_tags t CROSS JOIN sessions s"
            " WHERE t.project_id = ? AND t.start_ns >= ? AND t.start_ns < ? AND s.project_id = t.project_id"
            f" AND s.session_id = t.session_id{tag_sql} GROUP BY t.tag ORDER BY COUNT(*) DESC, t.tag"
            f" LIMIT {MAX_GROUPS}",
            [*base, *tag_params],
        )
        return [
            {
                "tag": r[0],
                "sessions": int(r[1]),
                "failed": int(r[2]),
                "cost_usd": round(float(r[3] or 0.0), 10),
                "total_tokens": int(r[4] or 0),
            }
            for r in rows
        ]
