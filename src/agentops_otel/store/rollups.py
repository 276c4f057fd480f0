"""Hourly rollups of the session-level tables, for ``GET /api/overview``.

``overview_hours``, ``overview_models`` and ``overview_tags`` hold, per project and whole UTC hour of
session start, the sums the overview's aggregate queries would compute over ``sessions``,
``session_models`` and ``session_tags``. They are kept by difference: every write of a session's figures
adds what the session now contributes and takes away what it contributed before (``previous``: its row
as stored, read under the session's lock), and retention takes away what a deleted session contributed.
So a late batch that re-folds a session, a root that moves its start to another hour or turns it to
Fail, and a deleted session all leave the rollups equal to the sums over the tables (migrations 0004
and 0005 build them from those sums, :func:`backfill_sql`; ``tests/test_store_rollups.py`` compares
both).

The deltas of one transaction are summed per row and written at its end in key order (so concurrent
transactions on PostgreSQL lock rollup rows in the same order). Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentops_otel.store.figures import SessionFigures
from agentops_otel.store.queries import Tx
from agentops_otel.store.writes import model_rows, tag_names

HOUR_NS = 3_600 * 10**9
_FAILED = "SUM(CASE WHEN end_state = 'Fail' THEN 1 ELSE 0 END)"
#: table -> each summed column and the SQL of its sum over the session-level tables (what the rebuild
#: of a migration writes), in column order.
SUMS: dict[str, dict[str, str]] = {
    "overview_hours": {
        "sessions": "COUNT(*)",
        "failed": _FAILED,
        "llm_calls": "SUM(llm_calls)",
        "tool_calls": "SUM(tool_calls)",
        "prompt_tokens": "SUM(prompt_tokens)",
        "completion_tokens": "SUM(completion_tokens)",
        "cost_usd": "SUM(cost_usd)",
        "errors": "SUM(errors)",
        "unpriced_llm_calls": "SUM(unpriced_llm_calls)",  # schema 0005
    },
    "overview_models": {
        "llm_calls": "SUM(llm_calls)",
        "prompt_tokens": "SUM(prompt_tokens)",
        "completion_tokens": "SUM(completion_tokens)",
        "cost_usd": "SUM(cost_usd)",
        "unpriced_llm_calls": "SUM(unpriced_llm_calls)",
    },
    "overview_tags": {
        "sessions": "COUNT(*)",
        "failed": _FAILED,
        "cost_usd": "SUM(cost_usd)",
        "total_tokens": "SUM(prompt_tokens + completion_tokens)",
        "llm_calls": "SUM(llm_calls)",  # schema 0005
        "unpriced_llm_calls": "SUM(unpriced_llm_calls)",  # schema 0005
    },
}
#: table -> (its key columns after project_id and hour, its summed columns)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "overview_hours": ((), tuple(SUMS["overview_hours"])),
    "overview_models": (("model",), tuple(SUMS["overview_models"])),
    "overview_tags": (("tag",), tuple(SUMS["overview_tags"])),
}


def _upsert(table: str) -> str:
    keys, values = TABLES[table]
    columns = ("project_id", "hour", *keys, *values)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({', '.join(('project_id', 'hour', *keys))}) DO UPDATE SET "
        + ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
    )


_UPSERTS = {table: _upsert(table) for table in TABLES}


def contributions(figures: SessionFigures) -> Iterable[tuple[str, tuple[Any, ...], tuple[Any, ...]]]:
    """What one session adds to the rollups: ``(table, key, values)`` rows (none for a trace)."""
    if figures.is_trace:
        return
    start = figures.start_ns or 0
    hour = start // HOUR_NS
    failed = 1 if figures.end_state == "Fail" else 0
    p = figures.project_id
    yield (
        "overview_hours",
        (p, hour),
        (
            1,
            failed,
            figures.llm_calls,
            figures.tool_calls,
            figures.prompt_tokens,
            figures.completion_tokens,
            figures.cost_usd,
            figures.errors,
            figures.unpriced_llm_calls,
        ),
    )
    for row in model_rows(figures):
        if row[4] > 0:  # a model only requested, of no call: the overview lists models of calls
            yield "overview_models", (p, hour, row[2]), tuple(row[4:])
    tokens = figures.prompt_tokens + figures.completion_tokens
    for tag in tag_names(figures):
        yield (
            "overview_tags",
            (p, hour, tag),
            (1, failed, figures.cost_usd, tokens, figures.llm_calls, figures.unpriced_llm_calls),
        )


class Deltas:
    """The rollup changes of one transaction, summed per row; :meth:`flush` writes them."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: dict[tuple[str, tuple[Any, ...]], list[Any]] = {}

    def add(self, figures: SessionFigures | None, sign: int = 1) -> None:
        if figures is None:
            return
        for table, key, values in contributions(figures):
            total = self.rows.get((table, key))
            if total is None:
                self.rows[(table, key)] = [sign * v for v in values]
            else:
                for i, v in enumerate(values):
                    total[i] += sign * v

    def change(self, previous: SessionFigures | None, figures: SessionFigures) -> None:
        """A session's row goes from ``previous`` (None: it is new) to ``figures``."""
        self.add(previous, -1)
        self.add(figures)

    def flush(self, tx: Tx) -> None:
        by_table: dict[str, list[tuple[Any, ...]]] = {}
        emptied: dict[str, set[tuple[Any, ...]]] = {}
        for (table, key), values in sorted(self.rows.items(), key=lambda item: (item[0][0], item[0][1])):
            if not any(values):
                continue  # a heartbeat, or a batch of spans that were stored already
            by_table.setdefault(table, []).append((*key, *values))
            if values[0] < 0:
                emptied.setdefault(table, set()).add(key)
        self.rows.clear()
        for table, rows in by_table.items():
            tx.run_many(_UPSERTS[table], rows)
        for table, keys in emptied.items():
            # Rows of no session (no call) left: a count only falls when a session leaves its hour
            # (moved or deleted) or a re-fold counts fewer calls.
            count = TABLES[table][1][0]
            tx.run_many(
                f"DELETE FROM {table} WHERE project_id = ? AND hour = ? AND {count} <= 0",
                sorted({k[:2] for k in keys}),
            )


