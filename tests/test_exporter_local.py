"""LocalStoreSpanExporter: the embedded SQLite store, including several processes writing at once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentops_otel._internal.exporters.base import Outcome
from agentops_otel._internal.exporters.local import LocalStoreSpanExporter
from agentops_otel.store.sqlite import Store
from backend_fixtures import OK, SpanMaker


def test_writes_sessions_into_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "agentops.db"
    exporter = LocalStoreSpanExporter(str(path))
    assert not path.exists()  # opened lazily, on the first delivery
    maker = SpanMaker()
    session_id, marker, rest = maker.session(
        children=[("chat", {"agentops.span.kind": "llm", "gen_ai.usage.input_tokens": 2}, None)],
        root_status=OK,
    )
    assert exporter.deliver(marker, 5).outcome is Outcome.DELIVERED
    assert exporter.deliver(rest, 5).outcome is Outcome.DELIVERED
    exporter.shutdown()
    assert exporter.deliver(rest, 5).outcome is Outcome.REJECTED

    with Store(str(path)) as store:
        [project] = store.list_projects()
        assert project["name"] == "local"
        session = store.get_session(session_id, project["project_id"])
        assert session is not None
        assert session["end_state"] == "Success" and session["prompt_tokens"] == 2
        assert len(session["spans"]) == 2


def test_default_path_honours_agentops_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOPS_DB", str(tmp_path / "env.db"))
    assert LocalStoreSpanExporter().path == str(tmp_path / "env.db")


def test_busy_store_means_retry(tmp_path: Path) -> None:
    path = str(tmp_path / "busy.db")
    Store(path).close()
    exporter = LocalStoreSpanExporter(path, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        result = exporter.deliver(SpanMaker().session()[2], 0.2)
        assert result.outcome is Outcome.RETRY
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert exporter.deliver(SpanMaker().session()[2], 5).outcome is Outcome.DELIVERED
    exporter.shutdown()


_WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from backend_fixtures import SpanMaker, OK
    from agentops_otel._internal.exporters.base import Outcome
    from agentops_otel._internal.exporters.local import LocalStoreSpanExporter

    path, sessions = sys.argv[1], int(sys.argv[2])
    exporter = LocalStoreSpanExporter(path, busy_timeout=0.5)
    maker = SpanMaker()
    children = [("t", {"agentops.span.kind": "tool"}, None)] * 20
    for _ in range(sessions):
        sid, marker, rest = maker.session(children=children, root_status=OK)
        for batch in (marker, rest):
            while (outcome := exporter.deliver(batch, 5).outcome) is Outcome.RETRY:
                time.sleep(0.01)
            assert outcome is Outcome.DELIVERED, outcome
        print(sid, flush=True)
    exporter.shutdown()
    """
)


def test_two_processes_write_one_store_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    tests_dir = os.path.dirname(__file__)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, path, "40", tests_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    ids: list[str] = []
    for writer in writers:
        out, err = writer.communicate(timeout=90)
        assert writer.returncode == 0, err
        ids += out.split()
    assert len(set(ids)) == 80
    with Store(path) as store:
        sessions = store.list_sessions(limit=1000)
        assert {s["session_id"] for s in sessions} == set(ids)
        assert all(s["span_count"] == 21 and s["tool_calls"] == 20 for s in sessions)
        assert all(s["end_state"] == "Success" for s in sessions)
        assert store.count_spans() == 80 * 22  # the start markers are stored, not listed
        assert len(store.list_projects()) == 1  # both processes found or made the same "local"
