"""The overview's rollups count unpriced calls: ``overview_hours`` gains ``unpriced_llm_calls``,
``overview_tags`` gains ``llm_calls`` and ``unpriced_llm_calls`` (so the overview's totals and each tag
show the part of the cost that is unknown, as the per-model rows do).

Both tables are built again from the session-level tables, as 0004 built them: the sessions' stored
figures (``sessions.unpriced_llm_calls``, counted at ingest by ``store.calls.is_unpriced``) summed per
project, hour and tag. A rollup holds nothing that is not in those tables, so nothing is lost.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from agentops_otel.store import rollups
from agentops_otel.store.migrations.rollup_tables import create

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_REBUILT = ("overview_hours", "overview_tags")


def upgrade() -> None:
    for table in _REBUILT:
        op.drop_table(table)
        create(table, *rollups.TABLES[table])
    for sql in rollups.backfill_sql({table: rollups.TABLES[table][1] for table in _REBUILT}):
        op.execute(sql)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 5")
