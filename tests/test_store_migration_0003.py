"""Migration 0003 (spans into blocks, figures by the current rules) on a store of the previous schema, on
SQLite and on a real PostgreSQL: every span comes back as it was stored, the figures follow the new rules,
and the store works on (ingest, idempotence, new rows) after it.

The rows are those the release at schema 0002 wrote (``fixtures/store_0002.json``, made by
``fixtures/make_store_0002.py`` with that release's code), loaded into a database migrated to 0002.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from agentops_otel.store import open_store
from agentops_otel.store.migrate import _config
from agentops_otel.store.reads import trace_key
from agentops_otel.store.records import SpanRecord
from agentops_otel.store.sqlite import iso_time
from store_fixtures import postgres_or_skip

OLD = json.loads((Path(__file__).parent / "fixtures" / "store_0002.json").read_text())
_BY_NAME = {s["name"]: s for s in OLD["sessions"]}


def _old_store(location: str) -> str:
    """A database at schema 0002 holding the fixture's rows; the store location to open."""
    from alembic import command

    url = f"sqlite:///{location}" if not location.startswith("postgresql") else location
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            command.upgrade(_config(connection), "0002")
            meta = sa.MetaData()
            for name, table in OLD["tables"].items():
                target = sa.Table(name, meta, autoload_with=connection)
                rows = [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
                if rows:
                    connection.execute(target.insert(), rows)
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('resources', 'resource_id'),"
                    " (SELECT max(resource_id) FROM resources))"
                )
    finally:
        engine.dispose()
    return location


@pytest.fixture(params=["sqlite", "postgresql"])
def old_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return _old_store(str(tmp_path / "old.db"))
    return _old_store(postgres_or_skip().new_database(migrated=False))


def test_the_fixture_is_of_schema_0002() -> None:
    assert OLD["revision"] == "0002"
    assert len(OLD["tables"]["spans"]["rows"]) == 14 and len(OLD["sessions"]) == 6


def test_every_span_comes_back_as_it_was(old_location: str) -> None:
    project = OLD["project_id"]
    with open_store(old_location) as store:
        assert store.count_spans() == len(OLD["tables"]["spans"]["rows"])
        for session_id, old in OLD["details"].items():
            found = store.get_session(session_id, project)
            if old["name"] == "GET /health":  # a trace that carries no session: a trace now
                assert found is None
                [trace] = json.loads(store.list_traces_json(project))["traces"]
                answer = store.session_json(trace_key(trace["trace_id"]) or "", project, traces=True)
                assert answer is not None and answer[0] is not None
                found = json.loads(answer[0])
            assert found is not None, old["name"]
            assert len(found["spans"]) == len(old["spans"]), old["name"]
            for new_span, old_span in zip(found["spans"], old["spans"], strict=True):
                assert {k: new_span[k] for k in old_span} == old_span, old["name"]


def test_figures_follow_the_current_rules(old_location: str) -> None:
    project = OLD["project_id"]
    with open_store(old_location) as store:
        listed = {s["name"]: s for s in store.list_sessions(project, limit=100)}
    assert set(listed) == set(_BY_NAME) - {"GET /health"}  # the trace is no session any more
    unchanged = ("session_id", "start_time", "end_time", "end_state", "tags", "host_env", "duration_s")
    for name, new in listed.items():
        if name == "agentops":  # live when the fixture was made, silent since: ended by the reading rule
            continue
        assert {k: new[k] for k in unchanged} == {k: _BY_NAME[name][k] for k in unchanged}, name
    nested, handled, crashed = listed["nested"], listed["handled"], listed["crashed"]
    # Our LLM span around the provider instrumentation's span of the same call: one call, counted once.
    assert nested["llm_calls"] == 1 and nested["total_tokens"] == 16 and nested["cost_usd"] == 0.0003
    assert nested["models"] == ["gpt-4o-mini", "gpt-4o-mini-2024-07-18"]
    # The failed tool and the error span of the same exception: one failure (it was 2); the other
    # instrumentation's model call counts now (it was 0), and is unpriced.
    assert _BY_NAME["handled"]["errors"] == 2 and handled["errors"] == 1
    assert handled["llm_calls"] == 1 and handled["unpriced_llm_calls"] == 1 and handled["tool_calls"] == 1
    # The uncaught exception that ended the session: one failure (it was 0).
    assert _BY_NAME["crashed"]["errors"] == 0 and crashed["errors"] == 1
    # The session of a start marker and heartbeats (live then, silent since) ends where its last heartbeat
    # was seen: the heartbeat state, which no span holds, survived the rewrite.
    live = listed["agentops"]
    columns = OLD["tables"]["sessions"]["columns"]
    [row] = [r for r in OLD["tables"]["sessions"]["rows"] if r[1] == live["session_id"]]
    last_seen, interval = row[columns.index("last_seen_ns")], row[columns.index("heartbeat_s")]
    assert interval == 5.0 and live["span_count"] == 0 and live["end_state"] == "Indeterminate"
    assert live["end_time"] == iso_time(last_seen) and "heartbeat" in (live["end_state_reason"] or "")


def test_the_store_works_on_after_the_migration(old_location: str) -> None:
    project = OLD["project_id"]
    columns = OLD["tables"]["spans"]["columns"]
    nested_id = _BY_NAME["nested"]["session_id"]
    with open_store(old_location) as store:
        # A batch sent again (an exporter's retry across the upgrade) stores nothing.
        rows = [dict(zip(columns, r, strict=True)) for r in OLD["tables"]["spans"]["rows"]]
        again = [
            SpanRecord(r["trace_id"], r["span_id"], r["parent_span_id"], r["name"], r["start_ns"], r["end_ns"],
                       r["status"], r["status_message"], json.loads(r["attributes"]), None)
            for r in rows if r["session_id"] == nested_id
        ]  # fmt: skip
        assert store.ingest(project, again) == 0
        # A new span with a new resource: stored, counted, its resource a new row.
        root = next(r for r in rows if r["session_id"] == nested_id and r["parent_span_id"] is None)
        tool = SpanRecord(root["trace_id"], "00000000000000f1", root["span_id"], "search", root["start_ns"] + 1,
                          root["start_ns"] + 2, "OK", "", {"session.id": nested_id, "agentops.span.kind": "tool"},
                          {"service.name": "after-upgrade"})  # fmt: skip
        assert store.ingest(project, [tool]) == 1
        session = store.get_session(nested_id, project)
        assert session is not None and session["tool_calls"] == 1 and session["llm_calls"] == 1
        [added] = [s for s in session["spans"] if s["span_id"] == "00000000000000f1"]
        assert added["resource"] == {"service.name": "after-upgrade"}
        assert store.count_spans() == len(rows) + 1


def test_the_cli_shows_the_recomputed_errors_of_an_old_store(tmp_path: Path) -> None:
    """``agentops-otel sessions`` on a store of the previous release: errors count failures (the CLI
    upgrades the file as it opens it)."""
    from backend_fixtures import run_cli

    path = _old_store(str(tmp_path / "old.db"))
    result = run_cli("sessions", "--db", path, "--json")
    assert result.returncode == 0, result.stderr
    errors = {s["name"]: s["errors"] for s in json.loads(result.stdout)["sessions"]}
    assert errors["handled"] == 1 and errors["crashed"] == 1 and errors["nested"] == 0
    shown = run_cli("sessions", "show", _BY_NAME["handled"]["session_id"][:8], "--db", path)
    assert shown.returncode == 0, shown.stderr
    assert "lookup" in shown.stdout and "KeyError" in shown.stdout
