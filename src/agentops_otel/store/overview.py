"""``GET /api/overview``: a project's sessions over a time range, in totals, per hour or day, per model
and per tag. The whole UTC hours of the range are read from the hourly rollups (``store/rollups.py``:
a row per hour, model and tag, whatever the sessions); the parts of an hour at either end, and every
answer with a tag filter, from aggregate queries over the session-level tables (``sessions``,
``session_models``, ``session_tags``). No span is read.

Sessions are placed by their start time; a bucket starts on a whole UTC hour or day. Standard library
only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentops_otel.store import clock
from agentops_otel.store.listing import BadQuery
from agentops_otel.store.rollups import HOUR_NS
from agentops_otel.store.spanjson import iso

DAY_NS = 86_400 * 10**9
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
    totals: dict[str, Any] = dict.fromkeys((*names, "errors", "unpriced_llm_calls"), 0)
    cost = 0.0
    series = []
    for index in range(first, last + 1):
        r = by_bucket.get(index)
        counts = (
            dict(zip(names, (int(v or 0) for v in r[1:7]), strict=True)) if r else dict.fromkeys(names, 0)
        )
        counts["errors"] = int(r[8] or 0) if r else 0
        totals["unpriced_llm_calls"] += int(r[9] or 0) if r else 0
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


class _Parts:
    """Where the figures of a range come from: whole hours ``hours`` (first, end) from the rollups,
    ``exact`` ranges of start times from the tables (all of the range with a tag filter)."""

    def __init__(self, project_id: str, since: int, until: int, tags: Sequence[str]) -> None:
        self.project_id = project_id
        self.tags = list(tags)
        first_hour, end_hour = -(-since // HOUR_NS), until // HOUR_NS
        if tags or first_hour >= end_hour:
            self.hours: tuple[int, int] | None = None
            self.exact = [(since, until)]
        else:
            self.hours = (first_hour, end_hour)
            edges = [(since, first_hour * HOUR_NS), (end_hour * HOUR_NS, until)]
            self.exact = [(a, b) for a, b in edges if a < b]

    def union(self, rollup_sql: str, exact_sql: str, alias: str) -> tuple[str, list[Any]]:
        """The rows of the rollup table (``rollup_sql``, filtered by project and hours here) and of the
        tables (``exact_sql``, filtered by start time here, ``alias`` its sessions table), as one."""
        arms: list[str] = []
        params: list[Any] = []
        if self.hours is not None:
            arms.append(f"{rollup_sql} WHERE project_id = ? AND hour >= ? AND hour < ?")
            params += [self.project_id, *self.hours]
        tag_sql, tag_params = _tag_filter(alias, self.tags)
        joiner = " AND " if " WHERE " in exact_sql else " WHERE "
        for since, until in self.exact:
            arms.append(
                f"{exact_sql}{joiner}{alias}.project_id = ? AND {alias}.start_ns >= ?"
                f" AND {alias}.start_ns < ?{tag_sql}"
            )
            params += [self.project_id, since, until, *tag_params]
        return " UNION ALL ".join(arms), params


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
        parts = _Parts(project_id, since, until, tags)
        union, params = parts.union(
            f"SELECT hour / {size // HOUR_NS} AS b, sessions AS n, failed, llm_calls, tool_calls,"
            " prompt_tokens, completion_tokens, cost_usd, errors, unpriced_llm_calls FROM overview_hours",
            f"SELECT s.start_ns / {size} AS b, 1 AS n, CASE WHEN s.end_state = 'Fail' THEN 1 ELSE 0 END"
            " AS failed, s.llm_calls, s.tool_calls, s.prompt_tokens, s.completion_tokens, s.cost_usd,"
            " s.errors, s.unpriced_llm_calls FROM sessions s WHERE s.is_trace = 0",
            "s",
        )
        rows = self._read(
            "SELECT b, SUM(n), SUM(failed), SUM(llm_calls), SUM(tool_calls), SUM(prompt_tokens),"
            f" SUM(completion_tokens), SUM(cost_usd), SUM(errors), SUM(unpriced_llm_calls) FROM ({union}) u"
            " GROUP BY b",
            params,
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
            "by_model": self._by_model(parts),
            "by_tag": self._by_tag(parts),
        }

    def _by_model(self, parts: _Parts) -> list[dict[str, Any]]:
        union, params = parts.union(
            "SELECT model, llm_calls, prompt_tokens, completion_tokens, cost_usd, unpriced_llm_calls"
            " FROM overview_models",
            "SELECT m.model, m.llm_calls, m.prompt_tokens, m.completion_tokens, m.cost_usd,"
            " m.unpriced_llm_calls FROM session_models m",
            "m",
        )
        rows = self._read(
            "SELECT model, SUM(llm_calls), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd),"
            f" SUM(unpriced_llm_calls) FROM ({union}) u GROUP BY model HAVING SUM(llm_calls) > 0"
            f" ORDER BY SUM(llm_calls) DESC, model LIMIT {MAX_GROUPS}",
            params,
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

    def _by_tag(self, parts: _Parts) -> list[dict[str, Any]]:
        # A session's tag rows carry its start and exist only for sessions (not traces): the rows of
        # a range are found from its sessions.
        union, params = parts.union(
            "SELECT tag, sessions AS n, failed, cost_usd, total_tokens, llm_calls, unpriced_llm_calls"
            " FROM overview_tags",
            "SELECT t.tag, 1 AS n, CASE WHEN s.end_state = 'Fail' THEN 1 ELSE 0 END AS failed, s.cost_usd,"
            " s.prompt_tokens + s.completion_tokens AS total_tokens, s.llm_calls, s.unpriced_llm_calls"
            " FROM sessions s CROSS JOIN session_tags t"
            " WHERE s.is_trace = 0 AND t.project_id = s.project_id AND t.session_id = s.session_id",
            "s",
        )
        rows = self._read(
            "SELECT tag, SUM(n), SUM(failed), SUM(cost_usd), SUM(total_tokens), SUM(llm_calls),"
            " SUM(unpriced_llm_calls)"
            f" FROM ({union}) u GROUP BY tag HAVING SUM(n) > 0 ORDER BY SUM(n) DESC, tag LIMIT {MAX_GROUPS}",
            params,
        )
        return [
            {
                "tag": r[0],
                "sessions": int(r[1]),
                "failed": int(r[2]),
                "cost_usd": round(float(r[3] or 0.0), 10),
                "total_tokens": int(r[4] or 0),
                "llm_calls": int(r[5] or 0),
                "unpriced_llm_calls": int(r[6] or 0),
            }
            for r in rows
        ]
