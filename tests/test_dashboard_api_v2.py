"""The parts of the dashboard that use the newer REST API (notes/api_v2: search in content, the model
filter, ETags, span pages, one span's detail), in Debian's Chromium. Each test skips, saying so, on a
server that does not have its part yet; the page then works without it (tests/test_dashboard*.py)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dashboard_fixtures import (  # noqa: F401  (the fixtures browser, page, world)
    World,
    browser_fixture,
    long_tasks,
    page_fixture,
    report_figures,
    session_rows,
    sign_in,
    sync_api,
    world_fixture,
)

expect = sync_api.expect


def need(world: World, feature: str) -> None:
    if not world.has(feature):
        pytest.skip(f"this server has no '{feature}' part of the newer API (notes/api_v2.md) yet")


def test_search_finds_text_in_stored_content_and_filters_by_model(world: World, page: Any) -> None:
    need(world, "list")
    sign_in(page, world.url, world.key)
    search = page.get_by_test_id("session-search")
    search.fill("arrives on Friday")  # only in the support session's completion
    expect(session_rows(page)).to_have_count(1)
    assert session_rows(page).first.get_attribute("data-session-id") == world.ids["support"]
    page.get_by_role("button", name="Clear").click()
    model = page.get_by_label("Model", exact=True)  # not the overview's "By model" section
    model.fill("my-local-llama")
    model.press("Enter")
    expect(session_rows(page)).to_have_count(1)
    assert session_rows(page).first.get_attribute("data-session-id") == world.ids["long"]
    expect(page.locator("#list-note")).to_be_hidden()  # the server did it: no "filtered here" note


def test_an_ended_session_opened_again_is_answered_304(world: World, page: Any) -> None:
    need(world, "etag")
    sid = world.ids["support"]
    sign_in(page, world.url, world.key, f"/#/sessions/{sid}")
    expect(page.get_by_test_id("span-row").first).to_be_visible()
    page.get_by_role("link", name="All sessions").click()
    expect(session_rows(page).first).to_be_visible()
    page.go_back()
    expect(page.get_by_test_id("span-row").first).to_be_visible()
    statuses = [status for url, status in page.responses if urlsplit(url).path == f"/api/sessions/{sid}"]
    assert statuses == [200, 304], statuses


def test_a_big_session_arrives_in_pages(world: World, page: Any) -> None:
    need(world, "pages")
    sid, key = world.big_session()
    sign_in(page, world.url, key)
    page.evaluate("window.__longTasks = []")
    page.goto(f"{world.url}/#/sessions/{sid}")
    expect(page.locator("#span-count")).to_have_text("(5,001)", timeout=30_000)
    pages = [u for u in page.requests_made if urlsplit(u).path == f"/api/sessions/{sid}"]
    cursors = [parse_qs(urlsplit(u).query).get("spans_cursor") for u in pages]
    assert len(pages) >= 3 and cursors[0] is None and all(cursors[1:]), pages
    expect(page.locator("#span-loading")).to_be_hidden()
    page.wait_for_timeout(300)
    tasks = long_tasks(page)  # measured and reported, not asserted (see test_dashboard_big.py)
    report_figures(
        "big-session-pages",
        {
            "pages": len(pages),
            "long_tasks_ms": [round(t) for t in tasks],
            "longest_task_ms": round(max(tasks, default=0)),
        },
    )


def test_the_detail_shows_the_whole_span_from_the_server(world: World, page: Any) -> None:
    need(world, "span")
    sid = world.ids["support"]
    sign_in(page, world.url, world.key, f"/#/sessions/{sid}")
    llm = page.locator('[data-testid="span-row"][data-kind="llm"]').last
    llm.click()
    span_id = llm.get_attribute("data-span-id")
    expect(page.get_by_test_id("chat-message").first).to_be_visible()
    fetched = [
        s for u, s in page.responses if re.search(rf"/api/sessions/{sid}/spans/{span_id}$", urlsplit(u).path)
    ]
    assert fetched == [200]
    page.get_by_role("tab", name="Attributes").click()
    expect(page.locator('#span-attributes tr[data-attribute="gen_ai.output.messages"]')).to_be_visible()
