"""Alembic environment: online only, on the connection :mod:`agentops_otel.store.migrate` passes in.

The caller has begun the transaction (and, on PostgreSQL, taken the migration lock), so Alembic runs
every revision inside it: a failed upgrade leaves the database as it was.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=False)
with context.begin_transaction():
    context.run_migrations()
