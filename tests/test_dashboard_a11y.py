"""Accessibility of each page, checked by axe-core (a pinned copy vendored for the tests only, under
tests/vendor/axe-core/ with its licence) in Debian's Chromium, in the light and the dark theme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard_fixtures import World, browser_fixture, page_fixture, sign_in, sync_api, world_fixture  # noqa: F401

expect = sync_api.expect
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# WCAG 2.x A and AA (contrast is 1.4.3, AA), plus axe's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def audit(page: Any) -> list[str]:
    """The violations axe finds on the page as it is, one line each."""
    page.evaluate(AXE.read_text() + "\n;0")  # through the DevTools protocol: the page's CSP stays on
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations", TAGS
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in found
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violation_on_any_page(world: World, page: Any, scheme: str) -> None:
    assert AXE.is_file(), "tests/vendor/axe-core/axe.min.js is missing"
    page.emulate_media(color_scheme=scheme)
    page.goto(world.url + "/")
    expect(page.locator("#login-view")).to_be_visible()
    problems = {"sign-in": audit(page)}

    sign_in(page, world.url, world.key)
    expect(page.get_by_test_id("session-row")).to_have_count(len(world.ids))
    problems["list"] = audit(page)

    page.goto(f"{world.url}/#/sessions/{world.ids['support']}")
    expect(page.get_by_test_id("span-row")).to_have_count(len(world.api["support"]["spans"]))
    page.locator('[data-testid="span-row"][data-kind="llm"]').last.click()
    expect(page.get_by_test_id("chat-message").first).to_be_visible()
    page.locator("#session-more summary").click()  # the folded fields too
    problems["session"] = audit(page)

    page.goto(f"{world.url}/#/sessions/{world.ids['research']}")
    page.get_by_role("button", name="First error").click()
    expect(page.get_by_test_id("span-detail")).to_be_visible()
    problems["session with an error"] = audit(page)

    page.goto(f"{world.url}/#/overview")
    expect(page.get_by_test_id("overview-chart")).to_have_count(5)
    problems["overview"] = audit(page)
    assert {k: v for k, v in problems.items() if v} == {}
