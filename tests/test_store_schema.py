"""One schema, one source: the SQLite snapshot equals what the Alembic migrations write; a file written by
agentops-otel 0.1.0 opens, migrates and keeps its data (keys hashed in place); both engines get the same
tables; and the SDK's embedded path never imports SQLAlchemy or Alembic for a new or current file."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agentops_otel.store import open_store
from agentops_otel.store.connection import NewerSchema
from agentops_otel.store.figures import SessionFigures
from agentops_otel.store.migrate import upgrade_sqlite
from agentops_otel.store.schema import REVISION, SQLITE_SCHEMA, USER_VERSION
from agentops_otel.store.spool import Spool
from agentops_otel.store.sqlite import Store
from core_helpers import REPO

FIXTURES = Path(__file__).parent / "fixtures"
V1 = json.loads((FIXTURES / "store_v1.json").read_text())


def v1_file(path: Path) -> Path:
    """The store file of 0.1.0 that ``fixtures/store_v1.sql`` was dumped from, rebuilt."""
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "store_v1.sql").read_text())
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    return path


def master(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    return rows


def columns(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {t: sorted(r[1] for r in conn.execute(f"PRAGMA table_info({t})")) for t in tables}
    conn.close()
    return found


def _snapshot_source(path: Path) -> str:
    """``SQLITE_SCHEMA`` as schema.py should spell it, for the message of a failing comparison."""
    lines = []
    for (sql,) in sqlite3.connect(path).execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ):
        parts = [json.dumps(p) for p in sql.splitlines(keepends=True)]
        lines.append("    (\n" + "".join(f"        {p}\n" for p in parts) + "    ),")
    return "SQLITE_SCHEMA: tuple[str, ...] = (\n" + "\n".join(lines) + "\n)"


def test_the_snapshot_is_what_the_migrations_write(tmp_path: Path) -> None:
    migrated = tmp_path / "migrated.db"
    upgrade_sqlite(str(migrated), 5.0)
    Store(str(tmp_path / "snapshot.db")).close()
    assert master(tmp_path / "snapshot.db") == master(migrated), (
        "store/schema.py is out of date; paste:\n" + _snapshot_source(migrated)
    )
    for path in (migrated, tmp_path / "snapshot.db"):
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == USER_VERSION == int(REVISION)
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(REVISION,)]
        conn.close()
    assert len(SQLITE_SCHEMA) > 10


def test_figures_columns_are_the_sessions_table(tmp_path: Path) -> None:
    Store(str(tmp_path / "s.db")).close()
    assert columns(tmp_path / "s.db")["sessions"] == sorted(SessionFigures.COLUMNS)


def test_postgresql_gets_the_same_tables_and_columns(tmp_path: Path, pg_url: str) -> None:
    import sqlalchemy as sa

    from agentops_otel.store.postgres import sqlalchemy_url

    open_store(pg_url).close()
    engine = sa.create_engine(sqlalchemy_url(pg_url))
    try:
        inspector = sa.inspect(engine)
        pg = {t: sorted(c["name"] for c in inspector.get_columns(t)) for t in inspector.get_table_names()}
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == REVISION
    finally:
        engine.dispose()
    Store(str(tmp_path / "s.db")).close()
    sqlite_tables = columns(tmp_path / "s.db")
    assert sqlite_tables.pop("spool")  # the SDK's spool lives in SQLite files only
    assert pg == sqlite_tables


def test_a_file_of_0_1_0_opens_migrates_and_keeps_its_data(tmp_path: Path) -> None:
    path = v1_file(tmp_path / "v1.db")
    os.chmod(path, 0o644)
    with Store(str(path)) as store:
        # What 0.1.0 answered is answered still; the fields added since are there too.
        listed = store.list_sessions(None, limit=100)
        assert [_fields_of(s, old) for s, old in zip(listed, V1["sessions"], strict=True)] == V1["sessions"]
        assert all({"agents", "unpriced_llm_calls", "models"} <= s.keys() for s in listed)
        for sid, detail in V1["details"].items():
            found = store.get_session(sid)
            assert found is not None and _fields_of(found, detail) == {**detail, "spans": found["spans"]}
            spans = [_fields_of(s, old) for s, old in zip(found["spans"], detail["spans"], strict=True)]
            assert spans == detail["spans"]
            assert all(s["resource"].get("service.name") for s in found["spans"])
        assert store.count_spans() == V1["spans"]
        projects = {p["project_id"]: p for p in store.list_projects()}
        for old in V1["projects"]:
            assert old.items() <= projects[old["project_id"]].items()
        # The key and the token of 0.1.0 still work; only their digests are left in the file.
        assert store.project_for_key(V1["api_key"]) == V1["legacy_project_id"]
        assert store.project_for_token(V1["token"]) == V1["legacy_project_id"]
        issued = store.issue_token(V1["api_key"])
        assert issued is not None and issued[1] == V1["legacy_project_id"]
    dump = "\n".join(sqlite3.connect(path).iterdump())
    assert V1["api_key"] not in dump and V1["token"] not in dump
    assert hashlib.sha256(V1["api_key"].encode()).hexdigest() in dump
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert master(path) and columns(path) == columns(_fresh(tmp_path))
    # The row 0.1.0's exporter spooled is still there for its destination.
    spool = Spool(str(path), V1["spool"]["traces_url"], V1["api_key"])
    claimed = spool.claim()
    assert claimed is not None and claimed[2] == V1["spool"]["spans"]
    assert hashlib.sha256(claimed[1]).hexdigest() == V1["spool"]["body_sha256"]


def _fields_of(found: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    return {k: found[k] for k in old}


def _fresh(tmp_path: Path) -> Path:
    path = tmp_path / "fresh.db"
    Store(str(path)).close()
    return path


def test_a_spool_only_file_of_0_1_0_is_migrated(tmp_path: Path) -> None:
    """0.1.0's spool created a file holding only its table (user_version 0) when no store existed."""
    path = tmp_path / "spool-only.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE spool (id INTEGER PRIMARY KEY, traces_url TEXT NOT NULL, key_fingerprint TEXT"
            " NOT NULL, created_ns INTEGER NOT NULL, spans INTEGER NOT NULL, body BLOB NOT NULL,"
            " claimed_by TEXT, claimed_ns INTEGER)"
        )
        conn.execute(
            "INSERT INTO spool (traces_url, key_fingerprint, created_ns, spans, body) VALUES (?, ?, 1, 3, ?)",
            ("http://127.0.0.1:9/v1/traces", hashlib.sha256(b"k").hexdigest(), b"body"),
        )
    conn.close()
    assert Spool(str(path), "http://127.0.0.1:9/v1/traces", "k").waiting() == 1
    assert columns(path) == columns(_fresh(tmp_path))
    with Store(str(path)) as store:
        assert store.list_sessions() == []


