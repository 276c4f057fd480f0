"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA user_version = ${int(up_revision)}")


def downgrade() -> None:
    raise NotImplementedError("the store is migrated forward only")
