"""The overview's hourly rollups (and the list totals read from them) on both stores stay equal to the
sums over the session tables (what migrations 0004 and 0005 build them from) through new sessions, late
batches that re-fold a session, a root that moves a session to another hour and fails it, unpriced
calls, heartbeats, and retention; and the overview read from them gives the figures of the sessions."""

from __future__ import annotations

import time
import uuid
from typing import Any

from agentops_otel.store import rollups
from agentops_otel.store.base import BaseStore
from agentops_otel.store.listing import ListQuery
from agentops_otel.store.queries import Tx
from agentops_otel.store.records import SpanRecord

HOUR = 3_600 * 10**9
DAY = 24 * HOUR


def rows_of(store: BaseStore) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    for table, (keys, values) in rollups.TABLES.items():
        columns = ", ".join(("project_id", "hour", *keys, *values))
        rows = store._read(f"SELECT {columns} FROM {table}")
        found[table] = sorted(
            tuple(
                round(float(v), 9) if isinstance(v, float) else int(v) if str(v).isdigit() else v for v in r
            )
            for r in rows
        )
    return found


def rebuilt(store: BaseStore) -> dict[str, list[tuple[Any, ...]]]:
    """The rollups as the migration builds them from the tables (written, then read back)."""

    def work(tx: Tx) -> None:
        for table in rollups.TABLES:
            tx.run(f"DELETE FROM {table}")
        for sql in rollups.backfill_sql():
            tx.run(sql)

    store._write(work)
    return rows_of(store)


def totals(store: BaseStore, project: str, **query: Any) -> tuple[int, int]:
    """The list's total as read from the rollups, and as counted (``since_ns=0`` reads no rollup)."""
    fast = store.list_page(ListQuery(project, **query))[1]
    counted = store.list_page(ListQuery(project, since_ns=0, **query))[1]
    return fast, counted


def assert_rollups_right(store: BaseStore, project: str) -> None:
    kept = rows_of(store)
    assert kept == rebuilt(store)
    for query in ({}, {"tags": ("a",)}, {"tags": ("t0",)}, {"tags": ("no such tag",)}):
        fast, counted = totals(store, project, **query)
        assert fast == counted


class Session:
    def __init__(self, start_ns: int, tags: list[str]) -> None:
        self.id = str(uuid.uuid4())
        self.trace = uuid.UUID(self.id).hex
        self.start = start_ns
        self.tags = tags
        self.n = 0

    def span(self, kind: str, parent: str | None = None, at: int = 0, **attrs: Any) -> SpanRecord:
        self.n += 1
        return SpanRecord(self.trace, f"{self.n:016x}", parent, kind, self.start + at, self.start + at + 1000,
                          attrs.pop("status", "OK"), "",
                          {"session.id": self.id, "agentops.span.kind": kind, **attrs})  # fmt: skip

    def marker(self) -> SpanRecord:
        return self.span("session.start", None, 0, **{"agentops.session.tags": self.tags})

    def llm(
        self, parent: str | None, model: str, tokens: int, at: int = 10, priced: bool = True, **more: Any
    ) -> SpanRecord:
        return self.span("llm", parent, at, **{
            "gen_ai.operation.name": "chat", "gen_ai.request.model": model, "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": 7 if tokens else 0,
            **({"agentops.usage.cost_usd": tokens * 1e-6} if priced else {}), **more})  # fmt: skip

    def root(self, at: int, status: str = "OK") -> SpanRecord:
        return self.span("session", None, at, status=status, **{"agentops.session.tags": self.tags})


def test_rollups_follow_ingest_refolds_moves_and_retention(any_store: BaseStore) -> None:
    project = any_store.ensure_project("rollups")
    now = time.time_ns()
    hour_ago = now - now % HOUR - HOUR  # a whole hour back: the overview reads it from the rollups
    sessions = [Session(hour_ago + i * 60 * 10**9, ["a", f"t{i % 2}"]) for i in range(4)]
    old = Session(now - 40 * DAY, ["a"])
    for s in [*sessions, old]:
        any_store.ingest(project, [s.marker(), s.llm(None, "gpt-4o", 100)])
    assert_rollups_right(any_store, project)
    before = any_store.overview(project)
    assert before["totals"]["sessions"] == 4 and before["totals"]["llm_calls"] == 4

    # A late batch: a call nested in a stored one (the session is folded again from its spans), and a
    # root that starts an hour earlier (the session moves to another hour) and fails it.
    late = sessions[0]
    first_llm = f"{2:016x}"
    any_store.ingest(project, [late.llm(first_llm, "gpt-4o", 50, at=20)])
    assert_rollups_right(any_store, project)
    any_store.ingest(project, [late.root(-HOUR, status="ERROR"), sessions[1].root(500)])
    assert_rollups_right(any_store, project)
    # A heartbeat changes no figure; a batch sent again stores nothing.
    any_store.ingest(project, [sessions[2].span("session.heartbeat", None, 900)])
    any_store.ingest(project, [sessions[3].llm(None, "claude-3", 30, at=50)] * 2)
    assert_rollups_right(any_store, project)

    after = any_store.overview(project, tags=())
    assert after["totals"]["sessions"] == 4 and after["totals"]["failed"] == 1
    assert totals(any_store, project) == (5, 5) and totals(any_store, project, tags=("t1",)) == (2, 2)
    assert after["totals"]["llm_calls"] == 5  # the nested call counts once with its parent, plus claude
    assert {m["model"]: m["llm_calls"] for m in after["by_model"]} == {"gpt-4o": 4, "claude-3": 1}
    assert {t["tag"]: (t["sessions"], t["failed"]) for t in after["by_tag"]} == {
        "a": (4, 1), "t0": (2, 1), "t1": (2, 0)}  # fmt: skip
    # The same answer from the tables alone (a tag filter reads no rollup) for the sessions tagged "a".
    assert any_store.overview(project, tags=["a"])["totals"] == after["totals"]
    assert any_store.overview(project, tags=["a"])["by_model"] == after["by_model"]

    assert any_store.overview(project, since_ns=now - 50 * DAY)["totals"]["sessions"] == 5
    assert any_store.prune(30 * 86_400) == 1
    assert_rollups_right(any_store, project)
    assert any_store.overview(project, since_ns=now - 50 * DAY)["totals"]["sessions"] == 4
    assert rows_of(any_store)["overview_hours"][0][1] != old.start // HOUR  # its hour's row went with it
    # The list's total without filters is the rollups' (without them it would read 0).
    any_store._write(lambda tx: tx.run("DELETE FROM overview_hours"))
    assert totals(any_store, project) == (0, 4)


