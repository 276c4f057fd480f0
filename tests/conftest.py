"""Shared fixtures.

# -- backend fixtures (tests/test_backend_*.py, test_exporter_*.py, test_cli.py) -------------------
A real ``agentops-otel serve`` subprocess on 127.0.0.1 (free port, temp store), projects made with
the real ``agentops-otel projects create``, and a small HTTP client for the API.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend_fixtures import TEST_MAX_BODY, ApiClient, BackendServer, create_project


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServer]:
    """One ``agentops-otel serve`` for the test run; tests isolate themselves with their own project."""
    db = str(tmp_path_factory.mktemp("backend") / "store.db")
    server = BackendServer(db, None, "--max-body-size", str(TEST_MAX_BODY)).start()
    yield server
    server.stop()


@pytest.fixture
def api(backend: BackendServer) -> ApiClient:
    return ApiClient(backend.url)


@pytest.fixture
def project(backend: BackendServer) -> dict[str, str]:
    """A new project (and API key) in the running backend's store, made by ``projects create``."""
    return create_project(backend.db)
