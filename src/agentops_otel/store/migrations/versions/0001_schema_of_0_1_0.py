"""The schema of agentops-otel 0.1.0 (SQLite ``user_version`` 1).

Every table is created only where it is missing: a SQLite file written by 0.1.0 already has them (and
no ``alembic_version`` table), so on such a file this revision changes nothing and 0002 does the work.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NS = sa.BigInteger  # Unix nanoseconds
ID = sa.Text


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())

    def create(name: str, *columns: sa.Column[Any] | sa.Constraint) -> bool:
        if name in existing:
            return False
        op.create_table(name, *columns)
        return True

    create(
        "projects",
        sa.Column("project_id", ID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("created_ns", NS, nullable=False),
    )
    create(
        "api_keys",
        sa.Column("api_key", sa.Text, primary_key=True),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("created_ns", NS, nullable=False),
    )
    create(
        "tokens",
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("api_key", sa.Text, nullable=False),
        sa.Column("created_ns", NS, nullable=False),
    )
    create(
        "resources",
        sa.Column(
            "resource_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),  # SQLite: an alias of the rowid
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("digest", sa.Text, nullable=False, unique=True),
        sa.Column("attributes", sa.Text, nullable=False),
    )
    if create(
        "spans",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("trace_id", sa.Text, nullable=False),
        sa.Column("span_id", sa.Text, nullable=False),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("parent_span_id", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text),
        sa.Column("start_ns", NS, nullable=False),
        sa.Column("end_ns", NS, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("status_message", sa.Text, nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("events", sa.Text),
        sa.Column("resource_id", sa.BigInteger),
        sa.UniqueConstraint("project_id", "trace_id", "span_id", name="spans_unique"),
    ):
        op.create_index("spans_by_session", "spans", ["project_id", "session_id"])
    if create(
        "sessions",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("trace_id", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("start_ns", NS),
        sa.Column("last_end_ns", NS),
        sa.Column("end_ns", NS),
        sa.Column("has_root", sa.Integer, nullable=False),
        sa.Column("has_marker", sa.Integer, nullable=False),
        sa.Column("end_state", sa.Text, nullable=False),
        sa.Column("end_state_reason", sa.Text),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("host_env", sa.Text, nullable=False),
        sa.Column("video", sa.Text),
        sa.Column("span_count", sa.Integer, nullable=False),
        sa.Column("llm_calls", sa.Integer, nullable=False),
        sa.Column("tool_calls", sa.Integer, nullable=False),
        sa.Column("actions", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_usd", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("project_id", "session_id"),
    ):
        op.create_index("sessions_by_start", "sessions", ["project_id", sa.text("start_ns DESC")])
        op.create_index("sessions_by_start_all", "sessions", [sa.text("start_ns DESC")])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 1")


def downgrade() -> None:
    raise NotImplementedError("the store is migrated forward only")
