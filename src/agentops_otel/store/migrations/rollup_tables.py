"""The overview's rollup tables (``store/rollups.py``) as migrations 0004 and 0005 create them: the key
columns compare bytewise on PostgreSQL (``COLLATE "C"``, as in 0003), sums are BIGINT but the cost."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def _key() -> Any:
    return sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def create(table: str, keys: tuple[str, ...], values: tuple[str, ...]) -> None:
    """Create rollup ``table``: project, hour, ``keys``, then the summed ``values``."""
    op.create_table(
        table,
        sa.Column("project_id", _key(), nullable=False),
        sa.Column("hour", sa.BigInteger, nullable=False),
        *[sa.Column(k, _key(), nullable=False) for k in keys],
        *[sa.Column(n, sa.Double if n == "cost_usd" else sa.BigInteger, nullable=False) for n in values],
        sa.PrimaryKeyConstraint("project_id", "hour", *keys),
    )
