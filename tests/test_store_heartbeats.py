"""Heartbeats on both stores: not spans of the session, but they keep it alive; a session whose root never
came and that fell silent for 3 x interval + 10 s reads as Indeterminate with a reason; the root wins.

"Later" is the backend's clock moved forward (``clock.now_ns``): what a reader sees that many seconds on.
The real thing, an SDK process killed with SIGKILL, is in test_store_servers.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from agentops_otel.store import clock
from agentops_otel.store.base import BaseStore
from agentops_otel.store.records import SpanRecord, from_readable_spans
from agentops_otel.store.sqlite import iso_time
from backend_fixtures import OK, SpanMaker

INTERVAL = 0.5
SILENCE = 3 * INTERVAL + 10  # seconds without news after which a session reads as ended


def heartbeat(marker: SpanRecord, at_ns: int, span_id: int, interval: float | None = INTERVAL) -> SpanRecord:
    attributes: dict[str, object] = {
        "session.id": marker.session_id,
        "agentops.span.kind": "session.heartbeat",
    }
    if interval is not None:
        attributes["agentops.session.heartbeat_interval"] = interval
    return SpanRecord(
        marker.trace_id, f"{span_id:016x}", marker.parent_span_id, "agentops.session.heartbeat", at_ns, at_ns,
        attributes=attributes,
    )  # fmt: skip


def started(
    store: BaseStore, interval: float | None = INTERVAL
) -> tuple[str, str, SpanRecord, list[SpanRecord]]:
    """A project and a session whose start marker announced ``interval``; its unsent spans."""
    project = store.ensure_project()
    extra = {} if interval is None else {"agentops.session.heartbeat_interval": interval}
    sid, marker_spans, rest = SpanMaker().session(
        root_status=OK, root_attrs=extra, children=[("search", {"agentops.span.kind": "tool"}, None)]
    )
    [marker] = from_readable_spans(marker_spans)
    marker.attributes.update(extra)
    store.ingest(project, [marker])
    return project, sid, marker, from_readable_spans(rest)


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> Callable[[], None]:
    real = time.time_ns
    monkeypatch.setattr(clock, "now_ns", lambda: real() + int(seconds * 1e9))
    return lambda: monkeypatch.setattr(clock, "now_ns", real)


def test_heartbeats_keep_an_idle_session_running_and_are_not_spans(
    any_store: BaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, sid, marker, _ = started(any_store)
    beats = [heartbeat(marker, marker.end_ns + i * 500_000_000, 100 + i) for i in range(1, 4)]
    assert any_store.ingest(project, beats) == 0  # nothing stored as a span
    assert any_store.count_spans(project) == 1  # the marker only
    session = any_store.get_session(sid, project)
    assert session is not None
    assert session["span_count"] == 0 and session["spans"] == []
    assert session["end_time"] is None and session["end_state"] == "Indeterminate"
    assert session["end_state_reason"] is None
    # Read 5 s on: heartbeats were received a moment ago, well within 3 x 0.5 + 10 s.
    later(monkeypatch, 5)
    assert any_store.get_session(sid, project)["end_time"] is None  # type: ignore[index]


def test_a_silent_session_reads_as_ended_with_a_reason(
    any_store: BaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, sid, marker, rest = started(any_store)
    child = next(r for r in rest if r.kind != "session")
    last = heartbeat(marker, marker.end_ns + 2_000_000_000, 200)
    any_store.ingest(project, [heartbeat(marker, marker.end_ns + 1_000_000_000, 199), last])
    restore = later(monkeypatch, SILENCE + 1)
    [listed] = any_store.list_sessions(project)
    assert listed["end_state"] == "Indeterminate"
    assert listed["end_time"] == iso_time(last.end_ns)
    assert listed["end_state_reason"] == (
        f"the process stopped sending heartbeats at {iso_time(last.end_ns)} without end_session"
    )
    assert listed["duration_s"] == pytest.approx((last.end_ns - marker.start_ns) / 1e9, abs=1e-5)
    assert [s["session_id"] for s in any_store.list_sessions(project, end_state="Indeterminate")] == [sid]
    assert any_store.get_session(sid, project, with_spans=False) == listed
    restore()
    # A span that arrives (a late batch) is news too: the session is running again.
    any_store.ingest(project, [child])
    later(monkeypatch, SILENCE - 1)
    assert any_store.get_session(sid, project)["end_time"] is None  # type: ignore[index]


def test_the_root_wins_when_it_arrives_later(any_store: BaseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    project, sid, marker, rest = started(any_store)
    any_store.ingest(project, [heartbeat(marker, marker.end_ns + 1_000_000_000, 300)])
    any_store.ingest(project, rest)  # the root (ended Success) comes after all
    later(monkeypatch, SILENCE + 60)
    session = any_store.get_session(sid, project)
    assert session is not None
    assert session["end_state"] == "Success" and session["end_state_reason"] is None
    [root] = [s for s in session["spans"] if s["kind"] == "session"]
    assert session["end_time"] == root["end_time"]


def test_without_an_interval_a_session_behaves_as_before(
    any_store: BaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, sid, marker, _ = started(any_store, interval=None)
    any_store.ingest(project, [heartbeat(marker, marker.end_ns + 1, 400, interval=None)])
    later(monkeypatch, 3600)
    session = any_store.get_session(sid, project)
    assert session is not None and session["end_time"] is None and session["end_state_reason"] is None


def test_heartbeats_survive_a_resent_batch(any_store: BaseStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch with spans stored already rebuilds its session from the stored spans: the heartbeat state,
    which is never stored as spans, is kept, and a heartbeat in that batch still counts."""
    project, sid, marker, rest = started(any_store)
    child = next(r for r in rest if r.kind != "session")
    any_store.ingest(project, [child])
    last = heartbeat(marker, marker.end_ns + 3_000_000_000, 500, interval=2.0)
    any_store.ingest(project, [child, last])  # child again: the rebuild path
    session = any_store.get_session(sid, project)
    assert session is not None and session["span_count"] == 1
    later(monkeypatch, 3 * 2.0 + 10 - 1)  # the interval the last heartbeat announced (2 s) applies
    assert any_store.get_session(sid, project)["end_time"] is None  # type: ignore[index]
    later(monkeypatch, 3 * 2.0 + 10 + 1)
    assert any_store.get_session(sid, project)["end_time"] == iso_time(last.end_ns)  # type: ignore[index]


def test_a_heartbeat_before_the_marker_makes_the_session_known(any_store: BaseStore) -> None:
    project = any_store.ensure_project()
    sid, marker_spans, _ = SpanMaker().session()
    [marker] = from_readable_spans(marker_spans)
    any_store.ingest(project, [heartbeat(marker, marker.end_ns + 10, 600)])
    [listed] = any_store.list_sessions(project)
    assert listed["session_id"] == sid and listed["end_time"] is None and listed["span_count"] == 0
    any_store.ingest(project, [marker])
    [listed] = any_store.list_sessions(project)
    assert listed["start_time"] == iso_time(marker.start_ns) and listed["tags"] == ["t1", "t2"]
