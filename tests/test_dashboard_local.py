"""The local project in the dashboard, in Debian's Chromium: ``agentops-otel serve`` (a real process) on
127.0.0.1 over the default store opens the sessions a script recorded without a key, says so in the
header, and opens them again after a sign-out and a reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentops_otel._config import default_db_path
from backend_fixtures import BackendServer
from core_helpers import run_script
from dashboard_fixtures import browser_fixture, page_fixture, sync_api  # noqa: F401  (the fixtures browser, page)

expect = sync_api.expect

RECORD = """
import agentops_otel as agentops
sid = agentops.init(tags=["local-dashboard"])  # no endpoint, no key: the local store
agentops.record(agentops.ToolEvent(name="lookup"))
agentops.end_session("Success")
print(sid)
"""


@pytest.fixture(scope="module")
def local_server() -> Iterator[BackendServer]:
    """``serve`` on the default store (under the test run's XDG_DATA_HOME)."""
    server = BackendServer(default_db_path()).start()
    yield server
    server.stop()


def test_the_dashboard_opens_the_local_project_without_a_key(
    local_server: BackendServer, page: Any, tmp_path: Path
) -> None:
    recorded = run_script(RECORD, tmp_path)
    assert recorded.returncode == 0, recorded.stderr
    session_id = recorded.stdout.strip()
    page.goto(f"{local_server.url}/#/sessions/{session_id}")
    expect(page.locator("#session-view")).to_be_visible()
    expect(page.locator("#login-view")).to_be_hidden()
    expect(page.get_by_test_id("span-row")).to_have_count(2)  # the root and the tool
    # The header says which project this is, and why no key was asked for.
    label = page.locator("#project-label .badge.local")
    expect(label).to_have_text("local")
    assert "no API key" in (label.get_attribute("title") or "")
    # Sign out leaves the local project, with a message that stays; a reload opens it again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#notice")).to_contain_text("Signed out.")
    expect(page.locator("#login-view")).to_be_visible()
    page.reload()
    expect(page.locator(f'[data-testid="session-row"][data-session-id="{session_id}"]')).to_be_visible()
    expect(page.locator("#project-label .badge.local")).to_be_visible()
