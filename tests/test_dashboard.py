"""The dashboard's sessions list, sign-in and safety, in Debian's Chromium against the real backend,
with sessions recorded by the real SDK (tests/dashboard_fixtures.py)."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import requests

from backend_fixtures import create_project
from dashboard_fixtures import (  # noqa: F401  (the fixtures browser, page, world)
    LONG_NAME,
    XSS_NAME,
    XSS_TAG,
    Server,
    World,
    browser_fixture,
    cell,
    no_horizontal_overflow,
    page_fixture,
    row_of,
    session_rows,
    shot,
    sign_in,
    sync_api,
    world_fixture,
)

expect = sync_api.expect


def test_serves_the_page_its_modules_and_vendored_libraries_only(world: World) -> None:
    url = world.url
    index = requests.get(url + "/", timeout=10)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in index.headers["content-security-policy"]
    assert "script-src 'self'" in index.headers["content-security-policy"]
    types = {
        "app.js": "text/javascript",
        "format.js": "text/javascript",
        "style.css": "text/css",
        "vendor/uplot/uPlot.iife.min.js": "text/javascript",
        "vendor/uplot/uPlot.min.css": "text/css",
        "vendor/virtual-core/index.js": "text/javascript",
        "vendor/virtual-core/utils.js": "text/javascript",
    }
    for name, content_type in types.items():
        response = requests.get(f"{url}/ui/{name}", timeout=10)
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(content_type), name
        # Revalidated with its ETag: a reload costs a 304.
        again = requests.get(
            f"{url}/ui/{name}", headers={"If-None-Match": response.headers["etag"]}, timeout=10
        )
        assert again.status_code == 304 and again.content == b"", name
    for path in (
        "/ui/../api.py",
        "/ui/..%2Fapi.py",
        "/ui/%2e%2e%2fapi.py",
        "/ui/vendor/../../api.py",
        "/ui/vendor/uplot/LICENSE",  # shipped, not served
        "/ui/format_cases.json",
        "/ui/missing.js",
        "/ui/",
        "/ui/dashboard.py",
    ):
        assert requests.get(url + path, timeout=10).status_code == 404, path
    assert requests.get(url + "/api/sessions", timeout=10).status_code == 401  # the API is still there
    # Each vendored library ships with its licence, inside the package.
    ui = resources.files("agentops_otel.backend").joinpath("ui")
    for library in ("uplot", "virtual-core"):
        licence = ui.joinpath("vendor", library, "LICENSE").read_text()
        assert "MIT" in licence or "Permission is hereby granted" in licence, library


def test_wrong_key_shows_a_clear_error(world: World, page: Any) -> None:
    page.goto(world.url + "/")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Show").click()
    assert page.get_by_label("API key").get_attribute("type") == "text"  # the pasted key can be checked
    page.get_by_role("button", name="Sign in").click()
    error = page.locator("#login-error")
    expect(error).to_contain_text("Unknown API key")
    assert page.locator("#list-view").is_hidden()
    assert page.evaluate("localStorage.length") == 0


def test_lists_sessions_with_figures_and_badges(world: World, page: Any) -> None:
    sign_in(page, world.url, world.key)
    ids, api = world.ids, world.api
    expect(session_rows(page)).to_have_count(len(ids))
    order = [session_rows(page).nth(i).get_attribute("data-session-id") for i in range(len(ids))]
    assert order == [ids[k] for k in ("xss", "long", "support", "batch", "research")]  # newest first

    research = row_of(page, ids["research"])
    assert research.locator("td.name a").inner_text() == "research"
    assert research.locator("code").inner_text() == ids["research"][:8]
    assert research.locator(".badge.state").inner_text() == "Success"
    for column in ("llm_calls", "tool_calls", "errors", "span_count"):
        assert cell(research, column) == str(api["research"][column]), column
    assert cell(research, "total_tokens") == "150"
    assert research.locator(".tag").all_inner_texts() == ["demo", "research"]
    # Costs as the CLI prints them (cli/format.py): a price, a known zero, or "unknown".
    assert cell(row_of(page, ids["support"]), "cost_usd") == "$0.00072"
    assert cell(row_of(page, ids["batch"]), "cost_usd") == "-"  # no LLM call
    assert cell(row_of(page, ids["long"]), "cost_usd") == "unknown"  # a model with no known price
    assert row_of(page, ids["batch"]).locator(".badge.state").inner_text() == "Fail"
    assert row_of(page, ids["xss"]).locator(".badge.state").inner_text() == "Indeterminate"
    shot(page, "list")

    page.reload()  # the token survives a reload
    expect(session_rows(page)).to_have_count(len(ids))


def test_search_finds_a_session_by_id_prefix_name_and_tag_and_keeps_it_in_the_url(
    world: World, page: Any
) -> None:
    ids = world.ids
    sign_in(page, world.url, world.key)
    search = page.get_by_test_id("session-search")
    expect(session_rows(page)).to_have_count(len(ids))

    search.fill(ids["support"][:6])  # an id prefix, as the list and the CLI show ids
    expect(session_rows(page)).to_have_count(1)
    assert session_rows(page).first.get_attribute("data-session-id") == ids["support"]
    page.wait_for_url(re.compile(r"q=" + ids["support"][:6]))

    search.fill(ids["support"].replace("-", "")[:12].upper())  # dashes optional, any case
    expect(session_rows(page)).to_have_count(1)

    search.fill("Customer-Supp")  # part of the name
    expect(session_rows(page)).to_have_count(1)
    assert session_rows(page).first.get_attribute("data-session-id") == ids["support"]
    page.wait_for_url(re.compile(r"q=Customer-Supp"))
    page.reload()  # a reload shows the same list
    expect(session_rows(page)).to_have_count(1)
    assert page.get_by_test_id("session-search").input_value() == "Customer-Supp"

    search = page.get_by_test_id("session-search")
    search.fill("nightly")  # a tag
    expect(session_rows(page)).to_have_count(2)
    assert {session_rows(page).nth(i).get_attribute("data-session-id") for i in range(2)} == {
        ids["batch"],
        ids["long"],
    }
    search.fill("no-such-session")
    expect(page.locator("#list-empty")).to_be_visible()
    expect(session_rows(page)).to_have_count(0)
    expect(page.locator("#pager")).to_be_hidden()


def test_filters_sorting_and_totals_are_kept_in_the_url(world: World, page: Any) -> None:
    ids, api = world.ids, world.api
    sign_in(page, world.url, world.key)
    expect(session_rows(page)).to_have_count(len(ids))

    page.get_by_label("End state").select_option("Fail")
    expect(session_rows(page)).to_have_count(1)
    assert "end_state=Fail" in page.url
    page.get_by_role("button", name="Clear").click()
    expect(session_rows(page)).to_have_count(len(ids))

    # A time range: all were recorded in the last hour; none between two dates of 2001.
    page.get_by_label("Started").select_option("1h")
    page.wait_for_url(re.compile(r"range=1h"))
    expect(session_rows(page)).to_have_count(len(ids))
    page.get_by_label("Started").select_option("custom")
    page.get_by_label("From", exact=True).fill("2001-01-01T00:00")
    page.get_by_label("Until", exact=True).fill("2001-12-31T00:00")
    page.get_by_label("Until", exact=True).dispatch_event("change")
    page.wait_for_url(re.compile(r"until=2001"))
    expect(page.locator("#list-empty")).to_be_visible()
    page.reload()
    expect(page.get_by_label("From", exact=True)).to_have_value("2001-01-01T00:00")
    expect(session_rows(page)).to_have_count(0)
    page.get_by_role("button", name="Clear").click()
    expect(session_rows(page)).to_have_count(len(ids))

    page.get_by_label("Errors ≥").fill("1")
    page.get_by_label("Errors ≥").press("Enter")
    # The API's error counts decide (a Fail root with no other error counts once: SPEC section 5).
    failing = {ids[k] for k in ids if api[k]["errors"] >= 1}
    assert ids["research"] in failing
    expect(session_rows(page)).to_have_count(len(failing))
    assert {r.get_attribute("data-session-id") for r in session_rows(page).all()} == failing
    page.get_by_role("button", name="Clear").click()

    page.get_by_label("Cost from $").fill("0.0001")
    page.get_by_label("Cost from $").press("Enter")
    expect(session_rows(page)).to_have_count(1)  # only the support session cost more
    page.get_by_role("button", name="Clear").click()

    # Sorting by a column, both ways, in the URL.
    page.get_by_role("button", name="Tokens").click()
    page.wait_for_url(re.compile(r"sort=-total_tokens"))
    by_tokens = sorted(ids, key=lambda k: -api[k]["total_tokens"])
    expect(session_rows(page).first).to_have_attribute("data-session-id", ids[by_tokens[0]])
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "descending"
    page.get_by_role("button", name="Tokens").click()
    page.wait_for_url(re.compile(r"sort=total_tokens"))
    expect(session_rows(page).last).to_have_attribute("data-session-id", ids[by_tokens[0]])
    page.get_by_role("button", name="Name").click()
    expect(session_rows(page).first).to_have_attribute("data-session-id", ids["xss"])  # "<" sorts first
    expect(session_rows(page).nth(1)).to_have_attribute("data-session-id", ids["batch"])

    # The whole state in a link: another tab opening it sees the same list.
    link = page.url
    other = page.context.new_page()
    other.goto(link)
    expect(other.get_by_test_id("session-row").first).to_have_attribute("data-session-id", ids["xss"])
    other.close()
    # The total count shows (from the server, or counted here within the newest sessions).
    expect(page.locator("#list-total")).to_have_text(f"({len(ids)})")


def test_pages_through_sessions(world: World, page: Any) -> None:
    ids = world.ids
    sign_in(page, world.url, world.key, "/#/?size=2")
    expect(session_rows(page)).to_have_count(2)
    newer, older = page.get_by_role("button", name="Newer"), page.get_by_role("button", name="Older")
    expect(newer).to_be_disabled()
    older.click()
    expect(session_rows(page)).to_have_count(2)
    older.click()
    expect(session_rows(page)).to_have_count(1)
    assert session_rows(page).first.get_attribute("data-session-id") == ids["research"]
    expect(older).to_be_disabled()
    expect(page.locator("#page-label")).to_contain_text("Page 3")
    page.get_by_role("button", name="First").click()
    expect(session_rows(page)).to_have_count(2)
    expect(newer).to_be_disabled()


def test_messages_stay_until_dismissed(world: World, page: Any) -> None:
    sign_in(page, world.url, world.key, f"/#/sessions/{world.ids['batch']}")
    expect(page.locator("#session-title")).to_have_text("batch")
    page.get_by_role("button", name="Sign out").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text("Signed out.")
    expect(page.locator("#login-view")).to_be_visible()
    page.wait_for_timeout(1500)  # no route change takes it away
    expect(notice).to_be_visible()
    page.get_by_role("button", name="Dismiss").click()
    expect(notice).to_be_hidden()

    # A token the server no longer knows: the message says so, and the URL stays for after sign-in.
    sign_in(page, world.url, world.key, f"/#/sessions/{world.ids['batch']}")
    page.evaluate(
        "localStorage.setItem('agentops_otel.dashboard', JSON.stringify({token: 'gone', project_id: 'x'}))"
    )
    page.reload()
    expect(notice).to_contain_text("no longer valid")
    assert world.ids["batch"] in page.url
    page.wait_for_timeout(1500)
    expect(notice).to_be_visible()
    page.get_by_label("API key").fill(world.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#session-title")).to_have_text("batch")
    expect(notice).to_be_hidden()


def test_markup_in_data_is_shown_as_text(world: World, page: Any) -> None:
    sign_in(page, world.url, world.key)
    row = row_of(page, world.ids["xss"])
    expect(row.locator("td.name a")).to_have_text(XSS_NAME)
    assert row.locator(".tag").all_inner_texts() == [XSS_TAG]
    assert page.locator("#sessions-body img, #sessions-body script").count() == 0
    row.locator("td.name a").click()
    expect(page.locator("#session-title")).to_have_text(XSS_NAME)
    page.get_by_test_id("span-row").first.click()
    page.get_by_role("tab", name="Attributes").click()
    expect(page.locator("#span-attributes")).to_contain_text(XSS_TAG)
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__pwned === undefined")


def test_long_names_truncate_with_a_tooltip_and_never_widen_the_page(world: World, page: Any) -> None:
    sign_in(page, world.url, world.key)
    link = row_of(page, world.ids["long"]).locator("td.name a")
    expect(link).to_have_attribute("title", LONG_NAME)
    box = link.bounding_box()
    assert box is not None and box["height"] < 30  # one line, cut with an ellipsis
    no_horizontal_overflow(page)
    link.click()
    expect(page.locator("#session-title")).to_have_attribute("title", LONG_NAME)
    expect(page.get_by_test_id("span-row")).to_have_count(len(world.api["long"]["spans"]))
    no_horizontal_overflow(page)
    page.get_by_test_id("span-row").first.click()
    expect(page.get_by_test_id("span-detail")).to_be_visible()
    no_horizontal_overflow(page)
    page.set_viewport_size({"width": 390, "height": 800})  # a phone
    no_horizontal_overflow(page)


def test_an_empty_project_says_how_to_fill_it_and_a_lost_server_says_so(world: World, page: Any) -> None:
    project = create_project(world.db, "empty")
    server = Server(world.db).start()  # a second server on the same store, to stop mid-test
    try:
        sign_in(page, server.url, project["api_key"])
        empty = page.locator("#list-empty")
        expect(empty).to_contain_text("No sessions in this project yet")
        expect(empty).to_contain_text("AGENTOPS_API_KEY")
        page.get_by_test_id("session-search").fill("anything")
        expect(empty).to_have_text("No sessions match.")
    finally:
        server.stop()
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator("#list-error")).to_have_text("Cannot reach the backend; retrying.")
    shot(page, "list-server-gone")
