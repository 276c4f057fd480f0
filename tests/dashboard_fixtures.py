"""Shared fixtures of the dashboard tests (tests/test_dashboard*.py): the real backend with the
dashboard's routes on 127.0.0.1, a store filled by real SDK runs in child processes (the real
``openai`` client on a canned OpenAI server on 127.0.0.1, with a tool call), and Debian's Chromium
driven by Playwright (``executable_path``; Playwright's own browser downloads are never used).

Import the fixtures into a test module with
``from dashboard_fixtures import browser_fixture, page_fixture, world_fixture`` (they are named
``browser``, ``page`` and ``world``).
Screenshots go to ``test-artifacts/dashboard/`` (git-ignored), or to ``$DASHBOARD_ARTIFACTS``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import requests

from backend_fixtures import create_project, free_port
from canned_http import chat_server

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
VIEWPORT = {"width": 1440, "height": 900}
ARTIFACTS = Path(
    os.environ.get("DASHBOARD_ARTIFACTS")
    or Path(__file__).resolve().parent.parent / "test-artifacts" / "dashboard"
)
XSS_NAME = "<img src=x onerror=\"window.__pwned='name'\">"
XSS_TAG = "<script>window.__pwned='tag'</script>"
LONG_NAME = "nightly-" + "x" * 300
SYSTEM_PROMPT = "You are a support agent for an online shop. Look orders up before you answer."
QUESTION = "Where is my order A-1042?"
ANSWER = "Your order A-1042 has shipped and arrives on Friday."

# -- a canned OpenAI server: first a tool call, then (given the tool's result) an answer ----------------


def _reply(request: dict[str, Any]) -> tuple[dict[str, Any], str]:
    if any(m.get("role") == "tool" for m in request.get("messages", [])):
        return {"role": "assistant", "content": ANSWER}, "stop"
    call = {
        "id": "call_lookup_1",
        "type": "function",
        "function": {"name": "lookup_order", "arguments": '{"order_id": "A-1042"}'},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"


def canned_openai() -> AbstractContextManager[str]:
    return chat_server(_reply)


# -- the child processes that record sessions ------------------------------------------------------------

RECORD_SESSIONS = textwrap.dedent(
    """
    import json, sys, time
    import openai
    import agentops_otel
    from agentops_otel import ErrorEvent, LLMEvent, record

    url, key, llm_url, xss_name, xss_tag, long_name, system, question = sys.argv[1:9]
    agentops_otel.init(api_key=key, endpoint=url, auto_start_session=False, capture_content=True)
    client = openai.OpenAI(base_url=llm_url, api_key="test-key", max_retries=0)

    @agentops_otel.tool
    def lookup_order(order_id):
        return {"order_id": order_id, "status": "shipped", "eta": "Friday"}

    @agentops_otel.tool
    def search(query):
        time.sleep(0.01)
        return [query]

    @agentops_otel.tool(name="fetch_page")
    def fetch(url):
        raise ConnectionError("could not fetch " + url)

    @agentops_otel.agent(name="support")
    def support():
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        call = first.choices[0].message.tool_calls[0]
        result = lookup_order(**json.loads(call.function.arguments))
        messages.append(first.choices[0].message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages).choices[0].message.content

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
    ids["support"] = agentops_otel.start_session(tags=["prod", "support"], name="customer-support")
    support()
    agentops_otel.end_session("Success", "answered")
    ids["long"] = agentops_otel.start_session(tags=["nightly", "i18n"], name=long_name)
    record(LLMEvent(model="my-local-llama", prompt="hi", completion="hello", prompt_tokens=5, completion_tokens=2))
    agentops_otel.end_session("Success", "done")
    ids["xss"] = agentops_otel.start_session(tags=[xss_tag], name=xss_name)
    agentops_otel.end_session("Indeterminate")
    assert agentops_otel.get_client().flush(20)
    print(json.dumps(ids))
    """
)

# 50 agents of 99 tool calls each under the root: 5,001 spans, one failed tool deep in agent 37.
BIG_SESSION = textwrap.dedent(
    """
    import sys
    import agentops_otel

    url, key = sys.argv[1:3]
    agentops_otel.init(api_key=key, endpoint=url, auto_start_session=False)

    @agentops_otel.tool
    def step(n):
        if n == 3737:
            raise ValueError("step 3737 broke")
        return n

    @agentops_otel.agent
    def worker(k):
        for i in range(99):
            try:
                step(k * 100 + i)
            except ValueError:
                pass

    sid = agentops_otel.start_session(tags=["big"], name="big-session")
    for k in range(50):
        worker(k)
    agentops_otel.end_session("Success", "all steps")
    assert agentops_otel.get_client().flush(60)
    print(sid)
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


def sdk_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}


