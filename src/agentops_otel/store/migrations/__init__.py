"""Alembic migrations of the store's schema, one source for SQLite and PostgreSQL (see ``store/migrate.py``).

Revision ids are the schema versions, zero-padded: ``0001`` is the schema of agentops-otel 0.1.0 (SQLite
``user_version`` 1); each later revision also sets SQLite's ``user_version`` to its number, which is what
the SQLite store reads at open to skip Alembic when the file is current.
"""
