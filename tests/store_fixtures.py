"""Fixtures that run one test against both stores: a SQLite file and a real PostgreSQL database.

``conftest.py`` imports them for every test module. The PostgreSQL cases skip, with the reason, where no
PostgreSQL can be started (``pg_cluster.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentops_otel.store import open_store
from agentops_otel.store.base import BaseStore
from pg_cluster import PostgresCluster, shared_cluster

STORES = ["sqlite", "postgresql"]


def postgres_or_skip() -> PostgresCluster:
    cluster, why = shared_cluster()
    if cluster is None:
        pytest.skip(f"no PostgreSQL for this test: {why}")
    return cluster


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store's location: a SQLite file path, or the URL of a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return postgres_or_skip().new_database()


@pytest.fixture
def any_store(store_url: str) -> Iterator[BaseStore]:
    """A new store of each kind, opened in this process."""
    store = open_store(store_url)
    yield store
    store.close()


@pytest.fixture
def pg_url() -> str:
    """The URL of a new PostgreSQL database (skips without PostgreSQL)."""
    return postgres_or_skip().new_database()
