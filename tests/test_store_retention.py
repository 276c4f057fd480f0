"""Retention on both stores: old sessions go with their spans, per project, in small batches, while ingest
goes on; and the CLI (``projects retention``, ``prune``) and ``serve --retention`` apply it."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from agentops_otel.store import open_store
from agentops_otel.store.base import BaseStore
from agentops_otel.store.records import SpanRecord, from_readable_spans
from agentops_otel.store.retention import parse_age, parse_retention
from backend_fixtures import ApiClient, BackendServer, SpanMaker, create_project, encode, run_cli

DAY = 86_400 * 10**9


def old_session(store: BaseStore, project: str, days_ago: float, spans: int = 3) -> str:
    """A session whose spans all happened ``days_ago`` days ago."""
    sid = str(uuid.uuid4())
    trace = uuid.UUID(sid).hex
    start = time.time_ns() - int(days_ago * DAY)
    records = [
        SpanRecord(trace, f"{i + 1:016x}", None if i == 0 else "0000000000000001", "s", start + i, start + i + 5,
                   attributes={"session.id": sid, "agentops.span.kind": "session" if i == 0 else "tool"})
        for i in range(spans)
    ]  # fmt: skip
    store.ingest(project, records)
    return sid


def ids(store: BaseStore, project: str) -> set[str]:
    return {s["session_id"] for s in store.list_sessions(project, limit=10_000)}


def test_old_sessions_go_with_their_spans(any_store: BaseStore) -> None:
    project = any_store.ensure_project("a")
    old = [old_session(any_store, project, 40) for _ in range(5)]
    recent = [old_session(any_store, project, 1) for _ in range(3)]
    assert any_store.prune(None) == 0  # no retention anywhere: nothing goes
    assert any_store.prune(30 * 86_400, batch=2) == 5  # in batches of 2
    assert ids(any_store, project) == set(recent)
    assert any_store.count_spans(project) == 3 * 3
    assert all(any_store.get_session(sid, project) is None for sid in old)


def test_a_project_retention_wins_over_the_default(any_store: BaseStore) -> None:
    short, long = any_store.ensure_project("short"), any_store.ensure_project("long")
    assert any_store.set_retention("short", 7 * 86_400) and not any_store.set_retention("nope", 1)
    s_old, s_new = old_session(any_store, short, 10), old_session(any_store, short, 2)
    l_old, l_new = old_session(any_store, long, 40), old_session(any_store, long, 10)
    assert any_store.prune(None) == 1  # only "short" has a retention
    assert ids(any_store, short) == {s_new} and ids(any_store, long) == {l_old, l_new}
    assert any_store.prune(30 * 86_400, project="long") == 1
    assert ids(any_store, long) == {l_new} and ids(any_store, short) == {s_new}
    assert s_old not in ids(any_store, short)
    any_store.set_retention("short", None)
    assert {p["name"]: p["retention_s"] for p in any_store.list_projects()} == {"short": None, "long": None}


def test_pruning_does_not_stop_ingest(store_url: str) -> None:
    with open_store(store_url) as writer, open_store(store_url) as pruner:
        project = writer.ensure_project()
        for _ in range(300):
            old_session(writer, project, 40, spans=20)
        stop = threading.Event()
        written: list[str] = []
        errors: list[BaseException] = []

        def ingest() -> None:
            maker = SpanMaker()
            try:
                while not stop.is_set():
                    sid, marker, rest = maker.session(children=[("t", {"agentops.span.kind": "tool"}, None)])
                    writer.ingest(project, from_readable_spans(marker + rest))
                    written.append(sid)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=ingest)
        thread.start()
        try:
            deleted = pruner.prune(30 * 86_400, batch=50)
        finally:
            stop.set()
            thread.join(30)
        assert not errors and deleted == 300 and written
        assert ids(writer, project) == set(written)
        assert writer.count_spans(project) == 3 * len(written)  # marker, root, child; no old span left


def test_ages() -> None:
    assert parse_age("30d") == 30 * 86_400 and parse_age("12h") == 43_200 and parse_age("90") == 90
    assert parse_age("1.5m") == 90 and parse_age("2w") == 14 * 86_400 and parse_age("0.2s") == 0.2
    assert parse_retention("off") is None and parse_retention("1d") == 86_400
    for bad in ("", "x", "-1d", "0", "5y"):
        with pytest.raises(ValueError):
            parse_age(bad)


def test_the_cli_sets_a_retention_and_prunes(store_url: str) -> None:
    created = create_project(store_url, "team")
    with open_store(store_url) as store:
        old, new = old_session(store, created["project_id"], 20), old_session(store, created["project_id"], 1)
    assert run_cli("projects", "retention", "team", "7d", "--db", store_url).returncode == 0
    pruned = run_cli("prune", "--db", store_url)
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.strip() == '{"deleted_sessions": 1}'
    missing = run_cli("prune", "--project", "nope", "--older-than", "1d", "--db", store_url)
    assert missing.returncode == 1 and "no project 'nope'" in missing.stderr
    bad = run_cli("projects", "retention", "team", "soon", "--db", store_url)
    assert bad.returncode == 2 and "not an age" in bad.stderr
    with open_store(store_url) as store:
        assert ids(store, created["project_id"]) == {new} and old not in ids(store, created["project_id"])


def test_serve_applies_its_retention_while_serving(store_url: str) -> None:
    created = create_project(store_url, "p")
    with open_store(store_url) as store:
        old = old_session(store, created["project_id"], 3)
    server = BackendServer(store_url, None, "--retention", "2d", "--prune-every", "0.2s").start()
    try:
        api = ApiClient(server.url)
        token = api.token(created["api_key"])
        sid, marker, rest = SpanMaker().session()
        assert api.post_traces(token, encode(marker + rest)).status_code == 200
        deadline = time.monotonic() + 20
        while {s["session_id"] for s in api.sessions(token)} != {sid} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {s["session_id"] for s in api.sessions(token)} == {sid}
        assert old not in {s["session_id"] for s in api.sessions(token)}
    finally:
        server.stop()
