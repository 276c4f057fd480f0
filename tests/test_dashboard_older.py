"""The dashboard on a server older than the newer API (notes/api_v2), in Debian's Chromium: the real
backend's answers cut down, in the browser's network layer, to what SPEC.md section 5 promises an older
server (``{"sessions": [...]}`` without totals or cursors, filters ``tag``/``end_state``/``limit``/
``offset`` only, no ``models``, all spans at once, no ETag, 404 for the newer routes). The page then
searches, sorts and sums itself and says what it cannot do."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from dashboard_fixtures import (  # noqa: F401  (the fixtures browser, page, world)
    World,
    browser_fixture,
    page_fixture,
    session_rows,
    sign_in,
    sync_api,
    world_fixture,
)

expect = sync_api.expect
OLD_LIST_PARAMS = {"tag", "end_state", "limit", "offset"}
NEWER_SESSION_KEYS = {"models", "unpriced_llm_calls", "trace_id"}


def as_older_server(page: Any) -> list[str]:
    """Routes the page's API calls through the cut; returns the paths answered 404 as an older server."""
    refused: list[str] = []

    def cut(route: Any) -> None:
        parts = urlsplit(route.request.url)
        path = parts.path
        if path == "/api/overview" or (path.startswith("/api/sessions/") and "/spans/" in path):
            refused.append(path)
            route.fulfill(status=404, json={"error": "not found"})
            return
        if path.startswith("/api/sessions"):
            kept = [(k, v) for k, v in parse_qsl(parts.query) if k in OLD_LIST_PARAMS]
            url = parts._replace(query=urlencode(kept)).geturl()
            answer = route.fetch(
                url=url, headers={k: v for k, v in route.request.headers.items() if k != "if-none-match"}
            )
            body = answer.json()
            for key in ("total", "next_cursor", "spans_next_cursor"):
                body.pop(key, None)
            for s in body.get("sessions", [body]):
                for key in NEWER_SESSION_KEYS:
                    s.pop(key, None)
            route.fulfill(status=answer.status, body=json.dumps(body), content_type="application/json")
            return
        route.fallback()

    page.route("**/api/**", cut)
    return refused


def test_an_older_server_gets_the_page_searching_and_summing_itself(world: World, page: Any) -> None:
    refused = as_older_server(page)
    sign_in(page, world.url, world.key)
    expect(session_rows(page)).to_have_count(len(world.ids))
    expect(page.locator("#list-total")).to_have_text("")  # an older server gives no total

    # Search by name and id prefix, done here; a search in content says why it finds nothing.
    search = page.get_by_test_id("session-search")
    search.fill("customer")
    expect(session_rows(page)).to_have_count(1)
    assert session_rows(page).first.get_attribute("data-session-id") == world.ids["support"]
    search.fill(world.ids["batch"][:8].upper())
    expect(session_rows(page)).to_have_count(1)
    search.fill("arrives on Friday")
    expect(page.locator("#list-empty")).to_have_text("No sessions match.")
    expect(page.locator("#list-note")).to_contain_text("not what was said")
    page.get_by_role("button", name="Clear").click()

    # Sorting, done here too.
    page.get_by_role("button", name="Tokens").click()
    by_tokens = max(world.ids, key=lambda k: world.api[k]["total_tokens"])
    expect(session_rows(page).first).to_have_attribute("data-session-id", world.ids[by_tokens])

    # A session and its detail: every span at once, no span route (asked once, then not again).
    page.goto(f"{world.url}/#/sessions/{world.ids['support']}")
    expect(page.get_by_test_id("span-row")).to_have_count(len(world.api["support"]["spans"]))
    page.locator('[data-testid="span-row"][data-kind="llm"]').last.click()
    expect(page.get_by_test_id("chat-message").first).to_be_visible()
    page.locator('[data-testid="span-row"][data-kind="tool"]').first.click()
    expect(page.locator(".tool-io")).to_be_visible()
    assert sum("/spans/" in p for p in refused) == 1, refused

    # The overview, summed here from the sessions, says so and has no per-model breakdown.
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#overview-note")).to_contain_text("This server has no /api/overview")
    sessions = world.get("/api/sessions", limit=1000)["sessions"]
    figure = page.locator('#overview-totals [data-figure="sessions"] .stat-value')
    expect(figure).to_have_text(str(len(sessions)))
    expect(page.locator("#by-model")).to_contain_text("does not break figures down by model")
    assert "/api/overview" in refused
