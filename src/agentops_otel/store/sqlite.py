"""The SQLite store shared by the embedded exporter, ``agentops-otel serve`` and the CLI.

- WAL journal and a busy timeout, so several processes (applications writing spans, a server, the CLI)
  can use one file at once; every write is one ``BEGIN IMMEDIATE`` transaction, so the
  read-modify-write of a session's figures is atomic across processes.
- Spans are unique per (project, trace id, span id): a batch sent twice is stored once.
- The ``sessions`` table holds each session's figures, updated at ingest from the new spans of a
  batch, so listing sessions never scans spans. When a batch contains spans already stored, the
  sessions it touches are rebuilt from their stored spans instead (rare: only after a re-send).
- Projects, API keys and tokens live here too, so tokens survive restarts and are shared by server
  processes, and a key created by the CLI is valid at once in a running server.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from agentops_otel.store.figures import END_STATES, SessionFigures
from agentops_otel.store.records import SpanRecord

SCHEMA_VERSION = 1
LOCAL_PROJECT = "local"
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    project_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    api_key TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    api_key TEXT NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    resource_id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    attributes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS spans (
    project_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind TEXT,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT NOT NULL,
    attributes TEXT NOT NULL,
    events TEXT,
    resource_id INTEGER,
    UNIQUE (project_id, trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_by_session ON spans (project_id, session_id);
CREATE TABLE IF NOT EXISTS sessions (
    project_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    trace_id TEXT,
    name TEXT,
    start_ns INTEGER,
    last_end_ns INTEGER,
    end_ns INTEGER,
    has_root INTEGER NOT NULL,
    has_marker INTEGER NOT NULL,
    end_state TEXT NOT NULL,
    end_state_reason TEXT,
    tags TEXT NOT NULL,
    host_env TEXT NOT NULL,
    video TEXT,
    span_count INTEGER NOT NULL,
    llm_calls INTEGER NOT NULL,
    tool_calls INTEGER NOT NULL,
    actions INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    PRIMARY KEY (project_id, session_id)
);
CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions (project_id, start_ns DESC);
CREATE INDEX IF NOT EXISTS sessions_by_start_all ON sessions (start_ns DESC);
"""

_SPAN_INSERT = (
    "INSERT OR IGNORE INTO spans (project_id, trace_id, span_id, session_id, parent_span_id, name, kind,"
    " start_ns, end_ns, status, status_message, attributes, events, resource_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SESSION_UPSERT = (
    f"INSERT OR REPLACE INTO sessions ({', '.join(SessionFigures.COLUMNS)})"
    f" VALUES ({', '.join('?' * len(SessionFigures.COLUMNS))})"
)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


_loads = json.loads


def _iso_sql(column: str) -> str:
    """SQL for :func:`iso_time` of an integer nanosecond column (NULL when 0 or NULL)."""
    return (
        f"CASE WHEN {column} > 0 THEN strftime('%Y-%m-%dT%H:%M:%S', {column} / 1000000000, 'unixepoch')"
        f" || printf('.%06dZ', ({column} / 1000) % 1000000) END"
    )


