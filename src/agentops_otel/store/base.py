"""The store interface and what both stores (SQLite, PostgreSQL) share: ingest, reads and retention.

- Ingest is one transaction per batch, acknowledged only after it commits. Spans are unique per
  (project, trace id, span id): a batch sent twice is stored once. Each batch updates the figures of
  the sessions it touches (``store/figures.py``); when it holds spans already stored, those sessions
  are rebuilt from their stored spans instead, so every span counts once.
- Heartbeats update their session but are not stored as spans; the start marker is stored but never
  listed.
- Reads build session objects as JSON in the database (``store/queries.py``).
- Retention deletes whole sessions (their spans with them) in small transactions, so ingest waits at
  most one short batch.

A subclass provides the connections (:meth:`_read`, :meth:`_write`) and the few steps that differ by
engine (:meth:`_insert_spans`, :meth:`_lock_sessions`, :attr:`dialect`). Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from agentops_otel.store.auth import AuthMixin
from agentops_otel.store.figures import END_STATES, SessionFigures
from agentops_otel.store.queries import CLOCK, SPAN_COLUMNS, Dialect, Tx, iso_time, marks, session_json_sql
from agentops_otel.store.records import SpanRecord
from agentops_otel.store.retention import RetentionMixin

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000
_MAX_OFFSET = 2**62
_IN_CHUNK = 500  # ids per IN (...) list
_T = TypeVar("_T")
#: The backend's clock: when a session was last heard from, and "now" when it is read.
_now_ns = time.time_ns

_SPAN_INSERT_COLUMNS = (
    "project_id, trace_id, span_id, session_id, parent_span_id, name, kind, start_ns, end_ns, status,"
    " status_message, attributes, events, resource_id"
)
_SESSION_COLUMNS = ", ".join(SessionFigures.COLUMNS)
_SESSION_UPSERT = (
    f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ({', '.join('?' * len(SessionFigures.COLUMNS))})"
    " ON CONFLICT (project_id, session_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SessionFigures.COLUMNS[2:])
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


loads = json.loads


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; both stores replace it, so they keep the same strings.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


class BaseStore(AuthMixin, RetentionMixin):
    """The store interface: projects and tokens (:class:`AuthMixin`), ingest, reads, retention
    (:class:`RetentionMixin`)."""

    dialect: Dialect
    #: Where the store is, for messages: a file path or a URL without its password.
    location: str

    def _init_base(self, token_ttl: float) -> None:
        self._init_auth(token_ttl)
        self._resource_ids: dict[str, int] = {}
        self._session_sql = session_json_sql(self.dialect)

    # -- provided by each store ------------------------------------------------------------------------

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, work: Callable[[Tx], _T]) -> _T:
        raise NotImplementedError

    def _insert_spans(self, tx: Tx, rows: list[list[Any]]) -> int:
        """Insert span rows, skipping those already stored; the number inserted."""
        raise NotImplementedError

    def _lock_sessions(self, tx: Tx, project_id: str, session_ids: Sequence[str]) -> None:
        """Keep other writers off these sessions until commit (a no-op where writes are serial)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> BaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest ----------------------------------------------------------------------------------------

    def ingest(self, project_id: str, records: Sequence[SpanRecord]) -> int:
        """Store ``records`` under ``project_id`` and update their sessions. Returns the new spans."""
        if not records:
            return 0
        rows: list[list[Any]] = []
        sessions: dict[str, list[SpanRecord]] = {}
        resources: dict[int, str] = {}
        for r in records:
            session_id = _text(r.session_id)
            group = sessions.get(session_id)
            if group is None:
                group = sessions[session_id] = []
            group.append(r)
            if r.is_heartbeat:
                continue
            res = r.resource
            rj = resources.get(id(res))
            if rj is None:
                rj = resources[id(res)] = dumps(res)
            rows.append(
                [
                    project_id,
                    r.trace_id,
                    r.span_id,
                    session_id,
                    r.parent_span_id,
                    _text(r.name),
                    None if r.kind is None else _text(r.kind),
                    r.start_ns,
                    r.end_ns,
                    r.status,
                    _text(r.status_message),
                    dumps(r.attributes),
                    dumps(r.events) if r.events else None,
                    rj,
                ]
            )
        ids = self._resource_ids_for(set(resources.values()))
        for row in rows:
            row[13] = ids[row[13]]
        session_ids = sorted(sessions)

        def work(tx: Tx) -> int:
            self._lock_sessions(tx, project_id, session_ids)
            inserted = self._insert_spans(tx, rows) if rows else 0
            stored = self._load_figures(tx, project_id, session_ids)
            now = _now_ns()
            updated = []
            for session_id in session_ids:
                previous = stored.get(session_id)
                if inserted == len(rows):
                    figures = previous or SessionFigures(project_id, session_id)
                    for r in sessions[session_id]:
                        figures.add(r)
                else:
                    # Some spans were stored already (a re-sent batch): count each span once by
                    # rebuilding the session from what is stored (and this batch's heartbeats).
                    figures = self._rebuilt(tx, project_id, session_id, previous, sessions[session_id])
                figures.seen_ns = now
                updated.append(tuple(_text(v) if isinstance(v, str) else v for v in figures.to_row(dumps)))
            tx.run_many(_SESSION_UPSERT, updated)
            return inserted

        return self._write(work)

    def _resource_ids_for(self, resource_jsons: Iterable[str]) -> dict[str, int]:
        """Resource ids, inserted in a transaction of their own when new (content-addressed rows, so an
        unused one costs nothing, and a batch never waits on another batch's new resource)."""
        found: dict[str, int] = {}
        missing = []
        for rj in resource_jsons:
            rid = self._resource_ids.get(rj)
            if rid is None:
                missing.append(rj)
            else:
                found[rj] = rid
        if not missing:
            return found
        by_digest = {hashlib.sha1(rj.encode()).hexdigest(): rj for rj in missing}

        def work(tx: Tx) -> list[tuple[Any, ...]]:
            tx.run_many(
                "INSERT INTO resources (digest, attributes) VALUES (?, ?) ON CONFLICT DO NOTHING",
                sorted(by_digest.items()),
            )
            return [
                row
                for chunk in _chunks(sorted(by_digest))
                for row in tx.run(
                    f"SELECT digest, resource_id FROM resources WHERE digest IN ({marks(chunk)})", chunk
                )
            ]

        if len(self._resource_ids) > 1000:
            self._resource_ids.clear()
        for dg, rid in self._write(work):
            found[by_digest[dg]] = self._resource_ids[by_digest[dg]] = int(rid)
        return found

    @staticmethod
    def _load_figures(tx: Tx, project_id: str, session_ids: Sequence[str]) -> dict[str, SessionFigures]:
        figures = {}
        for chunk in _chunks(session_ids):
            for row in tx.run(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE project_id = ?"
                f" AND session_id IN ({marks(chunk)})",
                (project_id, *chunk),
            ):
                fig = SessionFigures.from_row(dict(zip(SessionFigures.COLUMNS, row, strict=True)), loads)
                figures[fig.session_id] = fig
        return figures

    def _rebuilt(
        self,
        tx: Tx,
        project_id: str,
        session_id: str,
        previous: SessionFigures | None,
        batch: Sequence[SpanRecord],
    ) -> SessionFigures:
        figures = SessionFigures(project_id, session_id)
        for record in _stored_records(tx, project_id, session_id):
            figures.add(record)
        figures.keep_heartbeat_state(previous)
        for record in batch:
            if record.is_heartbeat:
                figures.add(record)
        return figures

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
        return [loads(text) for text in self._session_texts(project_id, tags, end_state, limit, offset)]

    def list_sessions_json(
        self,
        project_id: str | None = None,
        *,
        tags: Sequence[str] = (),
        end_state: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        offset: int = 0,
    ) -> bytes:
        """``{"sessions": [...]}`` as JSON bytes, built by the database: what ``GET /api/sessions`` sends."""
        texts = self._session_texts(project_id, tags, end_state, limit, offset)
        return ('{"sessions":[' + ",".join(texts) + "]}").encode()

    def _session_texts(
        self, project_id: str | None, tags: Sequence[str], end_state: str | None, limit: int, offset: int
    ) -> list[str]:
        where: list[str] = []
        params: list[Any] = [_now_ns()]
        if project_id is not None:
            where.append("sessions.project_id = ?")
            params.append(project_id)
        if end_state is not None:
            if end_state not in END_STATES:
                raise ValueError(f"end_state must be one of {', '.join(END_STATES)}")
            where.append("sessions.end_state = ?")
            params.append(end_state)
        for tag in tags:
            where.append(self.dialect.tag_filter)
            params.extend(self.dialect.tag_params(tag))
        sql = f"{CLOCK} SELECT {self._session_sql} FROM sessions CROSS JOIN clock"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY sessions.start_ns DESC, sessions.session_id LIMIT ? OFFSET ?"
        params += [max(0, min(limit, MAX_LIST_LIMIT)), max(0, min(offset, _MAX_OFFSET))]
        return [row[0] for row in self._read(sql, params)]

    def get_session(
        self, session_id: str, project_id: str | None = None, *, with_spans: bool = True
    ) -> dict[str, Any] | None:
        """One session with ``spans`` (root and every span, each once; the start marker is not one).
        With ``project_id`` None, the newest session of that id in any project."""
        sql = f"{CLOCK} SELECT {self._session_sql}, sessions.project_id FROM sessions CROSS JOIN clock"
        if project_id is None:
            found = self._read(
                f"{sql} WHERE sessions.session_id = ? ORDER BY sessions.start_ns DESC LIMIT 1",
                (_now_ns(), session_id),
            )
        else:
            found = self._read(
                f"{sql} WHERE sessions.project_id = ? AND sessions.session_id = ?",
                (_now_ns(), project_id, session_id),
            )
        if not found:
            return None
        session: dict[str, Any] = loads(found[0][0])
        if with_spans:
            session["spans"] = [
                span_json(row)
                for row in self._read(
                    f"SELECT {SPAN_COLUMNS} FROM spans WHERE project_id = ? AND session_id = ?"
                    " AND (kind IS NULL OR kind != 'session.start') ORDER BY start_ns, span_id",
                    (found[0][1], session_id),
                )
            ]
        return session

    def find_sessions(
        self, prefix: str, project_id: str | None = None, *, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Sessions (without spans) whose id starts with ``prefix``, ignoring case, and ignoring the
        dashes of the id when the prefix has none (so a trace id's hex finds its session); newest
        first, at most ``limit``. How the CLI finds the short ids the dashboard shows."""
        needle = prefix.strip().lower()
        if not needle:
            return []
        pattern = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        column = (
            "lower(sessions.session_id)" if "-" in needle else "replace(lower(sessions.session_id), '-', '')"
        )
        sql = (
            f"{CLOCK} SELECT {self._session_sql} FROM sessions CROSS JOIN clock"
            f" WHERE {column} LIKE ? ESCAPE '\\'"
        )
        params: list[Any] = [_now_ns(), pattern]
        if project_id is not None:
            sql += " AND sessions.project_id = ?"
            params.append(project_id)
        sql += " ORDER BY sessions.start_ns DESC, sessions.session_id LIMIT ?"
        params.append(max(1, min(limit, MAX_LIST_LIMIT)))
        return [loads(row[0]) for row in self._read(sql, params)]

    def count_spans(self, project_id: str | None = None) -> int:
        if project_id is None:
            return int(self._read("SELECT COUNT(*) FROM spans")[0][0])
        return int(self._read("SELECT COUNT(*) FROM spans WHERE project_id = ?", (project_id,))[0][0])


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _IN_CHUNK):
        yield items[i : i + _IN_CHUNK]


def _stored_records(tx: Tx, project_id: str, session_id: str) -> Iterable[SpanRecord]:
    rows = tx.run(
        "SELECT trace_id, span_id, parent_span_id, name, start_ns, end_ns, status, status_message,"
        " attributes, events FROM spans WHERE project_id = ? AND session_id = ? ORDER BY start_ns, span_id",
        (project_id, session_id),
    )
    for row in rows:
        yield SpanRecord(
            row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
            loads(row[8]), None, loads(row[9]) if row[9] else None,
        )  # fmt: skip


def span_json(row: Sequence[Any]) -> dict[str, Any]:
    """A span object (SPEC.md section 5) from a row of :data:`~agentops_otel.store.queries.SPAN_COLUMNS`."""
    span: dict[str, Any] = {
        "span_id": row[1],
        "parent_span_id": row[2],
        "trace_id": row[0],
        "name": row[3],
        "kind": row[4],
        "start_time": iso_time(row[5]),
        "end_time": iso_time(row[6]),
        "status": row[7],
        "status_message": row[8] or None,
        "attributes": loads(row[9]),
    }
    if row[10]:
        span["events"] = [
            {"name": e["name"], "time": iso_time(e["time_ns"]), "attributes": e["attributes"]}
            for e in loads(row[10])
        ]
    return span
