"""The overview page in Debian's Chromium: its figures equal the API's (``GET /api/overview`` where the
server has it, else the same sums over ``GET /api/sessions``), one uPlot chart per figure, and the
per-tag (and, from the server, per-model) breakdown, costs with the part of unpriced calls shown as
unknown (the recorded world has a call of a model no price table knows, in the "i18n" session)."""

from __future__ import annotations

import time
from typing import Any

import requests

from agentops_otel.cli import format as fmt
from dashboard_fixtures import (  # noqa: F401  (the fixtures browser, page, world)
    World,
    browser_fixture,
    page_fixture,
    shot,
    sign_in,
    sync_api,
    world_fixture,
)

expect = sync_api.expect
KEYS = ("sessions", "failed", "llm_calls", "tool_calls", "total_tokens", "cost_usd", "errors")


def api_overview(world: World, days: int) -> dict[str, Any]:
    """The figures the page must show: the server's /api/overview, or its sums over the sessions."""
    until = time.time()
    answer = requests.get(
        world.url + "/api/overview",
        headers=world.headers,
        params={"since": until - days * 86400, "until": until},
        timeout=30,
    )
    if answer.status_code == 200:
        body: dict[str, Any] = answer.json()
        return body
    sessions = world.get("/api/sessions", limit=1000)["sessions"]
    totals = {key: 0.0 for key in KEYS}
    by_tag: dict[str, dict[str, Any]] = {}
    for s in sessions:  # (no unpriced counts: a server without /api/overview shows the sums alone)
        totals["sessions"] += 1
        totals["failed"] += s["end_state"] == "Fail"
        for key in KEYS[2:]:
            totals[key] += s[key]
        for tag in s["tags"]:
            row = by_tag.setdefault(tag, {"tag": tag, "sessions": 0, "cost_usd": 0.0})
            row["sessions"] += 1
            row["cost_usd"] += s["cost_usd"]
    return {
        "totals": totals,
        "by_tag": list(by_tag.values()),
        "by_model": None,
    }


def cost_of(row: dict[str, Any]) -> str:
    """A cost as the page shows it: with "+ unknown" where the server counts unpriced calls."""
    return fmt.session_cost(row) if "unpriced_llm_calls" in row else fmt.cost(row["cost_usd"])


def figure(page: Any, key: str) -> str:
    return str(page.locator(f'#overview-totals [data-figure="{key}"] .stat-value').inner_text())


def test_the_overview_shows_the_apis_figures_as_charts(world: World, page: Any) -> None:
    sign_in(page, world.url, world.key)
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#overview-totals [data-figure]")).to_have_count(7)
    expected = api_overview(world, 7)
    totals = expected["totals"]
    assert totals["sessions"] >= len(world.ids)
    assert figure(page, "sessions") == fmt.count(totals["sessions"])
    assert figure(page, "llm_calls") == fmt.count(totals["llm_calls"])
    assert figure(page, "tool_calls") == fmt.count(totals["tool_calls"])
    assert figure(page, "total_tokens") == fmt.tokens(totals["total_tokens"])
    assert figure(page, "cost_usd") == cost_of(totals)
    if "unpriced_llm_calls" in totals:  # the server's overview: a priced part and an unpriced call
        assert totals["unpriced_llm_calls"] >= 1 and figure(page, "cost_usd").endswith(" + unknown")
    assert figure(page, "errors") == fmt.count(totals["errors"])
    assert figure(page, "failed").startswith(fmt.count(totals["failed"]) + " · ")

    charts = page.get_by_test_id("overview-chart")
    expect(charts).to_have_count(5)
    assert [c.get_attribute("data-chart") for c in charts.all()] == [
        "sessions",
        "cost_usd",
        "total_tokens",
        "llm_calls",
        "fail_rate",
    ]
    for chart in charts.all():
        canvas = chart.locator("canvas")
        expect(canvas).to_have_count(1)
        box = canvas.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
    # uPlot drew the bars: the sessions chart's canvas is not blank.
    painted = charts.first.locator("canvas").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
    )
    assert painted > 500

    rows = page.locator("#by-tag tbody tr")
    assert {r.get_attribute("data-tag"): int(r.locator("td").first.inner_text()) for r in rows.all()} == {
        t["tag"]: t["sessions"] for t in expected["by_tag"]
    }
    shown = {r.get_attribute("data-tag"): r.locator("td").last.inner_text() for r in rows.all()}
    assert shown == {t["tag"]: cost_of(t) for t in expected["by_tag"]}
    if expected.get("by_model") is not None:  # the server's overview: each tag's unpriced calls
        i18n = next(t for t in expected["by_tag"] if t["tag"] == "i18n")
        assert i18n["unpriced_llm_calls"] == i18n["llm_calls"] == 1 and shown["i18n"] == "unknown"
        support = next(t for t in expected["by_tag"] if t["tag"] == "support")
        assert support["unpriced_llm_calls"] == 0 and shown["support"] == fmt.cost(support["cost_usd"])
    if expected.get("by_model") is not None:
        models = page.locator("#by-model tbody tr")
        assert {m.get_attribute("data-model") for m in models.all()} == {
            m["model"] for m in expected["by_model"]
        }
    else:
        expect(page.locator("#by-model")).to_contain_text("does not break figures down by model")
    shot(page, "overview", full_page=True)

    # The period and the tag are in the URL; a tag link leads to its sessions.
    page.get_by_label("Period").select_option("30d")
    page.wait_for_url("**/#/overview?range=30d")
    expect(page.locator("#overview-range")).to_have_value("30d")
    page.locator('#by-tag tr[data-tag="support"] a').click()
    expect(page.get_by_test_id("session-row")).to_have_count(1)
    assert page.get_by_test_id("session-row").first.get_attribute("data-session-id") == world.ids["support"]
