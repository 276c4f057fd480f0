"""Migration 0005 (unpriced calls in the overview's rollups) on a store of schema 0004 that holds sessions,
on SQLite and on a real PostgreSQL: the rebuilt rollups equal those that ingest keeps by difference, the
overview gives each tag's unpriced calls, and the store keeps them by difference after it.

The session-level rows are made by this release's ingest in a scratch store, then loaded into a database
migrated to 0003 and brought to 0004 (whose rollups, built from them, lack the new columns) and then to
the head, as an existing store is.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agentops_otel.store import open_store
from agentops_otel.store.migrate import _config
from store_fixtures import postgres_or_skip
from test_store_rollups import HOUR, Session, rebuilt, rows_of

_TABLES = ("projects", "sessions", "session_tags", "session_models")


def _scratch(path: str) -> tuple[str, list[Session], dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Sessions stored by this release's ingest (some with unpriced calls, each with a failed call that
    used no tokens, which is not unpriced): the project, the sessions, the rows of the session-level
    tables, and the rollups that ingest kept."""
    now = time.time_ns()
    hour = now - now % HOUR - 3 * HOUR
    sessions = [Session(hour + i * 25 * 60 * 10**9, ["all", f"t{i % 3}"]) for i in range(6)]
    with open_store(path) as store:
        project = store.ensure_project("old")
        for i, s in enumerate(sessions):
            calls = [s.llm(None, "gpt-4o", 10 + i, at=10 + n, priced=(i + n) % 3 != 0) for n in range(i % 4)]
            failed = s.llm(None, "gpt-4o", 0, at=50, priced=False, status="ERROR")
            store.ingest(project, [s.marker(), *calls, failed, s.root(10**6, "ERROR" if i == 4 else "OK")])
        kept = rows_of(store)
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        tables = {t: [dict(r) for r in conn.execute(f"SELECT * FROM {t}")] for t in _TABLES}
    return project, sessions, tables, kept


def _engine(location: str) -> sa.Engine:
    url = location if location.startswith("postgresql") else f"sqlite:///{location}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "old.db")
    return postgres_or_skip().new_database(migrated=False)


def test_0005_rebuilds_the_rollups_with_unpriced_calls(location: str, tmp_path: Path) -> None:
    from alembic import command

    project, made, tables, kept = _scratch(str(tmp_path / "scratch.db"))
    assert sum(r["unpriced_llm_calls"] for r in tables["sessions"]) == 2
    engine = _engine(location)
    try:
        with engine.begin() as connection:
            command.upgrade(_config(connection), "0003")
            meta = sa.MetaData()
            for name in _TABLES:
                connection.execute(sa.Table(name, meta, autoload_with=connection).insert(), tables[name])
            command.upgrade(_config(connection), "0004")
            old = {c["name"] for c in sa.inspect(connection).get_columns("overview_tags")}
            assert old == {"project_id", "hour", "tag", "sessions", "failed", "cost_usd", "total_tokens"}
            assert connection.execute(sa.text("SELECT COUNT(*) FROM overview_tags")).scalar() == 9
    finally:
        engine.dispose()

    with open_store(location) as store:  # opening upgrades it to the head
        assert rows_of(store) == kept  # rebuilt from the stored figures: what ingest kept by difference
        overview = store.overview(project)
        sessions = store.list_sessions(project, limit=100)
        for tag in overview["by_tag"]:
            tagged = [s for s in sessions if tag["tag"] in s["tags"]]
            assert tag["llm_calls"] == sum(s["llm_calls"] for s in tagged)
            assert tag["unpriced_llm_calls"] == sum(s["unpriced_llm_calls"] for s in tagged)
        before = {t["tag"]: t["unpriced_llm_calls"] for t in overview["by_tag"]}
        assert before == {"all": 2, "t0": 1, "t1": 0, "t2": 1}
        assert overview["totals"]["unpriced_llm_calls"] == 2
        # Kept by difference after the upgrade: a late unpriced call of a stored session.
        store.ingest(project, [made[1].llm(None, "local", 5, at=70, priced=False)])
        after = {t["tag"]: t["unpriced_llm_calls"] for t in store.overview(project)["by_tag"]}
        assert after == {**before, "all": 3, "t1": 1}
        assert rows_of(store) == rebuilt(store)
