"""Secrets hashed, tokens that expire, the spool under the schema, heartbeats and retention.

- ``api_keys``/``tokens`` (plain text) become ``project_keys``/``auth_tokens`` holding only the SHA-256
  of each secret; existing keys keep working (hashed in place) and existing tokens get a day to live.
- ``project_keys.revoked_ns``: a revoked key is kept (so a re-use is recognisable) but refused.
- ``projects.retention_s``: the project's retention, when it has one of its own.
- ``sessions.last_seen_ns`` (the last span or heartbeat time, the SDK's clock), ``sessions.seen_ns`` (when
  the backend last received one, its own clock) and ``sessions.heartbeat_s`` (the interval the SDK
  announced): what a reader needs to tell a live idle session from one whose process died.
- ``spool`` (SQLite only): undelivered OTLP bodies, which 0.1.0 created outside the schema; created
  here when the file does not have it yet.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import hashlib
import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TOKEN_TTL_NS = 24 * 3600 * 1_000_000_000


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.create_table(
        "project_keys",
        sa.Column("key_digest", sa.Text, primary_key=True),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("revoked_ns", sa.BigInteger),
    )
    op.create_index("project_keys_by_project", "project_keys", ["project_id"])
    op.create_table(
        "auth_tokens",
        sa.Column("token_digest", sa.Text, primary_key=True),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column("key_digest", sa.Text, nullable=False),
        sa.Column("created_ns", sa.BigInteger, nullable=False),
        sa.Column("expires_ns", sa.BigInteger, nullable=False),
    )
    op.create_index("auth_tokens_by_key", "auth_tokens", ["key_digest"])
    op.create_index("auth_tokens_by_expiry", "auth_tokens", ["expires_ns"])

    keys = bind.execute(sa.text("SELECT api_key, project_id, created_ns FROM api_keys")).all()
    if keys:
        bind.execute(
            sa.text("INSERT INTO project_keys (key_digest, project_id, created_ns) VALUES (:d, :p, :c)"),
            [{"d": _sha256(k), "p": p, "c": c} for k, p, c in keys],
        )
    expires = time.time_ns() + _TOKEN_TTL_NS
    tokens = bind.execute(sa.text("SELECT token, project_id, api_key, created_ns FROM tokens")).all()
    if tokens:
        bind.execute(
            sa.text(
                "INSERT INTO auth_tokens (token_digest, project_id, key_digest, created_ns, expires_ns)"
                " VALUES (:t, :p, :k, :c, :e)"
            ),
            [{"t": _sha256(t), "p": p, "k": _sha256(k), "c": c, "e": expires} for t, p, k, c in tokens],
        )
    op.drop_table("tokens")
    op.drop_table("api_keys")

    op.add_column("projects", sa.Column("retention_s", sa.BigInteger))
    op.add_column("sessions", sa.Column("last_seen_ns", sa.BigInteger))
    op.add_column("sessions", sa.Column("seen_ns", sa.BigInteger))
    op.add_column("sessions", sa.Column("heartbeat_s", sa.Double))
    op.execute(
        "UPDATE sessions SET last_seen_ns = CASE WHEN COALESCE(last_end_ns, 0) > COALESCE(start_ns, 0)"
        " THEN last_end_ns ELSE start_ns END"
    )
    op.create_index("sessions_by_seen", "sessions", ["project_id", "last_seen_ns"])

    if sqlite:
        if "spool" not in sa.inspect(bind).get_table_names():
            op.create_table(
                "spool",
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("traces_url", sa.Text, nullable=False),
                sa.Column("key_fingerprint", sa.Text, nullable=False),
                sa.Column("created_ns", sa.BigInteger, nullable=False),
                sa.Column("spans", sa.Integer, nullable=False),
                sa.Column("body", sa.LargeBinary, nullable=False),
                sa.Column("claimed_by", sa.Text),
                sa.Column("claimed_ns", sa.BigInteger),
            )
        op.execute(
            "CREATE INDEX IF NOT EXISTS spool_by_destination ON spool (traces_url, key_fingerprint, id)"
        )
        op.execute("PRAGMA user_version = 2")


def downgrade() -> None:
    raise NotImplementedError("the store is migrated forward only")
