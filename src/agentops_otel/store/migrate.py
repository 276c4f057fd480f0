"""Running the Alembic migrations (``store/migrations``) on a SQLite file or a PostgreSQL database.

This module imports SQLAlchemy and Alembic (about 0.6 s of import work together), so it is imported
only when a database needs upgrading: a PostgreSQL store at open, and a SQLite file written by an
older release. A new SQLite file is created from :data:`~agentops_otel.store.schema.SQLITE_SCHEMA`
instead, and a current one is only checked (``PRAGMA user_version``): the SDK's embedded store never
pays for these imports in the common case.

Both upgrades run in one transaction that is held for the whole upgrade: on SQLite an immediate
transaction (another process opening the file waits, then finds it current); on PostgreSQL a
transaction that first takes an advisory lock, so several servers starting at once upgrade once.
"""

from __future__ import annotations

import os
from typing import Any

from agentops_otel.store.schema import REVISION, NewerSchema

_SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
#: pg_advisory_xact_lock key held while migrating ("agentops" in ASCII).
_PG_MIGRATION_LOCK = 0x6167656E746F7073


def _config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _SCRIPTS)
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Any) -> None:
    from alembic import command

    command.upgrade(_config(connection), "head")


def upgrade_sqlite(path: str, busy_timeout: float) -> None:
    """Upgrade the SQLite file at ``path`` to :data:`REVISION` (a file of any older release)."""
    import sqlalchemy as sa

    engine = sa.create_engine(
        f"sqlite:///{path}", connect_args={"timeout": busy_timeout}, poolclass=sa.pool.NullPool
    )

    # SQLAlchemy's documented recipe for real SQLite transactions: the driver's own transaction
    # handling off, and an immediate transaction, so no other writer interleaves with the upgrade.
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.begin() as connection:
            _upgrade(connection)
    finally:
        engine.dispose()


def upgrade_postgres(engine: Any, location: str) -> None:
    """Upgrade the PostgreSQL database of ``engine`` (a SQLAlchemy engine) to :data:`REVISION`; raises
    :class:`~agentops_otel.store.connection.NewerSchema` for a database of a newer release."""
    import sqlalchemy as sa

    current = _pg_revision(engine)
    if current == REVISION:
        return
    if current is not None and (not current.isdigit() or int(current) > int(REVISION)):
        raise NewerSchema(
            f"{location} was written by a newer agentops-otel (schema {current}); upgrade to read it"
        )
    with engine.begin() as connection:
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        _upgrade(connection)


def _pg_revision(engine: Any) -> str | None:
    """The database's revision, read without Alembic (whose import costs more than the query)."""
    import sqlalchemy as sa

    with engine.connect() as connection:
        exists = connection.execute(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
        revision = (
            connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            if exists
            else None
        )
        connection.rollback()
    return None if revision is None else str(revision)