# A session object (SPEC.md section 5), built by SQLite: listing 10,000 sessions stays cheap.
_SESSION_JSON_SQL = f"""json_object(
    'session_id', session_id,
    'project_id', project_id,
    'name', name,
    'start_time', {_iso_sql("start_ns")},
    'end_time', {_iso_sql("end_ns")},
    'duration_s', CASE WHEN start_ns > 0 AND last_end_ns >= start_ns
        THEN round((last_end_ns - start_ns) / 1e9, 6) ELSE 0.0 END,
    'end_state', end_state,
    'end_state_reason', end_state_reason,
    'tags', json(tags),
    'host_env', json(host_env),
    'video', video,
    'span_count', span_count,
    'llm_calls', llm_calls,
    'tool_calls', tool_calls,
    'actions', actions,
    'errors', errors,
    'prompt_tokens', prompt_tokens,
    'completion_tokens', completion_tokens,
    'total_tokens', prompt_tokens + completion_tokens,
    'cost_usd', round(cost_usd, 10),
    'trace_id', trace_id
)"""
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def iso_time(ns: int | None) -> str | None:
    """Unix nanoseconds as ISO 8601 UTC with microseconds, e.g. ``2025-01-02T03:04:05.678901Z``."""
    if not ns:
        return None
    moment = _EPOCH + _dt.timedelta(microseconds=ns // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_locked_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class Store:
    """One SQLite file. Thread-safe: one writer connection behind a lock, one reader per thread."""

    def __init__(self, path: str, *, busy_timeout: float = 10.0) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._busy_ms = int(busy_timeout * 1000)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._resource_ids: dict[str, int] = {}
        self._tokens: dict[str, str] = {}  # token -> project id; tokens are never revoked
        self._closed = False
        self._writer = self._connect()
        self._init_schema()

    # -- connections -----------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _init_schema(self) -> None:
        with self._write_lock:
            conn = self._writer
            # Switching to WAL needs a moment alone with the file; the busy timeout waits for it.
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} was written by a newer agentops-otel (schema {version}); upgrade to read it"
                )
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise sqlite3.ProgrammingError("store is closed")
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        self._closed = True
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        with self._write_lock:
            self._writer.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, work: Any) -> Any:
        """Run ``work(conn)`` in one immediate transaction on the writer connection."""
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    # -- projects, keys, tokens ------------------------------------------------------------------------

    def create_project(self, name: str) -> tuple[str, str, bool]:
        """``(project_id, api_key, created)``: a new API key for the project ``name``, made if absent."""
        api_key = str(uuid.uuid4())

        def work(conn: sqlite3.Connection) -> tuple[str, str, bool]:
            project_id, created = self._project_by_name(conn, name)
            conn.execute(
                "INSERT INTO api_keys (api_key, project_id, created_ns) VALUES (?, ?, ?)",
                (api_key, project_id, time.time_ns()),
            )
            return project_id, api_key, created

        result: tuple[str, str, bool] = self._write(work)
        return result

    def ensure_project(self, name: str = LOCAL_PROJECT) -> str:
        """The id of the project ``name``, created on first use (the embedded store's "local")."""
        row = self._reader().execute("SELECT project_id FROM projects WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return str(row[0])
        project_id: str = self._write(lambda conn: self._project_by_name(conn, name)[0])
        return project_id

    @staticmethod
    def _project_by_name(conn: sqlite3.Connection, name: str) -> tuple[str, bool]:
        row = conn.execute("SELECT project_id FROM projects WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return str(row[0]), False
        project_id = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO projects (project_id, name, created_ns) VALUES (?, ?, ?)",
            (project_id, name, time.time_ns()),
        )
        return project_id, True

    def list_projects(self) -> list[dict[str, Any]]:
        rows = self._reader().execute(
            "SELECT p.project_id, p.name, p.created_ns,"
            " (SELECT COUNT(*) FROM sessions s WHERE s.project_id = p.project_id) AS sessions"
            " FROM projects p ORDER BY p.created_ns"
        )
        return [
            {
                "project_id": r["project_id"],
                "name": r["name"],
                "created": iso_time(r["created_ns"]),
                "sessions": r["sessions"],
            }
            for r in rows
        ]

    def project_for_key(self, api_key: str) -> str | None:
        row = (
            self._reader().execute("SELECT project_id FROM api_keys WHERE api_key = ?", (api_key,)).fetchone()
        )
        return None if row is None else str(row[0])

    def issue_token(self, api_key: str) -> tuple[str, str] | None:
        """``(token, project_id)`` for a known API key, else None. Reads the file every time, so a key
        created by another process is valid at once."""
        project_id = self.project_for_key(api_key)
        if project_id is None:
            return None
        token = secrets.token_urlsafe(32)
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO tokens (token, project_id, api_key, created_ns) VALUES (?, ?, ?, ?)",
                (token, project_id, api_key, time.time_ns()),
            )
        )
        self._tokens[token] = project_id
        return token, project_id

    def project_for_token(self, token: str) -> str | None:
        project_id = self._tokens.get(token)
        if project_id is not None:
            return project_id
        row = self._reader().execute("SELECT project_id FROM tokens WHERE token = ?", (token,)).fetchone()
        if row is None:
            return None
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[token] = project_id = str(row[0])
        return project_id

    # -- ingest ----------------------------------------------------------------------------------------

    def ingest(self, project_id: str, records: Sequence[SpanRecord]) -> int:
        """Store ``records`` under ``project_id`` and update their sessions. Returns the new spans."""
        if not records:
            return 0
        resource_json: dict[int, str] = {}
        rows: list[list[Any]] = []
        sessions: dict[str, list[SpanRecord]] = {}
        for r in records:
            res = r.resource
            key = id(res)
            rj = resource_json.get(key)
            if rj is None:
                rj = resource_json[key] = _dumps(res)
            session_id = r.session_id
            group = sessions.get(session_id)
            if group is None:
                group = sessions[session_id] = []
            group.append(r)
            rows.append(
                [
                    project_id,
                    r.trace_id,
                    r.span_id,
                    session_id,
                    r.parent_span_id,
                    r.name,
                    r.kind,
                    r.start_ns,
                    r.end_ns,
                    r.status,
                    r.status_message,
                    _dumps(r.attributes),
                    _dumps(r.events) if r.events else None,
                    rj,  # replaced by the resource id inside the transaction
                ]
            )

        def work(conn: sqlite3.Connection) -> int:
            ids: dict[str, int] = {}
            for row in rows:
                rj = str(row[13])
                rid = ids.get(rj)
                if rid is None:
                    rid = ids[rj] = self._resource_id(conn, rj)
                row[13] = rid
            before = conn.total_changes
            conn.executemany(_SPAN_INSERT, rows)
            inserted = conn.total_changes - before
            if inserted == len(rows):
                for session_id, group in sessions.items():
                    figures = self._load_figures(conn, project_id, session_id)
                    for r in group:
                        figures.add(r)
                    conn.execute(_SESSION_UPSERT, figures.to_row(_dumps))
            else:
                # Some spans were stored already (a re-sent batch): count each span once by
                # rebuilding the touched sessions from what is stored.
                for session_id in sessions:
                    self._rebuild(conn, project_id, session_id)
            return inserted

        result: int = self._write(work)
        return result

    def _resource_id(self, conn: sqlite3.Connection, resource_json: str) -> int:
        rid = self._resource_ids.get(resource_json)
        if rid is not None:
            return rid
        digest = hashlib.sha1(resource_json.encode()).hexdigest()
        conn.execute(
            "INSERT OR IGNORE INTO resources (digest, attributes) VALUES (?, ?)", (digest, resource_json)
        )
        rid = int(conn.execute("SELECT resource_id FROM resources WHERE digest = ?", (digest,)).fetchone()[0])
        if len(self._resource_ids) > 1000:
            self._resource_ids.clear()
        self._resource_ids[resource_json] = rid
        return rid

    @staticmethod
    def _load_figures(conn: sqlite3.Connection, project_id: str, session_id: str) -> SessionFigures:
        row = conn.execute(
            "SELECT * FROM sessions WHERE project_id = ? AND session_id = ?", (project_id, session_id)
        ).fetchone()
        if row is None:
            return SessionFigures(project_id, session_id)
        return SessionFigures.from_row(row, _loads)

    def _rebuild(self, conn: sqlite3.Connection, project_id: str, session_id: str) -> None:
        figures = SessionFigures(project_id, session_id)
        for record in self._stored_records(conn, project_id, session_id):
            figures.add(record)
        conn.execute(_SESSION_UPSERT, figures.to_row(_dumps))

    @staticmethod
    def _stored_records(conn: sqlite3.Connection, project_id: str, session_id: str) -> Iterable[SpanRecord]:
        rows = conn.execute(
            "SELECT trace_id, span_id, parent_span_id, name, start_ns, end_ns, status, status_message,"
            " attributes, events FROM spans WHERE project_id = ? AND session_id = ?"
            " ORDER BY start_ns, span_id",
            (project_id, session_id),
        )
        for row in rows:
            yield SpanRecord(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                _loads(row[8]),
                None,
                _loads(row[9]) if row[9] else None,
            )

    # -- reading ---------------------------------------------------------------------------------------

    def list_sessions(
        self,
        project_id: str | None = None,
        *,
        tags: Sequence[str] = (),
        end_state: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Sessions newest first (all projects when ``project_id`` is None), each with every tag in
        ``tags`` and the given ``end_state``."""
        return [_loads(text) for text in self._session_texts(project_id, tags, end_state, limit, offset)]

    def list_sessions_json(
        self,
        project_id: str | None = None,
        *,
        tags: Sequence[str] = (),
        end_state: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        offset: int = 0,
    ) -> bytes:
        """``{"sessions": [...]}`` as JSON bytes, built by SQLite: what ``GET /api/sessions`` sends."""
        texts = self._session_texts(project_id, tags, end_state, limit, offset)
        return ('{"sessions":[' + ",".join(texts) + "]}").encode()

    def _session_texts(
        self, project_id: str | None, tags: Sequence[str], end_state: str | None, limit: int, offset: int
    ) -> list[str]:
        where: list[str] = []
        params: list[Any] = []
        if project_id is not None:
            where.append("project_id = ?")
            params.append(project_id)
        if end_state is not None:
            if end_state not in END_STATES:
                raise ValueError(f"end_state must be one of {', '.join(END_STATES)}")
            where.append("end_state = ?")
            params.append(end_state)
        for tag in tags:
            where.append("EXISTS (SELECT 1 FROM json_each(sessions.tags) WHERE json_each.value = ?)")
            params.append(tag)
        sql = f"SELECT {_SESSION_JSON_SQL} FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_ns DESC, session_id LIMIT ? OFFSET ?"
        params += [max(0, min(limit, MAX_LIST_LIMIT)), max(0, offset)]
        return [row[0] for row in self._reader().execute(sql, params)]

    def get_session(
        self, session_id: str, project_id: str | None = None, *, with_spans: bool = True
    ) -> dict[str, Any] | None:
        """One session with ``spans`` (root and every span, each once; the start marker is not one).
        With ``project_id`` None, the newest session of that id in any project."""
        conn = self._reader()
        if project_id is None:
            row = conn.execute(
                f"SELECT {_SESSION_JSON_SQL}, project_id FROM sessions WHERE session_id = ?"
                " ORDER BY start_ns DESC LIMIT 1",
                (session_id,),
            ).fetchone()
        else:
            row = conn.execute(
                f"SELECT {_SESSION_JSON_SQL}, project_id FROM sessions"
                " WHERE project_id = ? AND session_id = ?",
                (project_id, session_id),
            ).fetchone()
        if row is None:
            return None
        session: dict[str, Any] = _loads(row[0])
        if with_spans:
            session["spans"] = [
                span_json(r)
                for r in conn.execute(
                    "SELECT trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status,"
                    " status_message, attributes, events FROM spans"
                    " WHERE project_id = ? AND session_id = ? AND (kind IS NULL OR kind != 'session.start')"
                    " ORDER BY start_ns, span_id",
                    (row[1], session_id),
                )
            ]
        return session

    def count_spans(self, project_id: str | None = None) -> int:
        if project_id is None:
            return int(self._reader().execute("SELECT COUNT(*) FROM spans").fetchone()[0])
        return int(
            self._reader()
            .execute("SELECT COUNT(*) FROM spans WHERE project_id = ?", (project_id,))
            .fetchone()[0]
        )

    def find_sessions(
        self, prefix: str, project_id: str | None = None, *, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Sessions (without spans) whose id starts with ``prefix``, ignoring case, and ignoring the
        dashes of the id when the prefix has none (so a trace id's hex finds its session); newest
        first, at most ``limit``. How the CLI finds the 8-character ids the dashboard shows."""
        needle = prefix.strip().lower()
        if not needle:
            return []
        pattern = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        column = "lower(session_id)" if "-" in needle else "replace(lower(session_id), '-', '')"
        sql = f"SELECT {_SESSION_JSON_SQL} FROM sessions WHERE {column} LIKE ? ESCAPE '\\'"
        params: list[Any] = [pattern]
        if project_id is not None:
            sql += " AND project_id = ?"
            params.append(project_id)
        sql += " ORDER BY start_ns DESC, session_id LIMIT ?"
        params.append(max(1, limit))
        return [_loads(row[0]) for row in self._reader().execute(sql, params)]


def span_json(row: sqlite3.Row) -> dict[str, Any]:
    span: dict[str, Any] = {
        "span_id": row["span_id"],
        "parent_span_id": row["parent_span_id"],
        "trace_id": row["trace_id"],
        "name": row["name"],
        "kind": row["kind"],
        "start_time": iso_time(row["start_ns"]),
        "end_time": iso_time(row["end_ns"]),
        "status": row["status"],
        "status_message": row["status_message"] or None,
        "attributes": _loads(row["attributes"]),
    }
    if row["events"]:
        span["events"] = [
            {"name": e["name"], "time": iso_time(e["time_ns"]), "attributes": e["attributes"]}
            for e in _loads(row["events"])
        ]
    return span
