"""Ingest: a batch of spans into blocks and session figures, in one transaction.

- Spans are grouped by session (``session.id``, else the trace id as a UUID). Under the session's lock
  the keys of its stored spans are read (8 bytes a span, never decompressed): a span stored already,
  or twice in the batch, is left out, so a batch sent again stores and counts nothing.
- The new spans are folded into the stored figures (``store/figures.py``). Where a batch nests a model
  call in one stored earlier (or under one), the session is rebuilt from its stored spans instead, so
  the call still counts once.
- The new spans become one block (``store/blocks.py``); small blocks are merged as they accumulate.
- A span the store cannot keep is refused alone (its reason in ``refused``), the others are stored: a
  ``session.id`` too long to index, figures past what the columns hold.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from agentops_otel.store import blocks, clock, rollups, writes
from agentops_otel.store.calls import calls_of
from agentops_otel.store.figures import SessionFigures
from agentops_otel.store.queries import Tx, marks
from agentops_otel.store.records import SpanRecord

_T = TypeVar("_T")
_IN_CHUNK = 500  # ids per IN (...) list
#: The longest ``session.id`` kept (UTF-8 bytes): it is a key of several indexes.
MAX_SESSION_ID_BYTES = 1024


def chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _Known:
    """What is stored of one session: its blocks, the keys of its spans, of its model-call spans and
    of their parents."""

    __slots__ = ("blocks", "keys", "llm_keys", "llm_parents")

    def __init__(self) -> None:
        self.blocks: list[tuple[int, int]] = []
        self.keys: set[bytes] = set()
        self.llm_keys: set[bytes] = set()
        self.llm_parents: set[bytes] = set()


class IngestMixin:
    """Ingest of a store (mixed into :class:`~agentops_otel.store.base.BaseStore`)."""

    _interned: dict[tuple[str, str], int]

    # Provided by the store.
    def _write(self, work: Callable[[Tx], _T]) -> _T:
        raise NotImplementedError

    def _lock_sessions(self, tx: Tx, project_id: str, session_ids: Sequence[str]) -> None:
        raise NotImplementedError

    def ingest(self, project_id: str, records: Sequence[SpanRecord], refused: list[str] | None = None) -> int:
        """Store ``records`` under ``project_id`` and update their sessions; the number of new spans.

        A span the store cannot keep is left out and its reason appended to ``refused``; without
        ``refused`` it raises ``ValueError`` instead, and nothing is stored."""
        if not records:
            return 0
        reasons: list[str] = []
        sessions: dict[str, list[SpanRecord]] = {}
        for r in records:
            session_id = writes.clean_text(r.session_id)
            if len(session_id.encode()) > MAX_SESSION_ID_BYTES:
                reasons.append(
                    f"span {r.name[:80]!r}: its session.id is longer than {MAX_SESSION_ID_BYTES} bytes"
                )
                continue
            sessions.setdefault(session_id, []).append(r)
        stored = [r for group in sessions.values() for r in group if not r.is_heartbeat]
        resource_ids = self._interned_ids("resources", [r.resource for r in stored])
        scope_ids = self._interned_ids("scopes", [r.scope for r in stored])
        refs = {id(r): (resource_ids[i], scope_ids[i]) for i, r in enumerate(stored)}
        session_ids = sorted(sessions)

        def work(tx: Tx) -> int:
            self._lock_sessions(tx, project_id, session_ids)
            previous = load_figures(tx, project_id, session_ids)
            known = _load_known(tx, project_id, session_ids)
            now = clock.now_ns()
            inserted = 0
            deltas = rollups.Deltas()
            for session_id in session_ids:
                inserted += self._ingest_session(
                    tx,
                    project_id,
                    session_id,
                    sessions[session_id],
                    previous.get(session_id),
                    known.get(session_id) or _Known(),
                    refs,
                    reasons,
                    now,
                    deltas,
                )
            if reasons and refused is None:
                raise ValueError("; ".join(reasons[:3]))
            deltas.flush(tx)
            return inserted

        inserted = self._write(work)
        if refused is not None:
            refused.extend(reasons)
        return inserted

    def _ingest_session(
        self,
        tx: Tx,
        project_id: str,
        session_id: str,
        group: list[SpanRecord],
        previous: SessionFigures | None,
        known: _Known,
        refs: dict[int, tuple[int | None, int | None]],
        reasons: list[str],
        now: int,
        deltas: rollups.Deltas,
    ) -> int:
        home = blocks.home_trace(session_id)
        new: list[SpanRecord] = []
        for r in group:
            if r.is_heartbeat:
                new.append(r)
                continue
            key = blocks.span_key(r.trace_id, r.span_id, home)
            if key not in known.keys:
                known.keys.add(key)
                new.append(r)
        calls, llm_ids = calls_of(new)
        if previous is not None and _nests_across(calls, known, home):
            # Fold everything again, so that the chain of spans of one call is seen whole.
            figures = SessionFigures(project_id, session_id)
            fresh = {id(r) for r in new}
            old = list(_stored_records(tx, project_id, session_id, home))
            refused_now = [(r, why) for r, why in figures.add(old + new) if id(r) in fresh]
            figures.keep_heartbeat_state(previous)
        else:
            figures = _copy(previous) if previous is not None else SessionFigures(project_id, session_id)
            refused_now = figures.add(new, (calls, llm_ids))
        skip = {id(r) for r, _ in refused_now}
        reasons += [f"span {r.name[:80]!r}: {why}" for r, why in refused_now]
        accepted = [r for r in new if not r.is_heartbeat and id(r) not in skip]
        if accepted:
            block = blocks.encode(
                accepted,
                home,
                llm_ids,
                [refs[id(r)][0] for r in accepted],
                [refs[id(r)][1] for r in accepted],
            )
            figures.has_content = figures.has_content or block.has_content
            block_id = writes.insert_block(tx, project_id, session_id, block)
            writes.merge_blocks(tx, project_id, session_id, [*known.blocks, (block_id, block.spans)])
        figures.seen_ns = now
        writes.write_session(tx, figures, previous)
        deltas.change(previous, figures)
        return len(accepted)

    def _interned_ids(self, table: str, values: Sequence[dict[str, Any] | None]) -> list[int | None]:
        """Ids of content-addressed rows (``resources``, ``scopes``), inserted in a transaction of their
        own when new (an unused one costs nothing, and a batch never waits on another's new row)."""
        texts: dict[int, str | None] = {}
        for value in values:
            if id(value) not in texts:
                texts[id(value)] = None if not value else writes.clean_text(writes.dumps(value))
        missing = sorted({t for t in texts.values() if t is not None and (table, t) not in self._interned})
        if missing:
            by_digest = {hashlib.sha1(t.encode()).hexdigest(): t for t in missing}

            def work(tx: Tx) -> list[tuple[Any, ...]]:
                tx.run_many(
                    f"INSERT INTO {table} (digest, attributes) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    sorted(by_digest.items()),
                )
                return [
                    row
                    for chunk in chunks(sorted(by_digest))
                    for row in tx.run(
                        f"SELECT digest, {table[:-1]}_id FROM {table} WHERE digest IN ({marks(chunk)})", chunk
                    )
                ]

            if len(self._interned) > 2000:
                self._interned.clear()
            for digest, row_id in self._write(work):
                self._interned[(table, by_digest[digest])] = int(row_id)
        return [None if texts[id(v)] is None else self._interned[(table, texts[id(v)])] for v in values]  # type: ignore[index]


def _copy(figures: SessionFigures) -> SessionFigures:
    """A copy to fold into, so that ``previous`` still says what is stored (for :func:`write_session`)."""
    fresh = SessionFigures(figures.project_id, figures.session_id)
    for name in SessionFigures.COLUMNS[2:]:
        value = getattr(figures, name)
        setattr(fresh, name, value.copy() if isinstance(value, (list, dict)) else value)
    fresh.model_figures = {k: list(v) for k, v in figures.model_figures.items()}
    fresh.failures = [list(f) for f in figures.failures]
    fresh.failure_overflow = figures.failure_overflow
    return fresh


def _nests_across(calls: list[Any], known: _Known, home: str | None) -> bool:
    """Whether a new model call sits in a stored one or around one (then the session is rebuilt)."""
    if not calls or not known.llm_keys:
        return False
    for call in calls:
        for r in call.members:
            if r.parent_span_id and blocks.span_key(r.trace_id, r.parent_span_id, home) in known.llm_keys:
                return True
            if blocks.span_key(r.trace_id, r.span_id, home) in known.llm_parents:
                return True
    return False


def load_figures(tx: Tx, project_id: str, session_ids: Sequence[str]) -> dict[str, SessionFigures]:
    from agentops_otel.store.writes import _COLUMNS

    figures = {}
    for chunk in chunks(session_ids):
        for row in tx.run(
            f"SELECT {_COLUMNS} FROM sessions WHERE project_id = ? AND session_id IN ({marks(chunk)})",
            (project_id, *chunk),
        ):
            fig = SessionFigures.from_row(dict(zip(SessionFigures.COLUMNS, row, strict=True)), json.loads)
            figures[fig.session_id] = fig
    return figures


def _load_known(tx: Tx, project_id: str, session_ids: Sequence[str]) -> dict[str, _Known]:
    known: dict[str, _Known] = {}
    for chunk in chunks(session_ids):
        for session_id, block_id, spans, ids, llm in tx.run(
            "SELECT session_id, block_id, spans, ids, llm FROM span_blocks"
            f" WHERE project_id = ? AND session_id IN ({marks(chunk)})",
            (project_id, *chunk),
        ):
            entry = known.get(session_id)
            if entry is None:
                entry = known[session_id] = _Known()
            entry.blocks.append((int(block_id), int(spans)))
            entry.keys.update(blocks.keys_of(ids))
            for key, parent in blocks.llm_pairs(llm):
                entry.llm_keys.add(key)
                if parent is not None:
                    entry.llm_parents.add(parent)
    return known


def _stored_records(tx: Tx, project_id: str, session_id: str, home: str | None) -> Iterable[SpanRecord]:
    """The session's stored spans, without their long values (the figures never read those)."""
    for data, ids, codec in tx.run(
        "SELECT data, ids, codec FROM span_blocks WHERE project_id = ? AND session_id = ? ORDER BY block_id",
        (project_id, session_id),
    ):
        for entry, key in zip(blocks.decompress(data, codec), blocks.keys_of(ids), strict=True):
            yield blocks.record_of(entry, key, home, {})
