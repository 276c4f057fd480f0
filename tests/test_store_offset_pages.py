"""``offset`` pages (read as a deferred join: the page's keys, then its rows) equal the cursor pages of
the same list on both stores, object for object and with the same next cursor: every sort (ties broken
by the session id), tag-driven lists, filters, traces, and the list over all projects."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from agentops_otel.store.base import BaseStore
from agentops_otel.store.listing import ListQuery
from agentops_otel.store.records import SpanRecord

MINUTE = 60 * 10**9


def _session(i: int, start: int, tags: list[str]) -> list[SpanRecord]:
    sid = str(uuid.UUID(int=i * 7919 + 17, version=4))
    trace, base = uuid.UUID(sid).hex, {"session.id": sid}
    name = {"agentops.session.name": f"job {i % 7}"} if i % 5 else {}  # ties, and sessions of no name
    root = os.urandom(8).hex()
    spans = [
        SpanRecord(trace, root, None, "agentops.session", start, start + (i % 6 + 1) * 10**9,
                   "ERROR" if i % 4 == 0 else "OK", "",
                   {**base, **name, "agentops.span.kind": "session", "agentops.session.tags": tags}),
    ]  # fmt: skip
    for n in range(i % 3):  # llm_calls and costs tie across sessions
        attrs = {**base, "gen_ai.operation.name": "chat", "gen_ai.request.model": f"m{i % 2}",
                 "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": n,
                 "agentops.usage.cost_usd": 0.001 * (i % 2)}  # fmt: skip
        t = start + (n + 1) * 1000
        spans.append(SpanRecord(trace, os.urandom(8).hex(), root, "chat", t, t + 500, "OK", "", attrs))
    return spans


def _trace(i: int, start: int) -> list[SpanRecord]:
    """Spans that carry no session id: a trace."""
    trace = uuid.UUID(int=10**6 + i).hex
    return [SpanRecord(trace, os.urandom(8).hex(), None, f"GET /{i % 3}", start, start + 10**6, "OK", "", {})]


def _pages(store: BaseStore, limit: int, by: str, **query: Any) -> list[tuple[list[str], str | None]]:
    """Every page of the list, walked by cursor or by offset: (objects as JSON text, next cursor)."""
    pages: list[tuple[list[str], str | None]] = []
    cursor = None
    for number in range(200):
        paging = {"cursor": cursor} if by == "cursor" else {"offset": number * limit}
        texts, _, next_cursor = store.list_page(ListQuery(limit=limit, **query, **paging))
        if not texts:
            return pages
        pages.append((texts, next_cursor))
        cursor = next_cursor
        if by == "cursor" and cursor is None:
            return pages
    raise AssertionError("the list never ended")


QUERIES: list[dict[str, Any]] = [
    {},
    {"sort": "name"},
    {"sort": "-name"},
    {"sort": "errors"},
    {"sort": "-llm_calls"},
    {"sort": "cost_usd"},
    {"sort": "-duration_s"},
    {"sort": "end_time"},
    {"sort": "-total_tokens"},
    {"end_state": "Success"},
    {"tags": ("a",)},
    {"tags": ("a",), "sort": "-cost_usd"},
    {"tags": ("a", "b"), "sort": "start_time"},
    {"model": "m1", "sort": "-span_count"},
    {"min_errors": 1},
]


def test_offset_pages_equal_cursor_pages(any_store: BaseStore) -> None:
    first = any_store.ensure_project("first")
    second = any_store.ensure_project("second")
    now = time.time_ns() - 1000 * MINUTE
    for i in range(23):
        any_store.ingest(first, _session(i, now + (i // 2) * MINUTE, ["a"] + (["b"] if i % 2 else [])))
    for i in range(5):  # the same start times as sessions of the first project
        any_store.ingest(second, _session(100 + i, now + i * MINUTE, ["a"]))
    for i in range(6):
        any_store.ingest(first, _trace(i, now + i * MINUTE))

    lists = [{"project_id": first, **q} for q in QUERIES]
    lists += [
        {"project_id": None},
        {"project_id": None, "sort": "name"},
        {"project_id": None, "tags": ("a",)},
    ]
    lists += [{"project_id": first, "traces": True}, {"project_id": None, "traces": True, "sort": "-name"}]
    for query in lists:
        full, _, _ = any_store.list_page(ListQuery(limit=1000, **query))
        assert full, query
        for limit in (2, 7):
            by_cursor = _pages(any_store, limit, "cursor", **query)
            by_offset = _pages(any_store, limit, "offset", **query)
            assert by_offset == by_cursor, (query, limit)
            assert [t for texts, _ in by_offset for t in texts] == full, (query, limit)
    # The lists hold what was sent: the first project's sessions and traces, both projects' sessions.
    assert len(any_store.list_page(ListQuery(first, limit=1000))[0]) == 23
    assert len(any_store.list_page(ListQuery(None, limit=1000))[0]) == 28
    traces = any_store.list_page(ListQuery(first, limit=1000, traces=True))[0]
    assert len(traces) == 6 and all("trace_id" in json.loads(t) for t in traces)