def backfill_sql(columns: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """SQL that builds the rollups from the tables (the same sums as the overview's queries, grouped by
    project and hour): of every table, or of the tables in ``columns`` with those summed columns (a
    migration builds the tables as its revision has them)."""
    hour = f"start_ns / {HOUR_NS}"
    wanted = columns if columns is not None else {table: TABLES[table][1] for table in TABLES}
    # A tag row carries its session's start (so its hour); the figures are its session's.
    tagged = (
        "(SELECT t.project_id, t.start_ns, t.tag, s.end_state, s.llm_calls, s.prompt_tokens,"
        " s.completion_tokens, s.cost_usd, s.unpriced_llm_calls FROM session_tags t CROSS JOIN sessions s"
        " WHERE s.project_id = t.project_id AND s.session_id = t.session_id) tagged"
    )
    sources = {
        "overview_hours": f"FROM sessions WHERE is_trace = 0 GROUP BY project_id, {hour}",
        "overview_models": (
            f"FROM session_models GROUP BY project_id, {hour}, model HAVING SUM(llm_calls) > 0"
        ),
        "overview_tags": f"FROM {tagged} GROUP BY project_id, {hour}, tag",
    }
    statements = []
    for table, names in wanted.items():
        keys = "".join(f"{k}, " for k in TABLES[table][0])
        sums = ", ".join(SUMS[table][n] for n in names)
        statements.append(
            f"INSERT INTO {table} (project_id, hour, {keys}{', '.join(names)})"
            f" SELECT project_id, {hour}, {keys}{sums} {sources[table]}"
        )
    return statements