def test_unpriced_calls_in_the_totals_and_per_tag(any_store: BaseStore) -> None:
    """A call with no cost that used tokens is unpriced (``store.calls.is_unpriced``); a failed call that
    used none is not. The rollups count them per hour and tag through a late call, a move to another
    hour and retention, and the overview gives them in the totals and each tag, from the rollups and
    from the tables alike."""
    project = any_store.ensure_project("unpriced")
    now = time.time_ns()
    hour_ago = now - now % HOUR - HOUR
    priced, unpriced = Session(hour_ago, ["all", "p"]), Session(hour_ago + 30 * 60 * 10**9, ["all", "u"])
    any_store.ingest(project, [priced.marker(), priced.llm(None, "gpt-4o", 100)])
    any_store.ingest(project, [unpriced.marker(), unpriced.llm(None, "local-llm", 40, priced=False),
                               unpriced.llm(None, "local-llm", 0, at=30, priced=False, status="ERROR")])  # fmt: skip
    assert_rollups_right(any_store, project)
    any_store.ingest(project, [unpriced.llm(None, "local-llm", 9, at=40, priced=False)])  # a late call
    assert_rollups_right(any_store, project)

    def figures(**query: Any) -> tuple[tuple[int, int], dict[str, tuple[int, int, float]]]:
        found = any_store.overview(project, **query)
        t = found["totals"]
        tags = {r["tag"]: (r["llm_calls"], r["unpriced_llm_calls"], r["cost_usd"]) for r in found["by_tag"]}
        return (t["llm_calls"], t["unpriced_llm_calls"]), tags

    totals, tags = figures()
    assert totals == (4, 2)
    assert tags == {"all": (4, 2, 100e-6), "p": (1, 0, 100e-6), "u": (3, 2, 0.0)}
    assert figures(tags=["u"]) == ((3, 2), {"all": (3, 2, 0.0), "u": (3, 2, 0.0)})  # from the tables
    any_store.ingest(project, [unpriced.root(-2 * HOUR)])  # the session moves to an earlier hour
    assert_rollups_right(any_store, project)
    assert figures() == (totals, tags)
    assert any_store.prune(60, now_ns=time.time_ns() + 2 * DAY) == 2
    assert_rollups_right(any_store, project)
    assert rows_of(any_store)["overview_tags"] == [] and figures() == ((0, 0), {})


def test_an_overview_of_whole_hours_equals_one_with_edges(any_store: BaseStore) -> None:
    """Whole hours come from the rollups, the ends of a range from the tables: any split gives the
    sessions of the range."""
    project = any_store.ensure_project("edges")
    now = time.time_ns()
    base = now - now % HOUR - 5 * HOUR
    sessions = [Session(base + i * 17 * 60 * 10**9, ["x"]) for i in range(16)]  # one every 17 minutes
    for s in sessions:
        any_store.ingest(project, [s.marker(), s.llm(None, "m", 10), s.root(10**6)])
    starts = [s.start for s in sessions]
    for since, until in (
        (base, base + 4 * HOUR),  # whole hours only
        (base + 7 * 60 * 10**9, base + 3 * HOUR + 11 * 60 * 10**9),  # ends inside hours
        (base + 10 * 60 * 10**9, base + 40 * 60 * 10**9),  # inside one hour: tables only
    ):
        found = any_store.overview(project, since_ns=since, until_ns=until)
        expected = sum(since <= t < until for t in starts)
        assert found["totals"]["sessions"] == expected
        assert found["totals"]["llm_calls"] == expected
        assert sum(b["sessions"] for b in found["series"]) == expected
        assert found["by_tag"] == ([{"tag": "x", "sessions": expected, "failed": 0,
                                     "cost_usd": round(expected * 10e-6, 10),
                                     "total_tokens": expected * 17, "llm_calls": expected,
                                     "unpriced_llm_calls": 0}] if expected else [])  # fmt: skip
