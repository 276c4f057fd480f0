"""The writes of one session inside an ingest transaction, shared by ingest and by the migration that
rewrote the stores of earlier releases (``migrations/versions/0003_…``): a block of spans (and the
merging of small blocks), the session's row, and its rows in the tag and model tables, which the list
filters and the overview read.

One SQL text for both engines (``?`` placeholders). Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentops_otel.store import blocks
from agentops_otel.store.figures import SessionFigures
from agentops_otel.store.queries import Tx, marks

#: Tags longer than this (UTF-8 bytes) are kept in the session but not in the tag table (a PostgreSQL
#: index entry holds at most about 2,700 bytes); the API refuses tag filters past 1,024 characters.
MAX_INDEXED_TAG = 1536
_COLUMNS = ", ".join(SessionFigures.COLUMNS)
SESSION_UPSERT = (
    f"INSERT INTO sessions ({_COLUMNS}) VALUES ({', '.join('?' * len(SessionFigures.COLUMNS))})"
    " ON CONFLICT (project_id, session_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SessionFigures.COLUMNS[2:])
)
_BLOCK_INSERT = (
    "INSERT INTO span_blocks (project_id, session_id, spans, start_ns, last_start_ns, codec, ids,"
    " llm, data, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING block_id"
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def clean_text(value: str) -> str:
    """Text every database can keep: PostgreSQL's cannot hold NUL, and no UTF-8 holds a lone surrogate."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode()
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode()
    return value


def insert_block(tx: Tx, project_id: str, session_id: str, block: blocks.Encoded) -> int:
    found = tx.run(
        _BLOCK_INSERT,
        (
            project_id,
            session_id,
            block.spans,
            block.start_ns,
            block.last_start_ns,
            blocks.CODEC,
            block.ids,
            block.llm,
            block.data,
            block.extra,
        ),
    )
    return int(found[0][0])


def merge_blocks(tx: Tx, project_id: str, session_id: str, known: list[tuple[int, int]]) -> None:
    """Merge the session's small blocks (``known``: ``(block_id, spans)`` of all its blocks) while some
    size class holds enough of them (:func:`~agentops_otel.store.blocks.merge_groups`)."""
    for _ in range(8):  # a merge can fill the next class; each round halves what is left to merge
        groups = blocks.merge_groups(known)
        if not groups:
            return
        for group in groups:
            rows = tx.run(
                "SELECT block_id, data, extra, ids, llm, codec FROM span_blocks"
                f" WHERE block_id IN ({marks(group)}) ORDER BY block_id",
                group,
            )
            block = blocks.merged((r[1], r[2], r[3], r[4], r[5]) for r in rows)
            new_id = insert_block(tx, project_id, session_id, block)
            tx.run(f"DELETE FROM span_blocks WHERE block_id IN ({marks(group)})", group)
            gone = set(group)
            known = [k for k in known if k[0] not in gone] + [(new_id, block.spans)]


def write_session(tx: Tx, figures: SessionFigures, previous: SessionFigures | None) -> None:
    """The session's row, and its tag and model rows where they changed (sessions only, not traces)."""
    row = tuple(clean_text(v) if isinstance(v, str) else v for v in figures.to_row(dumps))
    tx.run_many(SESSION_UPSERT, [row])
    placed = previous is not None and (previous.start_ns or 0, previous.is_trace) == (
        figures.start_ns or 0,
        figures.is_trace,
    )
    key = (figures.project_id, figures.session_id)
    if not placed or previous is None or previous.tags != figures.tags:
        if previous is not None:  # a new session has no rows to replace
            tx.run("DELETE FROM session_tags WHERE project_id = ? AND session_id = ?", key)
        tags = tag_names(figures)
        if tags:
            tx.run_many(
                "INSERT INTO session_tags (project_id, session_id, tag, start_ns) VALUES (?, ?, ?, ?)",
                [(*key, t, figures.start_ns or 0) for t in tags],
            )
    if (
        not placed
        or previous is None
        or previous.model_figures != figures.model_figures
        or previous.models != figures.models
    ):
        if previous is not None:
            tx.run("DELETE FROM session_models WHERE project_id = ? AND session_id = ?", key)
        if (figures.model_figures or figures.models) and not figures.is_trace:
            tx.run_many(
                "INSERT INTO session_models (project_id, session_id, model, start_ns, llm_calls,"
                " prompt_tokens, completion_tokens, cost_usd, unpriced_llm_calls)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                model_rows(figures),
            )


def tag_names(figures: SessionFigures) -> list[str]:
    """The session's rows in the tag table: its tags as kept (none for a trace)."""
    if figures.is_trace or not figures.tags:
        return []
    return sorted(t for t in {clean_text(t) for t in figures.tags} if len(t.encode()) <= MAX_INDEXED_TAG)


def model_rows(figures: SessionFigures) -> list[tuple[Any, ...]]:
    """A row per model named (so that the ``model`` filter finds request models too), with the figures
    of the calls billed to it (none for a name that only a request gave)."""
    rows: dict[str, list[Any]] = {clean_text(m): [0, 0, 0, 0.0, 0] for m in figures.models}
    for model, values in figures.model_figures.items():
        name = clean_text(model)
        total = rows.setdefault(name, [0, 0, 0, 0.0, 0])  # two names can clean to one
        for i, value in enumerate(values):
            total[i] += value
    start = figures.start_ns or 0
    return [(figures.project_id, figures.session_id, m, start, *v) for m, v in sorted(rows.items())]


def delete_sessions(tx: Tx, project_id: str, session_ids: Sequence[str]) -> None:
    """The rows of these sessions in every table but ``sessions`` (the caller deletes those)."""
    for table in ("span_blocks", "session_tags", "session_models"):
        tx.run(
            f"DELETE FROM {table} WHERE project_id = ? AND session_id IN ({marks(session_ids)})",
            (project_id, *session_ids),
        )
