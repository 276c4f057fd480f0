"""The lean store: spans in compressed blocks; traces apart from sessions; figures from the GenAI
conventions; errors that count failures; the tag and model tables; keyset indexes.

- ``span_blocks`` replaces ``spans`` (``store/blocks.py``): every stored span is rewritten into it,
  session by session, and every session's figures are computed again from its spans by the current
  rules (model calls of any instrumentation, nested calls once, failures not spans, traces that carry
  no session marked ``is_trace``). What only heartbeats told (last seen, interval) is kept.
- ``sessions`` gains ``is_trace``, ``agents``, ``unpriced_llm_calls``, ``models``, ``model_figures``,
  ``failures``, ``has_content``; ``start_ns`` is never NULL (0 when unknown); the start indexes end
  with the session id, for keyset pages. On PostgreSQL the key columns compare bytewise (``COLLATE
  "C"``), as SQLite's do, so both engines order ids and names alike.
- ``session_tags`` and ``session_models``: a session's tags and models, indexed, for the list's
  filters and the overview; ``scopes``: instrumentation scopes, content-addressed like ``resources``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from agentops_otel.store import blocks, writes
from agentops_otel.store.calls import calls_of
from agentops_otel.store.figures import SessionFigures
from agentops_otel.store.records import SpanRecord

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BLOCK_SPANS = 1024
_OLD_SPAN_COLUMNS = (
    "trace_id, span_id, parent_span_id, name, start_ns, end_ns, status, status_message, attributes, events,"
    " resource_id"
)


def _key() -> Any:
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _zero(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer, nullable=False, server_default=sa.text("0"))


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for column in (
        _zero("is_trace"),
        _zero("agents"),
        _zero("unpriced_llm_calls"),
        sa.Column("models", sa.Text, nullable=False, server_default=sa.text("'[]'")),
        sa.Column("model_figures", sa.Text, nullable=False, server_default=sa.text("'{}'")),
        sa.Column("failures", sa.Text),
        _zero("has_content"),
    ):
        op.add_column("sessions", column)
    if not sqlite:
        for name in ("project_id", "session_id"):
            op.alter_column("sessions", name, type_=sa.Text(collation="C"), existing_nullable=False)
    op.execute("UPDATE sessions SET start_ns = 0 WHERE start_ns IS NULL")
    op.drop_index("sessions_by_start", "sessions")
    op.drop_index("sessions_by_start_all", "sessions")
    op.create_index("sessions_by_start", "sessions", ["project_id", "is_trace", "start_ns", "session_id"])
    op.create_index("sessions_by_start_all", "sessions", ["is_trace", "start_ns", "session_id", "project_id"])

    op.create_table(
        "scopes",
        sa.Column("scope_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("digest", sa.Text, nullable=False, unique=True),
        sa.Column("attributes", sa.Text, nullable=False),
    )
    op.create_table(
        "session_tags",
        sa.Column("project_id", _key(), nullable=False),
        sa.Column("session_id", _key(), nullable=False),
        sa.Column("tag", _key(), nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "session_id", "tag"),
    )
    op.create_index("session_tags_by_tag", "session_tags", ["project_id", "tag", "start_ns", "session_id"])
    op.create_table(
        "session_models",
        sa.Column("project_id", _key(), nullable=False),
        sa.Column("session_id", _key(), nullable=False),
        sa.Column("model", _key(), nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("llm_calls", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Double, nullable=False),
        sa.Column("unpriced_llm_calls", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "session_id", "model"),
    )
    op.create_index("session_models_by_model", "session_models", ["project_id", "model", "start_ns"])
    op.create_index("session_models_by_start", "session_models", ["project_id", "start_ns"])
    op.create_table(
        "span_blocks",
        sa.Column("block_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("project_id", _key(), nullable=False),
        sa.Column("session_id", _key(), nullable=False),
        sa.Column("spans", sa.Integer, nullable=False),
        sa.Column("start_ns", sa.BigInteger, nullable=False),
        sa.Column("last_start_ns", sa.BigInteger, nullable=False),
        sa.Column("codec", sa.Integer, nullable=False),
        sa.Column("ids", sa.LargeBinary, nullable=False),
        sa.Column("llm", sa.LargeBinary),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("extra", sa.LargeBinary),
    )
    op.create_index("span_blocks_by_session", "span_blocks", ["project_id", "session_id", "start_ns"])

    _rewrite(_Tx(bind, sqlite))
    op.drop_index("spans_by_session", "spans")
    op.drop_table("spans")
    if sqlite:
        op.execute("PRAGMA user_version = 3")


class _Tx:
    """The store's transaction interface (``store/queries.py: Tx``) over the migration's connection."""

    def __init__(self, bind: Any, sqlite: bool) -> None:
        self.bind = bind
        self.sqlite = sqlite

    def _sql(self, sql: str) -> str:
        return sql if self.sqlite else sql.replace("?", "%s")

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        result = self.bind.exec_driver_sql(self._sql(sql), tuple(params))
        return [tuple(row) for row in result.fetchall()] if result.returns_rows else []

    def run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.bind.exec_driver_sql(self._sql(sql), [tuple(r) for r in rows])


def _rewrite(tx: _Tx) -> None:
    """Every session's spans into blocks, and its figures computed again from them."""
    columns = ", ".join(SessionFigures.COLUMNS)
    for row in tx.run(f"SELECT {columns} FROM sessions ORDER BY project_id, session_id"):
        previous = SessionFigures.from_row(dict(zip(SessionFigures.COLUMNS, row, strict=True)), json.loads)
        project_id, session_id = previous.project_id, previous.session_id
        spans = tx.run(
            f"SELECT {_OLD_SPAN_COLUMNS} FROM spans WHERE project_id = ? AND session_id = ?"
            " ORDER BY start_ns, span_id",
            (project_id, session_id),
        )
        if not spans:
            continue  # heartbeats only: nothing to rewrite (such a session carries session.id)
        records = [
            SpanRecord(
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]), None,
                json.loads(r[9]) if r[9] else None,
            )
            for r in spans
        ]  # fmt: skip
        figures = SessionFigures(project_id, session_id)
        figures.add(records)  # spans stored before were kept: none is refused now
        if previous.last_seen_ns and (figures.last_seen_ns or 0) < previous.last_seen_ns:
            figures.last_seen_ns = previous.last_seen_ns
        figures.heartbeat_s = (
            previous.heartbeat_s if previous.heartbeat_s is not None else figures.heartbeat_s
        )
        figures.seen_ns = previous.seen_ns
        home = blocks.home_trace(session_id)
        _, llm_ids = calls_of(records)
        for start in range(0, len(records), _BLOCK_SPANS):
            part = records[start : start + _BLOCK_SPANS]
            resource_ids = [r[10] for r in spans[start : start + _BLOCK_SPANS]]
            block = blocks.encode(part, home, llm_ids, resource_ids, [None] * len(part))
            figures.has_content = figures.has_content or block.has_content
            writes.insert_block(tx, project_id, session_id, block)
        writes.write_session(tx, figures, None)


def downgrade() -> None:
    raise NotImplementedError("the store is migrated forward only")