def test_a_newer_schema_is_refused_by_the_store_and_used_by_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    Store(str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {USER_VERSION + 1}")
    conn.close()
    with pytest.raises(NewerSchema, match="newer agentops-otel"):
        Store(str(path))
    spool = Spool(str(path), "http://127.0.0.1:9/v1/traces", "k")
    assert spool.put([(2, b"x")], 1.0) == 2 and spool.waiting() == 1


def test_a_newer_postgresql_schema_is_refused(pg_url: str) -> None:
    import psycopg

    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(NewerSchema, match="newer agentops-otel"):
        open_store(pg_url)


_IMPORTS = textwrap.dedent(
    """
    import sys
    from agentops_otel._internal.exporters.local import LocalStoreSpanExporter
    from agentops_otel.store.spool import Spool
    sys.path.insert(0, sys.argv[2])
    from backend_fixtures import SpanMaker
    exporter = LocalStoreSpanExporter(sys.argv[1])
    assert exporter.deliver(SpanMaker().session()[2], 5).outcome.name == "DELIVERED"
    exporter.shutdown()
    spool = Spool(sys.argv[1], "http://127.0.0.1:9/v1/traces", "key")
    assert spool.put([(1, b"x")], 1.0) == 1 and spool.waiting() >= 1
    print(sorted(m for m in ("sqlalchemy", "alembic") if m in sys.modules))
    """
)


def _imports_when_opening(path: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS, str(path), str(REPO / "tests")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported: list[str] = json.loads(result.stdout.strip().replace("'", '"'))
    return imported


def test_the_embedded_path_imports_no_sqlalchemy_for_a_new_or_current_file(tmp_path: Path) -> None:
    new = tmp_path / "deep" / "new.db"
    assert _imports_when_opening(new) == []  # created from the snapshot
    assert _imports_when_opening(new) == []  # current: one pragma
    # Only a file of an older release brings in the migrations (the check can fail).
    assert _imports_when_opening(v1_file(tmp_path / "old.db")) == ["alembic", "sqlalchemy"]


def test_new_files_are_private(tmp_path: Path) -> None:
    store_path = tmp_path / "private" / "store.db"
    with Store(str(store_path)) as store:
        store.ensure_project()
    assert stat.S_IMODE(os.stat(store_path.parent).st_mode) == 0o700
    for name in ("store.db", "store.db-wal", "store.db-shm"):
        if (store_path.parent / name).exists():
            assert stat.S_IMODE(os.stat(store_path.parent / name).st_mode) == 0o600, name
    spool_path = tmp_path / "spool-dir" / "spool.db"
    assert Spool(str(spool_path), "http://127.0.0.1:9/v1/traces", "k").put([(1, b"x")], 1.0) == 1
    assert stat.S_IMODE(os.stat(spool_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(spool_path.parent).st_mode) == 0o700
    # A directory that exists is left as it is.
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == stat.S_IMODE(os.stat(tmp_path).st_mode)


_OPEN_OLD = (
    "import sys; from agentops_otel.store.sqlite import Store; Store(sys.argv[1]).close(); print('ok')"
)


def test_processes_opening_an_old_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = v1_file(tmp_path / "v1.db")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_OLD, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and out.strip() == "ok", err
    with Store(str(path)) as store:
        listed = store.list_sessions(None, limit=100)
        assert [_fields_of(s, old) for s, old in zip(listed, V1["sessions"], strict=True)] == V1["sessions"]
        assert store.project_for_key(V1["api_key"]) == V1["legacy_project_id"]
