"""Shared fixtures.

# -- backend fixtures (tests/test_backend_*.py, test_exporter_*.py, test_cli.py) -------------------
A real ``agentops-otel serve`` subprocess on 127.0.0.1 (free port, temp store), projects made with
the real ``agentops-otel projects create``, and a small HTTP client for the API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Libraries that reach the network by default, kept on this machine in every test and child process:
# LiteLLM's remote price map, CrewAI's telemetry and tracing, LangSmith, Hugging Face downloads.
for _name, _value in {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGSMITH_TRACING": "false",
    "HF_HUB_OFFLINE": "1",
}.items():
    os.environ.setdefault(_name, _value)

from agentops_otel._internal.client import reset_client  # noqa: E402
from backend_fixtures import TEST_MAX_BODY, ApiClient, BackendServer, create_project  # noqa: E402
from core_helpers import UserSetup  # noqa: E402
from span_fixtures import Recorded, configured, recorded_provider  # noqa: E402
from store_fixtures import any_store, pg_url, store_url  # noqa: E402, F401  (both stores: SQLite, PostgreSQL)


@pytest.fixture(scope="session", autouse=True)
def private_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every store the tests and their child processes open by default lives in a temp folder, never
    in the real ``~/.local/share/agentops-otel`` (the local store, and the spool of undelivered spans)."""
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if previous is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = previous


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


# -- SDK fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def user() -> Iterator[UserSetup]:
    """A user's own TracerProvider with an in-memory exporter; the SDK client is reset afterwards."""
    setup = UserSetup()
    yield setup
    reset_client()
    setup.provider.shutdown()


@pytest.fixture
def rec() -> Iterator[Recorded]:
    """A provider with the core's SessionSpanProcessor that the SDK's tracers record into."""
    yield from recorded_provider()


@pytest.fixture
def default_config() -> Iterator[None]:
    yield from configured()


@pytest.fixture
def capture_on() -> Iterator[None]:
    yield from configured(capture_content=True)
