"""Reads: session and trace lists (``store/listing.py``), one session or trace with its spans (all of
them, or in pages of the compact form), one span, prefix lookup, and the ETag of an answer.

Session and trace objects are built as JSON by the database; span objects by ``store/spanjson.py``
from the blocks. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

from agentops_otel import semconv
from agentops_otel.store import blocks, clock, listing, spanjson
from agentops_otel.store.listing import BadQuery, ListQuery
from agentops_otel.store.queries import CLOCK, Dialect

MAX_SPANS_LIMIT = 10_000
#: Text search of recorded content reads at most this much of it (decompressed), newest sessions first,
#: and at most this many sessions: a search costs at most about a third of a second of one core.
MAX_SEARCH_BYTES = 32 * 1024 * 1024
MAX_SEARCH_SESSIONS = 2000
#: A content search needs at least this many characters (shorter ones match nearly everything).
MIN_SEARCH_CHARS = 3
_HEX16 = frozenset("0123456789abcdef")
_MARKER = semconv.KIND_SESSION_START


def _spans_cursor(start_ns: int, span_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([start_ns, span_id]).encode()).decode().rstrip("=")


def _read_spans_cursor(cursor: str) -> tuple[int, str]:
    try:
        start, span_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(start, int) and isinstance(span_id, str):
            return start, span_id
    except (ValueError, TypeError):
        pass
    raise BadQuery("spans_cursor is not one this server gave (pass spans_next_cursor back as it is)")


class Page:
    """A page of a session's spans: the span objects, the cursor after them, and (compact form) the
    resources and scopes they refer to."""

    def __init__(self, spans: list[dict[str, Any]], next_cursor: str | None) -> None:
        self.spans = spans
        self.next_cursor = next_cursor
        self.resources: dict[str, Any] = {}
        self.scopes: dict[str, Any] = {}


class ReadsMixin:
    """Reads of a store (mixed into :class:`~agentops_otel.store.base.BaseStore`)."""

    dialect: Dialect
    _session_sql: str
    _trace_sql: str
    _objects: dict[tuple[str, int], Any]

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    # -- lists -----------------------------------------------------------------------------------------

    def list_page(self, query: ListQuery) -> tuple[list[str], int, str | None]:
        """One page of sessions (or traces) as JSON texts, the count of all that match, the next cursor."""
        query.check()
        if query.q and not query.content_ids:
            query.content_ids = self._content_ids(query)
        sql, params, count_sql, count_params = listing.build(
            query, self.dialect, self._trace_sql if query.traces else self._session_sql, clock.now_ns()
        )
        rows = self._read(sql, params)
        total = int(self._read(count_sql, count_params)[0][0])
        return [r[0] for r in rows[: query.limit]], total, listing.next_cursor(query, rows)

    def list_sessions(
        self,
        project_id: str | None = None,
        *,
        tags: Sequence[str] = (),
        end_state: str | None = None,
        limit: int = listing.DEFAULT_LIST_LIMIT,
        offset: int = 0,
        **more: Any,
    ) -> list[dict[str, Any]]:
        """Sessions newest first (all projects when ``project_id`` is None), each with every tag in
        ``tags`` and the given ``end_state``; ``more``: the other fields of :class:`ListQuery`."""
        query = ListQuery(project_id, tuple(tags), end_state, limit, offset, **more)
        texts, _, _ = self.list_page(query)
        return [json.loads(t) for t in texts]

    def list_sessions_json(
        self,
        project_id: str | None = None,
        *,
        tags: Sequence[str] = (),
        end_state: str | None = None,
        limit: int = listing.DEFAULT_LIST_LIMIT,
        offset: int = 0,
        **more: Any,
    ) -> bytes:
        """``{"sessions": [...], "total": n, "next_cursor": c}`` as JSON bytes: ``GET /api/sessions``."""
        query = ListQuery(project_id, tuple(tags), end_state, limit, offset, **more)
        return self._list_json("sessions", query)

    def list_traces_json(self, project_id: str | None = None, **more: Any) -> bytes:
        """``{"traces": [...], "total": n, "next_cursor": c}``: traces that carry no session."""
        return self._list_json("traces", ListQuery(project_id, traces=True, **more))

    def _list_json(self, name: str, query: ListQuery) -> bytes:
        texts, total, cursor = self.list_page(query)
        tail = f'],"total":{total},"next_cursor":{json.dumps(cursor)}}}'
        return (f'{{"{name}":[' + ",".join(texts) + tail).encode()

    def _content_ids(self, query: ListQuery) -> list[str]:
        """Sessions (of those the query may list) whose recorded content contains ``query.q``, ASCII
        case ignored: the newest :data:`MAX_SEARCH_SESSIONS` with content, within
        :data:`MAX_SEARCH_BYTES` of it."""
        needle = (query.q or "").strip().lower()
        if len(needle) < MIN_SEARCH_CHARS:
            return []
        once = json.dumps(needle, ensure_ascii=False)[1:-1]
        forms = {f.encode() for f in (needle, once, json.dumps(once, ensure_ascii=False)[1:-1])}
        where: list[str] = ["is_trace = ?", "has_content = 1"]
        params: list[Any] = [int(query.traces)]
        if query.project_id is not None:
            where.append("project_id = ?")
            params.append(query.project_id)
        for op, bound in ((">=", query.since_ns), ("<", query.until_ns)):
            if bound is not None:
                where.append(f"start_ns {op} ?")
                params.append(bound)
        candidates = self._read(
            f"SELECT project_id, session_id FROM sessions WHERE {' AND '.join(where)}"
            f" ORDER BY start_ns DESC LIMIT {MAX_SEARCH_SESSIONS}",
            params,
        )
        found: list[str] = []
        budget = MAX_SEARCH_BYTES
        for i in range(0, len(candidates), 50):
            chunk = candidates[i : i + 50]
            for _, session_id, extra, codec in self._read(
                "SELECT project_id, session_id, extra, codec FROM span_blocks WHERE extra IS NOT NULL"
                f" AND ({' OR '.join(['(project_id = ? AND session_id = ?)'] * len(chunk))})",
                [v for row in chunk for v in row],
            ):
                text = blocks.inflate(extra, codec).lower()
                budget -= len(text)
                if session_id not in found and any(f in text for f in forms):
                    found.append(session_id)
            if budget <= 0:
                break
        return found

    # -- one session -----------------------------------------------------------------------------------

    def _header(self, key: str, project_id: str | None, traces: bool = False) -> tuple[str, str] | None:
        """The object's JSON and its project: a session (or a trace, ``traces``) by id; with
        ``project_id`` None, the newest of that id in any project."""
        object_sql = self._trace_sql if traces else self._session_sql
        sql = f"{CLOCK} SELECT {object_sql}, sessions.project_id FROM sessions CROSS JOIN clock"
        where = "sessions.session_id = ? AND sessions.is_trace = ?"
        if project_id is None:
            found = self._read(
                f"{sql} WHERE {where} ORDER BY sessions.start_ns DESC LIMIT 1",
                (clock.now_ns(), key, int(traces)),
            )
        else:
            found = self._read(
                f"{sql} WHERE sessions.project_id = ? AND {where}",
                (clock.now_ns(), project_id, key, int(traces)),
            )
        return (found[0][0], found[0][1]) if found else None

    def get_session(
        self, session_id: str, project_id: str | None = None, *, with_spans: bool = True
    ) -> dict[str, Any] | None:
        """One session with ``spans`` (root and every span, each once; the start marker is not one).
        With ``project_id`` None, the newest session of that id in any project."""
        header = self._header(session_id, project_id)
        if header is None:
            return None
        session: dict[str, Any] = json.loads(header[0])
        if with_spans:
            session["spans"] = self.spans_page(header[1], session_id).spans
        return session

    def session_json(
        self,
        key: str,
        project_id: str,
        *,
        traces: bool = False,
        spans_limit: int | None = None,
        spans_cursor: str | None = None,
        if_none_match: str | None = None,
    ) -> tuple[bytes | None, str] | None:
        """``GET /api/sessions/{id}`` (``/api/traces/{id}`` with ``traces``): the answer's body and
        ETag; the body None when ``if_none_match`` is that ETag (304); None when there is no such one."""
        header = self._header(key, project_id, traces)
        if header is None:
            return None
        tag = hashlib.sha1(f"{header[0]}\0{spans_limit}\0{spans_cursor}".encode()).hexdigest()[:24]
        etag = f'"{tag}"'
        if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
            return None, etag
        page = self.spans_page(project_id, key, limit=spans_limit, cursor=spans_cursor)
        parts = [
            header[0][:-1],
            ',"spans":',
            json.dumps(page.spans, ensure_ascii=False, separators=(",", ":")),
        ]
        if spans_limit is not None:
            parts += [',"spans_next_cursor":', json.dumps(page.next_cursor)]
            parts += [',"resources":', json.dumps(page.resources, ensure_ascii=False)]
            parts += [',"scopes":', json.dumps(page.scopes, ensure_ascii=False)]
        parts.append("}")
        return "".join(parts).encode("utf-8", "replace"), etag

    def spans_page(
        self, project_id: str, session_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        """The session's spans in start order: all of them in the full form (``limit`` None), or a page
        of at most ``limit`` after ``cursor`` in the compact form."""
        home = blocks.home_trace(session_id)
        params: list[Any] = [project_id, session_id]
        after: tuple[int, str] | None = None
        sql = (
            "SELECT start_ns, ids, data, codec, {extra} FROM span_blocks"
            " WHERE project_id = ? AND session_id = ?"
        ).format(extra="extra" if limit is None else "NULL")
        if cursor:
            after = _read_spans_cursor(cursor)
            sql += " AND last_start_ns >= ?"
            params.append(after[0])
        rows = self._read(sql + " ORDER BY start_ns, block_id", params)
        wanted = None if limit is None else max(1, min(limit, MAX_SPANS_LIMIT))
        chosen: list[tuple[tuple[int, str], list[Any], bytes, dict[str, Any] | None]] = []
        for i, (_, ids, data, codec, extra_blob) in enumerate(rows):
            extra = blocks.decompress(extra_blob, codec) if extra_blob else ({} if limit is None else None)
            for entry, key in zip(blocks.decompress(data, codec), blocks.keys_of(ids), strict=True):
                if entry[blocks.KIND] == _MARKER:
                    continue  # stored, for rebuilds, but not a span of the session
                order = spanjson.sort_key(entry, key)
                if after is None or order > after:
                    chosen.append((order, entry, key, extra))
            if wanted is not None and len(chosen) > wanted:
                chosen.sort(key=lambda item: item[0])
                del chosen[wanted + 1 :]
                if i + 1 < len(rows) and rows[i + 1][0] > chosen[-1][0][0]:
                    break  # no later block can hold a span before the ones chosen
        chosen.sort(key=lambda item: item[0])
        next_cursor = None
        if wanted is not None and len(chosen) > wanted:
            del chosen[wanted:]
            next_cursor = _spans_cursor(*chosen[-1][0])
        page = Page([], next_cursor)
        for _, entry, key, extra in chosen:
            page.spans.append(spanjson.span_object(entry, key, home, extra, self._lookup))
        if limit is not None:
            self._add_references(page)
        return page

    def _add_references(self, page: Page) -> None:
        for span in page.spans:
            for kind, field, target in (
                ("resource", "resource_id", page.resources),
                ("scope", "scope_id", page.scopes),
            ):
                ref = span[field]
                if ref is not None and str(ref) not in target:
                    target[str(ref)] = self._lookup(kind, ref)

    def _lookup(self, kind: str, ref: int | None) -> Any:
        """A resource's attributes or a scope, by id (content-addressed rows: cached for good)."""
        if ref is None:
            return None
        found = self._objects.get((kind, ref))
        if found is None:
            table = "resources" if kind == "resource" else "scopes"
            rows = self._read(f"SELECT attributes FROM {table} WHERE {kind}_id = ?", (ref,))
            found = json.loads(rows[0][0]) if rows else {}
            if len(self._objects) > 4096:
                self._objects.clear()
            self._objects[(kind, ref)] = found
        return found

    def get_span(self, project_id: str, session_id: str, span_id: str) -> dict[str, Any] | None:
        """One span in the full form (every attribute), or None."""
        span_id = span_id.lower()
        if len(span_id) != 16 or not _HEX16.issuperset(span_id):
            return None
        home = blocks.home_trace(session_id)
        key = bytes.fromhex(span_id)
        rows = self._read(
            "SELECT block_id, ids FROM span_blocks WHERE project_id = ? AND session_id = ?",
            (project_id, session_id),
        )
        with_key = [r[0] for r in rows if key in blocks.keys_of(r[1])]
        for block_id in with_key or [r[0] for r in rows]:
            ((ids, data, extra_blob, codec),) = self._read(
                "SELECT ids, data, extra, codec FROM span_blocks WHERE block_id = ?", (block_id,)
            )
            extra = blocks.decompress(extra_blob, codec) if extra_blob else {}
            for entry, found in zip(blocks.decompress(data, codec), blocks.keys_of(ids), strict=True):
                if (entry[blocks.SPAN] or found.hex()) == span_id and entry[blocks.KIND] != _MARKER:
                    return spanjson.span_object(entry, found, home, extra, self._lookup)
        return None

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
            f" WHERE sessions.is_trace = 0 AND {column} LIKE ? ESCAPE '\\'"
        )
        params: list[Any] = [clock.now_ns(), pattern]
        if project_id is not None:
            sql += " AND sessions.project_id = ?"
            params.append(project_id)
        sql += " ORDER BY sessions.start_ns DESC, sessions.session_id LIMIT ?"
        params.append(max(1, min(limit, listing.MAX_LIST_LIMIT)))
        return [json.loads(row[0]) for row in self._read(sql, params)]

    def count_spans(self, project_id: str | None = None) -> int:
        if project_id is None:
            return int(self._read("SELECT COALESCE(SUM(spans), 0) FROM span_blocks")[0][0])
        return int(
            self._read("SELECT COALESCE(SUM(spans), 0) FROM span_blocks WHERE project_id = ?", (project_id,))[
                0
            ][0]
        )


def trace_key(trace_id: str) -> str | None:
    """The key a trace is stored under (its id as a UUID), or None for a text that is no trace id."""
    text = trace_id.strip().lower()
    if len(text) != 32 or not _HEX16.issuperset(text) or text == "0" * 32:
        return None
    return str(uuid.UUID(hex=text))


__all__ = ["MAX_SPANS_LIMIT", "Page", "ReadsMixin", "trace_key"]
