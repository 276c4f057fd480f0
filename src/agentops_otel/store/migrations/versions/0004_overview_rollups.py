"""Hourly rollups for the overview: ``overview_hours``, ``overview_models``, ``overview_tags``
(``store/rollups.py``), built here from the session-level tables and kept by ingest and retention.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from agentops_otel.store import rollups
from agentops_otel.store.migrations.rollup_tables import create

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: The tables as this revision made them (0005 added columns: ``rollups.TABLES`` has the current shape).
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "overview_hours": (
        (),
        ("sessions", "failed", "llm_calls", "tool_calls", "prompt_tokens", "completion_tokens",
         "cost_usd", "errors"),
    ),
    "overview_models": (
        ("model",),
        ("llm_calls", "prompt_tokens", "completion_tokens", "cost_usd", "unpriced_llm_calls"),
    ),
    "overview_tags": (("tag",), ("sessions", "failed", "cost_usd", "total_tokens")),
}  # fmt: skip


def upgrade() -> None:
    for table, (keys, values) in TABLES.items():
        create(table, keys, values)
    for sql in rollups.backfill_sql({table: values for table, (_, values) in TABLES.items()}):
        op.execute(sql)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 4")
