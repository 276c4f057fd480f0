"""A 5,001-span session recorded by the real SDK, in Debian's Chromium: drawn windowed (a few dozen
rows in the DOM) in several short tasks, and a click deep in the tree shows the detail beside it
without moving the page. The long tasks (Chromium's Long Tasks API; the issue's bound is 200 ms) are
measured and reported in ``test-artifacts/dashboard/big-session.json``, not asserted: a shared 2-core
machine would make a timed assert flaky."""

from __future__ import annotations

from typing import Any

from dashboard_fixtures import (  # noqa: F401  (the fixtures browser, page, world)
    World,
    browser_fixture,
    long_tasks,
    page_fixture,
    report_figures,
    shot,
    sign_in,
    sync_api,
    world_fixture,
)

expect = sync_api.expect
SPANS = 5001


def test_a_5000_span_session_renders_windowed_without_long_tasks(world: World, page: Any) -> None:
    session_id, key = world.big_session()
    sign_in(page, world.url, key)
    page.evaluate("window.__longTasks = []")
    page.goto(f"{world.url}/#/sessions/{session_id}")
    expect(page.locator("#span-count")).to_have_text(f"({SPANS:,})", timeout=30_000)
    page.wait_for_timeout(500)  # the frames after the first draw
    tasks = long_tasks(page)
    drawn = page.get_by_test_id("span-row").count()
    nodes = page.evaluate("document.getElementsByTagName('*').length")
    report_figures(
        "big-session",
        {
            "spans": SPANS,
            "rows_drawn": drawn,
            "dom_nodes": nodes,
            "long_tasks_ms": [round(t) for t in tasks],
            "longest_task_ms": round(max(tasks, default=0)),
            "bound_ms": 200,
        },
    )
    assert 20 <= drawn <= 120, drawn  # windowed: what the view shows, plus a margin
    assert nodes < 3000

    # Deep in the tree: "First error" scrolls to the failed step of agent 37 and opens it beside.
    before = page.evaluate("window.scrollY")
    page.get_by_role("button", name="First error").click()
    detail = page.get_by_test_id("span-detail")
    expect(detail).to_be_visible()
    expect(page.locator("#span-fields")).to_contain_text("step 3737 broke")
    selected = page.locator('[data-testid="span-row"][aria-selected="true"]')
    expect(selected).to_be_in_viewport()
    assert page.evaluate("window.scrollY") == before
    box = detail.bounding_box()
    assert box is not None and 0 <= box["y"] < 900

    # Scrolling the tree to its end draws the last rows; clicking one keeps the page where it is.
    page.locator("#span-scroll").evaluate("e => { e.scrollTop = e.scrollHeight; }")
    last = page.locator('[data-testid="span-row"]').last
    expect(last).to_be_in_viewport()
    last.click()
    expect(page.locator("#span-detail-title")).to_contain_text("step")
    assert page.evaluate("window.scrollY") == before
    assert page.get_by_test_id("span-row").count() <= 120
    shot(page, "big-session")

    # Collapsing the agents leaves the root and its 50 workers.
    page.get_by_role("button", name="Collapse").click()
    expect(page.locator("#span-count")).to_have_text(f"(51 of {SPANS:,} shown)")
