"""The dashboard in a real headless Chromium (Playwright) against a real backend on 127.0.0.1, with
sessions recorded by the real SDK in child processes.

Needs a Chromium executable (Debian: ``apt-get install chromium``); Playwright's own browser downloads
are never used. Without one, the module is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend_fixtures import create_project, free_port

sync_api = pytest.importorskip(
    "playwright.sync_api", reason='needs playwright: pip install "playwright>=1.40"'
)


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = _chromium()
if CHROMIUM is None:
    pytest.skip("no chromium executable (Debian: apt-get install chromium)", allow_module_level=True)

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS_NAME = "<img src=x onerror=\"window.__pwned='name'\">"
XSS_TAG = "<script>window.__pwned='tag'</script>"

# Three sessions, oldest first: a Success with an agent, tools, an LLM call and an error; a Fail with
# a tag; an Indeterminate whose name and tag are markup.
RECORD_SESSIONS = textwrap.dedent(
    """
    import json, sys, time
    import agentops_otel
    from agentops_otel import ErrorEvent, LLMEvent, record

    url, key, xss_name, xss_tag = sys.argv[1:5]
    agentops_otel.init(api_key=key, endpoint=url, auto_start_session=False)

    @agentops_otel.tool
    def search(query):
        time.sleep(0.01)
        return [query]

    @agentops_otel.tool(name="fetch_page")
    def fetch(url):
        raise ConnectionError("could not fetch " + url)

    @agentops_otel.agent(name="researcher")
    def research(topic):
        record(LLMEvent(model="gpt-4o-mini", prompt_tokens=120, completion_tokens=30))
        search(topic)
        search(topic + " more")
        try:
            fetch("http://127.0.0.1:9/paper")
        except ConnectionError as exc:
            record(ErrorEvent(exception=exc, details="skipped a page"))

    ids = {}
    ids["research"] = agentops_otel.start_session(tags=["demo", "research"], name="research")
    research("solar sails")
    agentops_otel.end_session("Success", "all good")
    ids["batch"] = agentops_otel.start_session(tags=["nightly"], name="batch")
    search("one")
    agentops_otel.end_session("Fail", "the batch broke")
    ids["xss"] = agentops_otel.start_session(tags=[xss_tag], name=xss_name)
    agentops_otel.end_session("Indeterminate")
    assert agentops_otel.get_client().flush(10)
    print(json.dumps(ids))
    """
)

# A session that stays open until a line arrives on stdin.
RUNNING_SESSION = textwrap.dedent(
    """
    import sys
    import agentops_otel

    url, key = sys.argv[1:3]
    agentops_otel.init(api_key=key, endpoint=url, auto_start_session=False)

    @agentops_otel.tool
    def step(n):
        return n

    session_id = agentops_otel.start_session(tags=["live"], name="live")
    step(1)
    assert agentops_otel.get_client().flush(10)
    print(session_id, flush=True)
    sys.stdin.readline()
    step(2)
    agentops_otel.end_session("Success", "finished")
    assert agentops_otel.get_client().flush(10)
    """
)


class Server:
    """The backend app with the dashboard's routes, on uvicorn in a thread."""

    def __init__(self, db: str) -> None:
        import uvicorn

        from agentops_otel.backend.api import create_app
        from agentops_otel.backend.dashboard import routes

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(db, extra_routes=routes())
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="dashboard-backend", daemon=True)

    def start(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the backend did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _run_script(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60, env=_sdk_env()
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _sdk_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    return env


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running backend, a project with the three recorded sessions, and their API view."""
    db = str(tmp_path_factory.mktemp("dashboard") / "store.db")
    project = create_project(db, "dashboard")
    server = Server(db).start()
    try:
        ids = json.loads(_run_script(RECORD_SESSIONS, server.url, project["api_key"], XSS_NAME, XSS_TAG))
        headers = {"Authorization": f"Bearer {project['api_key']}"}
        api = {
            name: requests.get(f"{server.url}/api/sessions/{sid}", headers=headers, timeout=10).json()
            for name, sid in ids.items()
        }
        yield {"server": server, "db": db, "key": project["api_key"], "ids": ids, "api": api}
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (empty localStorage) whose page fails the test on a script error."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    # Nothing but the backend: any other request is refused and recorded.
    outside: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(("http://127.0.0.1:", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert errors == [], f"script errors in the page: {errors}"
    assert dialogs == [], f"the page opened dialogs: {dialogs}"
    assert outside == [], f"the page fetched from outside the backend: {outside}"


def sign_in(page: Any, url: str, key: str, path: str = "/") -> None:
    page.goto(url + path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.locator("#login-view")).to_be_hidden()


def rows(page: Any) -> Any:
    return page.locator("#sessions-body tr")


def row_of(page: Any, session_id: str) -> Any:
    return page.locator(f'#sessions-body tr[data-session-id="{session_id}"]')


def cell(row: Any, column: str) -> str:
    return str(row.locator(f'td[data-col="{column}"]').inner_text()).strip()


# -- tests ---------------------------------------------------------------------------------------------


def test_serves_the_page_and_its_assets_only(world: dict[str, Any]) -> None:
    url = world["server"].url
    index = requests.get(url + "/", timeout=10)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in index.headers["content-security-policy"]
    types = {
        "app.js": "text/javascript",
        "style.css": "text/css",
        "index.html": "text/html",
    }
    for name, content_type in types.items():
        response = requests.get(f"{url}/ui/{name}", timeout=10)
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(content_type), name
    for path in (
        "/ui/../api.py",
        "/ui/..%2Fapi.py",
        "/ui/%2e%2e%2fapi.py",
        "/ui/missing.js",
        "/ui/",
        "/ui/dashboard.py",
    ):
        assert requests.get(url + path, timeout=10).status_code == 404, path
    # The API is still there under the dashboard.
    assert requests.get(url + "/api/sessions", timeout=10).status_code == 401


def test_wrong_key_shows_a_clear_error(world: dict[str, Any], page: Any) -> None:
    page.goto(world["server"].url + "/")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator("#login-error")
    sync_api.expect(error).to_be_visible()
    sync_api.expect(error).to_contain_text("Unknown API key")
    assert page.locator("#list-view").is_hidden()
    assert page.evaluate("localStorage.length") == 0


def test_lists_sessions_with_figures_and_badges(world: dict[str, Any], page: Any) -> None:
    sign_in(page, world["server"].url, world["key"])
    ids, api = world["ids"], world["api"]
    sync_api.expect(rows(page)).to_have_count(3)
    # Newest first.
    order = [rows(page).nth(i).get_attribute("data-session-id") for i in range(3)]
    assert order == [ids["xss"], ids["batch"], ids["research"]]

    research = row_of(page, ids["research"])
    assert research.locator("td.name a").inner_text() == "research"
    assert research.locator("code").inner_text() == ids["research"][:8]
    assert research.locator(".badge.state").inner_text() == "Success"
    assert "state-success" in (research.locator(".badge.state").get_attribute("class") or "")
    assert cell(research, "llm_calls") == "1" == str(api["research"]["llm_calls"])
    assert cell(research, "tool_calls") == "3" == str(api["research"]["tool_calls"])
    assert cell(research, "errors") == "2" == str(api["research"]["errors"])
    assert cell(research, "total_tokens") == "150" == str(api["research"]["total_tokens"])
    cost = api["research"]["cost_usd"]
    assert cost > 0
    assert cell(research, "cost_usd") not in ("$0", "—")
    assert float(cell(research, "cost_usd").lstrip("$")) == pytest.approx(cost, rel=0.05)
    assert research.locator(".tag").all_inner_texts() == ["demo", "research"]

    batch = row_of(page, ids["batch"])
    assert batch.locator(".badge.state").inner_text() == "Fail"
    assert "state-fail" in (batch.locator(".badge.state").get_attribute("class") or "")
    assert cell(batch, "tool_calls") == "1" and cell(batch, "errors") == "0"
    assert cell(batch, "cost_usd") == "$0"
    assert batch.locator(".tag").all_inner_texts() == ["nightly"]
    assert row_of(page, ids["xss"]).locator(".badge.state").inner_text() == "Indeterminate"

    # The token survives a reload; signing out forgets it.
    page.reload()
    sync_api.expect(rows(page)).to_have_count(3)
    page.get_by_role("button", name="Sign out").click()
    sync_api.expect(page.locator("#login-view")).to_be_visible()
    assert page.evaluate("localStorage.length") == 0


def test_filters_by_end_state_and_tag(world: dict[str, Any], page: Any) -> None:
    ids = world["ids"]
    sign_in(page, world["server"].url, world["key"])
    sync_api.expect(rows(page)).to_have_count(3)

    page.get_by_label("End state").select_option("Fail")
    sync_api.expect(rows(page)).to_have_count(1)
    assert rows(page).first.get_attribute("data-session-id") == ids["batch"]
    assert "end_state=Fail" in page.url

    page.get_by_label("End state").select_option("")
    page.get_by_label("Tag", exact=True).fill("demo")
    page.get_by_role("button", name="Apply").click()
    sync_api.expect(rows(page)).to_have_count(1)
    assert rows(page).first.get_attribute("data-session-id") == ids["research"]

    # Both filters at once: no session is tagged demo and failed.
    page.get_by_label("End state").select_option("Fail")
    sync_api.expect(page.locator("#list-empty")).to_be_visible()
    sync_api.expect(rows(page)).to_have_count(0)

    page.get_by_role("button", name="Clear").click()
    sync_api.expect(rows(page)).to_have_count(3)

    # A tag chip filters by its tag.
    row_of(page, ids["batch"]).get_by_role("button", name="nightly").click()
    sync_api.expect(rows(page)).to_have_count(1)
    assert page.get_by_label("Tag", exact=True).input_value() == "nightly"


def test_pages_through_sessions(world: dict[str, Any], page: Any) -> None:
    ids = world["ids"]
    sign_in(page, world["server"].url, world["key"], "/#/?size=2")
    sync_api.expect(rows(page)).to_have_count(2)
    newer, older = page.get_by_role("button", name="Newer"), page.get_by_role("button", name="Older")
    sync_api.expect(newer).to_be_disabled()
    older.click()
    sync_api.expect(rows(page)).to_have_count(1)
    assert rows(page).first.get_attribute("data-session-id") == ids["research"]
    sync_api.expect(older).to_be_disabled()
    sync_api.expect(page.locator("#page-label")).to_have_text("Page 2")
    newer.click()
    sync_api.expect(rows(page)).to_have_count(2)


def test_session_view_shows_fields_span_tree_and_attributes(world: dict[str, Any], page: Any) -> None:
    ids, api = world["ids"], world["api"]["research"]
    sign_in(page, world["server"].url, world["key"])
    row_of(page, ids["research"]).get_by_role("link", name="research").click()
    page.wait_for_url(re.compile(rf"#/sessions/{ids['research']}$"))
    sync_api.expect(page.locator("#session-title")).to_have_text("research")

    fields = page.locator("#session-fields")
    sync_api.expect(fields).to_contain_text(ids["research"])
    sync_api.expect(fields).to_contain_text("all good")
    assert fields.locator(".tag").all_inner_texts() == ["demo", "research"]
    assert page.locator("#session-badges .badge.state").inner_text() == "Success"
    host = page.locator("#host-fields")
    for key, value in api["host_env"].items():
        if isinstance(value, str):
            sync_api.expect(host).to_contain_text(key)
            sync_api.expect(host).to_contain_text(value)

    # The tree: one row per span of the API's answer, with its name and kind; children deeper.
    span_rows = page.locator("#span-tree .span-row")
    sync_api.expect(span_rows).to_have_count(len(api["spans"]))
    shown = {
        span_rows.nth(i).get_attribute("data-span-id"): (
            span_rows.nth(i).locator(".span-name").inner_text(),
            span_rows.nth(i).locator(".badge.kind").inner_text(),
        )
        for i in range(span_rows.count())
    }
    assert shown == {s["span_id"]: (s["name"], s["kind"]) for s in api["spans"]}
    kinds = sorted(kind for _, kind in shown.values())
    assert kinds == ["agent", "error", "llm", "session", "tool", "tool", "tool"]
    root = next(s for s in api["spans"] if s["parent_span_id"] is None)
    assert span_rows.first.get_attribute("data-span-id") == root["span_id"]  # the root leads

    def depth(span_id: str) -> int:
        label = page.locator(f'#span-tree .span-row[data-span-id="{span_id}"] .span-label')
        return int(label.evaluate("e => getComputedStyle(e).getPropertyValue('--depth') || '0'"))

    agent = next(s for s in api["spans"] if s["kind"] == "agent")
    tools = [s for s in api["spans"] if s["kind"] == "tool"]
    assert depth(root["span_id"]) == 0 and depth(agent["span_id"]) == 1
    assert all(depth(t["span_id"]) == 2 for t in tools)
    failed = page.locator('#span-tree .span-row[data-kind="tool"]', has_text="fetch_page")
    assert failed.locator(".status").inner_text() == "ERROR"

    # Clicking a span shows its attributes; the keyboard moves between spans.
    failed.click()
    detail = page.locator("#span-detail")
    sync_api.expect(detail).to_be_visible()
    sync_api.expect(page.locator("#span-detail-title")).to_contain_text("fetch_page")
    assert failed.get_attribute("aria-pressed") == "true"
    attrs = page.locator("#span-attributes")
    sync_api.expect(attrs.locator('tr[data-attribute="gen_ai.tool.name"] td')).to_have_text("fetch_page")
    sync_api.expect(attrs.locator('tr[data-attribute="agentops.span.kind"] td')).to_have_text("tool")
    sync_api.expect(attrs.locator('tr[data-attribute="error.type"]')).to_have_count(1)
    sync_api.expect(page.locator("#span-fields")).to_contain_text("could not fetch")
    sync_api.expect(page.locator("#span-events")).to_contain_text("exception")

    failed.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    focused = page.evaluate("document.activeElement.closest('#span-detail') !== null")
    assert focused  # Enter selected the next span and moved focus to its details
    next_id = page.locator('#span-tree .span-row[aria-pressed="true"]').get_attribute("data-span-id")
    assert next_id != failed.get_attribute("data-span-id")
    assert next_id in shown

    # A deep link opens the session directly; an unknown id says so.
    page.goto(f"{world['server'].url}/#/sessions/{ids['batch']}")
    sync_api.expect(page.locator("#session-title")).to_have_text("batch")
    sync_api.expect(page.locator("#session-fields")).to_contain_text("the batch broke")
    page.goto(f"{world['server'].url}/#/sessions/00000000-0000-4000-8000-000000000000")
    sync_api.expect(page.locator("#session-error")).to_contain_text("No session")


def test_markup_in_data_is_shown_as_text(world: dict[str, Any], page: Any) -> None:
    ids = world["ids"]
    sign_in(page, world["server"].url, world["key"])
    row = row_of(page, ids["xss"])
    sync_api.expect(row.locator("td.name a")).to_have_text(XSS_NAME)
    assert row.locator(".tag").all_inner_texts() == [XSS_TAG]
    assert page.locator("#sessions-body img, #sessions-body script").count() == 0

    row.locator("td.name a").click()
    sync_api.expect(page.locator("#session-title")).to_have_text(XSS_NAME)
    sync_api.expect(page.locator("#session-fields .tag")).to_have_text(XSS_TAG)
    root = page.locator("#span-tree .span-row").first
    sync_api.expect(root.locator(".span-name")).to_contain_text(XSS_NAME)
    root.click()
    sync_api.expect(page.locator("#span-attributes")).to_contain_text(XSS_TAG)
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__pwned === undefined")


def test_running_session_shows_and_updates_without_reload(world: dict[str, Any], page: Any) -> None:
    project = create_project(world["db"], "live")
    url = world["server"].url
    process = subprocess.Popen(
        [sys.executable, "-c", RUNNING_SESSION, url, project["api_key"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_sdk_env(),
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        session_id = process.stdout.readline().strip()
        assert session_id, process.stderr.read() if process.stderr else ""
        sign_in(page, url, project["api_key"])
        row = row_of(page, session_id)
        sync_api.expect(row.locator(".badge.running")).to_be_visible()
        assert row.locator(".badge.state").inner_text() == "Indeterminate"
        assert cell(row, "tool_calls") == "1"

        process.stdin.write("end\n")
        process.stdin.flush()
        assert process.wait(30) == 0, process.stderr.read() if process.stderr else ""
        # The auto-refresh picks up the end: no reload, no click.
        sync_api.expect(row.locator(".badge.state")).to_have_text("Success", timeout=15_000)
        sync_api.expect(row.locator(".badge.running")).to_have_count(0)
        assert cell(row, "tool_calls") == "2"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        for stream in (process.stdout, process.stderr, process.stdin):
            if stream is not None:
                stream.close()


def test_screenshot(world: dict[str, Any], page: Any, tmp_path: Path) -> None:
    """The session view renders with its stylesheet applied (a real layout, not unstyled HTML)."""
    sign_in(page, world["server"].url, world["key"], f"/#/sessions/{world['ids']['research']}")
    sync_api.expect(page.locator("#span-tree .span-row")).to_have_count(
        len(world["api"]["research"]["spans"])
    )
    bar = page.locator("#span-tree .span-bar").first.bounding_box()
    assert bar is not None and bar["width"] > 100  # the root's bar spans the timeline
    badge_colour = page.locator("#session-badges .badge.state").evaluate("e => getComputedStyle(e).color")
    assert badge_colour != "rgb(0, 0, 0)"
    shot = tmp_path / "session.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