def run_script(script: str, *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout, env=sdk_env()
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


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


class World:
    """The running backend, the project, the recorded sessions' ids and the API's view of them."""

    def __init__(self, server: Server, db: str, key: str, ids: dict[str, str]) -> None:
        self.server = server
        self.url = server.url
        self.db = db
        self.key = key
        self.ids = ids
        self.headers = {"Authorization": f"Bearer {key}"}
        self.api = {name: self.get(f"/api/sessions/{sid}") for name, sid in ids.items()}
        self._big: tuple[str, str] | None = None
        self._features: dict[str, bool] = {}

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(self.url + path, headers=self.headers, params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def has(self, feature: str) -> bool:
        """Whether the server has a part of the newer API (notes/api_v2): ``list`` (search, sorting,
        totals), ``pages`` (a session's spans in pages), ``etag``, ``span`` (one span's detail)."""
        if feature not in self._features:
            sid = self.ids["support"]
            if feature == "list":
                found = "total" in self.get("/api/sessions", limit=1)
            elif feature == "pages":
                found = "spans_next_cursor" in self.get(f"/api/sessions/{sid}", spans_limit=1)
            elif feature == "etag":
                found = (
                    "etag"
                    in requests.get(
                        f"{self.url}/api/sessions/{sid}", headers=self.headers, timeout=10
                    ).headers
                )
            else:
                span = self.api["support"]["spans"][0]["span_id"]
                found = requests.get(
                    f"{self.url}/api/sessions/{sid}/spans/{span}", headers=self.headers, timeout=10
                ).ok
            self._features[feature] = found
        return self._features[feature]

    def big_session(self) -> tuple[str, str]:
        """The 5,001-span session and the API key of its project, recorded on first use (a few
        seconds), in a project of its own so that the other tests' lists stay as they are."""
        if self._big is None:
            key = create_project(self.db, "big")["api_key"]
            self._big = (run_script(BIG_SESSION, self.url, key, timeout=300).strip(), key)
        return self._big


_shared: dict[str, World] = {}


@pytest.fixture(name="world")
def world_fixture(tmp_path_factory: pytest.TempPathFactory) -> World:
    """One recorded world for the whole test run, whichever module asks first (each test module
    imports this fixture, which would otherwise make one per module)."""
    if "world" not in _shared:
        db = str(tmp_path_factory.mktemp("dashboard") / "store.db")
        project = create_project(db, "dashboard")
        server = Server(db).start()
        atexit.register(server.stop)
        with canned_openai() as llm_url:
            out = run_script(
                RECORD_SESSIONS,
                server.url,
                project["api_key"],
                llm_url,
                XSS_NAME,
                XSS_TAG,
                LONG_NAME,
                SYSTEM_PROMPT,
                QUESTION,
            )
        _shared["world"] = World(server, db, project["api_key"], json.loads(out))
    return _shared["world"]


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Any]:
    """Chromium for one test module. Not for the whole run: while Playwright's sync API is open, its
    event loop runs in the main thread, and the other modules' ``asyncio.run`` would fail."""
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# Long tasks (over 50 ms) as Chromium's Long Tasks API reports them, from the first script on.
LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
}).observe({ type: "longtask", buffered: true });
"""


@pytest.fixture(name="page")
def page_fixture(browser: Any) -> Iterator[Any]:
    """A fresh context (empty localStorage) at 1440x900 whose page fails the test on a script error, a
    dialog, or any request that leaves the backend; ``page.api_requests`` lists the API calls made."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(LONG_TASKS)
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    outside: list[str] = []
    requests_made: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests_made.append(request.url))
    responses: list[tuple[str, int]] = []
    page.on("response", lambda response: responses.append((response.url, response.status)))

    def guard(route: Any) -> None:
        if route.request.url.startswith(("http://127.0.0.1:", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.set_default_timeout(15_000)
    page.requests_made = requests_made
    page.responses = responses
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


def session_rows(page: Any) -> Any:
    return page.get_by_test_id("session-row")


def row_of(page: Any, session_id: str) -> Any:
    return page.locator(f'[data-testid="session-row"][data-session-id="{session_id}"]')


def span_row(page: Any, span_id: str) -> Any:
    return page.locator(f'[data-testid="span-row"][data-span-id="{span_id}"]')


def cell(row: Any, column: str) -> str:
    return str(row.locator(f'td[data-col="{column}"]').inner_text()).strip()


def shot(page: Any, name: str, full_page: bool = False) -> Path:
    """A screenshot kept as a test artefact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def long_tasks(page: Any) -> list[float]:
    """The long tasks (ms) Chromium reported since the page's last ``window.__longTasks = []``; fails
    the test if this Chromium has no Long Tasks API (the figure would then be an empty list)."""
    supported = page.evaluate("PerformanceObserver.supportedEntryTypes.includes('longtask')")
    assert supported, "this Chromium has no Long Tasks API"
    return [float(t) for t in page.evaluate("window.__longTasks")]


def report_figures(name: str, figures: dict[str, Any]) -> Path:
    """Measured figures (not asserted: speed is measured, not asserted on a shared machine), printed
    and kept as a test artefact ``NAME.json`` beside the screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\n{name}: {json.dumps(figures)}")
    return path


def no_horizontal_overflow(page: Any) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px viewport"
