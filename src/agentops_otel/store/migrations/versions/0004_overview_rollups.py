"""Hourly rollups for the overview: ``overview_hours``, ``overview_models``, ``overview_tags``
(``store/rollups.py``), built here from the session-level tables and kept by ingest and retention.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from agentops_otel.store import rollups

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _key() -> Any:
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _sums(*names: str) -> list[sa.Column[Any]]:
    return [sa.Column(n, sa.Double if n == "cost_usd" else sa.BigInteger, nullable=False) for n in names]


def upgrade() -> None:
    for table, (keys, values) in rollups.TABLES.items():
        op.create_table(
            table,
            sa.Column("project_id", _key(), nullable=False),
            sa.Column("hour", sa.BigInteger, nullable=False),
            *[sa.Column(k, _key(), nullable=False) for k in keys],
            *_sums(*values),
            sa.PrimaryKeyConstraint("project_id", "hour", *keys),
        )
    for sql in rollups.backfill_sql():
        op.execute(sql)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = 4")
