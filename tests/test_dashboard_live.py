"""Live without waste, in Debian's Chromium: a running session updates in the list and in its own view
without a reload, its polls answered 304 while nothing changes (where the server sends ETags); an
ended session is fetched once and never polled (requests counted in the browser)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

from backend_fixtures import create_project
from dashboard_fixtures import (  # noqa: F401  (the fixtures browser, page, world)
    RUNNING_SESSION,
    World,
    browser_fixture,
    cell,
    page_fixture,
    row_of,
    sdk_env,
    sign_in,
    sync_api,
    world_fixture,
)

expect = sync_api.expect
REFRESH_S = 3  # the page's refresh period (session.js REFRESH_MS)


def session_fetches(page: Any, session_id: str) -> int:
    """Requests for the session itself (its spans), not for one span's detail."""
    return sum(1 for url in page.requests_made if urlsplit(url).path == f"/api/sessions/{session_id}")


def test_an_ended_session_is_fetched_once_and_never_polled(world: World, page: Any) -> None:
    session_id = world.ids["support"]
    sign_in(page, world.url, world.key, f"/#/sessions/{session_id}")
    expect(page.get_by_test_id("span-row")).to_have_count(len(world.api["support"]["spans"]))
    page.get_by_test_id("span-row").nth(2).click()  # selecting spans fetches no session again
    expect(page.get_by_test_id("span-detail")).to_be_visible()
    page.wait_for_timeout(int(REFRESH_S * 2.5 * 1000))
    assert session_fetches(page, session_id) == 1
    assert page.locator("#session-status").inner_text() == ""  # no "Running · updated"


def test_a_running_session_updates_then_stops_being_polled(world: World, page: Any) -> None:
    project = create_project(world.db, "live")
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNING_SESSION, world.url, project["api_key"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sdk_env(),
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        session_id = process.stdout.readline().strip()
        assert session_id, process.stderr.read() if process.stderr else ""
        sign_in(page, world.url, project["api_key"])
        row = row_of(page, session_id)
        expect(row.locator(".badge.state")).to_have_text("running")
        assert cell(row, "tool_calls") == "1"

        row.locator("td.name a").click()
        expect(page.locator("#session-status")).to_contain_text("Running")
        # The root has not arrived: a stand-in holds the tree together meanwhile.
        expect(page.get_by_test_id("span-row").first).to_contain_text("(running)")
        page.wait_for_timeout(int(REFRESH_S * 2.5 * 1000))
        assert session_fetches(page, session_id) >= 2  # polled while running
        if world.has("etag"):  # nothing changed meanwhile: the polls were answered 304, no body
            statuses = [s for u, s in page.responses if urlsplit(u).path == f"/api/sessions/{session_id}"]
            assert statuses[0] == 200 and 304 in statuses[1:], statuses

        process.stdin.write("end\n")
        process.stdin.flush()
        assert process.wait(30) == 0, process.stderr.read() if process.stderr else ""
        expect(page.locator("#session-badges .badge.state")).to_have_text("Success", timeout=15_000)
        expect(page.locator("[data-figure=tool_calls] .stat-value")).to_have_text("2")
        expect(page.get_by_test_id("span-row").first).not_to_contain_text("(running)")
        expect(page.locator("#session-status")).to_have_text("")
        ended_at = session_fetches(page, session_id)
        page.wait_for_timeout(int(REFRESH_S * 2.5 * 1000))
        assert session_fetches(page, session_id) == ended_at  # ended: never fetched again

        page.go_back()  # the list shows the end too
        expect(row_of(page, session_id).locator(".badge.state")).to_have_text("Success")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        for stream in (process.stdout, process.stderr, process.stdin):
            if stream is not None:
                stream.close()
