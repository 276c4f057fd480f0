"""Every example of docs/migrating-from-agentops.md, code written for the agentops SDK with one changed
import, runs in its own process against a real ``agentops-otel serve`` (and a canned LLM on
127.0.0.1); the session it recorded is read back over the REST API and checked against the table."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agentops_otel.cli.demo_llm import canned_llm
from backend_fixtures import ApiClient, BackendServer, create_project
from core_helpers import REPO, run_script

GUIDE = REPO / "docs" / "migrating-from-agentops.md"
SNIPPET = re.compile(r"<!-- snippet: (\S+) -->\n```python\n(.*?)```", re.DOTALL)


def snippets() -> dict[str, str]:
    return dict(SNIPPET.findall(GUIDE.read_text()))


class Run:
    """One example's process and what the backend holds afterwards."""

    def __init__(self, api: ApiClient, api_key: str, proc: Any) -> None:
        self.proc = proc
        self.out = proc.stdout + proc.stderr
        token = api.token(api_key)
        self.sessions = api.sessions(token)
        self.details = [api.session(token, s["session_id"]) for s in self.sessions]

    @property
    def one(self) -> dict[str, Any]:
        assert len(self.sessions) == 1, [s["name"] for s in self.sessions]
        return self.sessions[0]

    def spans(self, index: int = 0) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.details[index]["spans"]}  # type: ignore[index]

    def parents(self, name: str) -> list[str]:
        """The names of the parents of every span named ``name``."""
        spans = self.details[0]["spans"]  # type: ignore[index]
        by_id = {s["span_id"]: s["name"] for s in spans}
        return sorted(by_id.get(s["parent_span_id"], "-") for s in spans if s["name"] == name)

    def parent(self, name: str) -> str:
        (found,) = self.parents(name)
        return found


def _01(r: Run) -> None:
    s = r.one
    assert (s["end_state"], s["tags"], s["llm_calls"], s["actions"]) == ("Success", ["canary"], 1, 1)


def _03(r: Run) -> None:
    s = r.one
    assert (s["end_state"], s["end_state_reason"], s["tool_calls"], s["llm_calls"]) == (
        "Success",
        "done",
        1,
        1,
    )
    assert "analytics: {'LLM calls': 1, 'Tool calls': 1" in r.proc.stdout
    assert "'Cost': '0.0" in r.proc.stdout and "'Tokens': 17" in r.proc.stdout


def _04(r: Run) -> None:
    first, second = sorted(r.sessions, key=lambda s: s["start_time"])
    assert (first["tags"], first["end_state"], first["actions"]) == (["first"], "Success", 1)
    assert (second["tags"], second["end_state"], second["actions"]) == (["second"], "Success", 1)
    assert r.out.count("end it first (end_session())") == 1  # at the refusal


def _05(r: Run) -> None:
    s = r.one
    assert (s["end_state"], s["llm_calls"]) == ("Success", 1)
    assert s["span_count"] == 2  # the root and the child's LLM call, under it


def _06(r: Run) -> None:
    s = r.one
    assert (s["end_state"], s["end_state_reason"]) == ("Fail", "the tool timed out")
    assert s["video"] == "https://example.com/run.mp4"


def _07(r: Run) -> None:
    assert (r.one["end_state"], r.proc.returncode) == ("Fail", 0)


def _08(r: Run) -> None:
    s = r.one
    assert (s["actions"], s["tool_calls"], s["llm_calls"], s["errors"]) == (1, 1, 1, 2)
    assert (s["prompt_tokens"], s["completion_tokens"]) == (3, 2) and s["cost_usd"] > 0


def _09(r: Run) -> None:
    spans = r.spans()
    assert {"invoke_agent researcher", "invoke_agent r2"} <= set(spans)
    assert spans["invoke_agent r2"]["attributes"]["gen_ai.agent.name"] == "r2"


def _10(r: Run) -> None:
    assert r.one["actions"] == 2 and "plan_trip" in r.spans()


def _11(r: Run) -> None:
    assert r.one["tool_calls"] == 1 and "execute_tool calculator" in r.spans()


def _12(r: Run) -> None:
    s = r.one
    assert (s["name"], s["end_state"], s["tool_calls"]) == ("run", "Success", 1)
    assert r.parent("execute_tool lookup") == "Librarian.find"
    assert r.parent("Librarian.find") == "invoke_agent Librarian"


def _13(r: Run) -> None:
    s = r.one
    assert (s["name"], s["end_state"], s["actions"]) == ("writing", "Success", 2)
    # write() calls outline() on the same agent: an agent span for each call, nested.
    assert r.parents("invoke_agent planner") == ["Planner.write", "writing.session"]
    assert r.parent("Planner.outline") == "invoke_agent planner"


def _14(r: Run) -> None:
    s = r.one
    assert (s["llm_calls"], s["tool_calls"]) == (1, 1)
    assert r.parent("execute_tool search") == "invoke_agent research-assistant"


def _15(r: Run) -> None:
    s = r.one
    assert s["tool_calls"] == 2 and s["cost_usd"] == pytest.approx(0.10)
    assert r.spans()["execute_tool web_search"]["attributes"]["agentops.usage.cost_usd"] == 0.05


def _16(r: Run) -> None:
    s = r.one
    assert (s["name"], s["end_state"], s["tags"], s["actions"]) == ("nightly-job", "Success", ["batch"], 1)


def _17(r: Run) -> None:
    s = r.one
    assert (s["name"], s["end_state"], s["tags"], s["tool_calls"]) == (
        "customer-service",
        "Success",
        ["customer-query"],
        1,
    )


def _18(r: Run) -> None:
    assert (r.one["end_state"], r.one["actions"]) == ("Success", 1)


def _19(r: Run) -> None:
    assert r.one["tags"] == ["final", "reviewed"]


def _20(r: Run) -> None:
    s = r.one
    assert s["tags"] == ["processing"]
    root = r.spans()["ai-workflow.session"]["attributes"]
    assert root["trace.metadata.operation_name"] == "gpt-4o-mini" and root["trace.metadata.stage"] == 2


def _21(r: Run) -> None:
    s = r.one
    assert (s["name"], s["tags"], s["end_state"]) == ("options-run", ["options"], "Success")
    assert "unknown option" not in r.out


def _22(r: Run) -> None:
    s = r.one
    assert (s["end_state"], s["end_state_reason"]) == ("Indeterminate", "end_all_sessions() was called")


def _23(r: Run) -> None:
    s = r.one
    assert (s["tags"], s["end_state"]) == (["manual"], "Success")
    assert f"session: {s['session_id']}" in r.proc.stdout


def _24(r: Run) -> None:
    s = r.one
    assert r.proc.returncode == 1
    assert s["end_state"] == "Fail" and "RuntimeError: the agent crashed" in s["end_state_reason"]


def _25(r: Run) -> None:
    s = r.one
    assert (s["name"], s["end_state"]) == ("risky-step", "Fail")
    assert "TimeoutError" in s["end_state_reason"]


def _26(r: Run) -> None:
    assert (r.one["name"], r.one["end_state"]) == ("enum-states", "Fail")


def _27(r: Run) -> None:
    s = r.one
    assert (s["end_state"], s["end_state_reason"], s["actions"]) == ("Success", "ended by the app", 1)


CHECKS: dict[str, Callable[[Run], None]] = {
    name: check
    for name, check in globals().items()
    if re.fullmatch(r"_\d\d", name) and callable(check)  # type: ignore[misc]
}


@pytest.fixture(scope="module")
def runs(backend: BackendServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Every example run once, each in its own process with a project of its own, three at a time
    (they spend most of their time starting up)."""

    def run(name: str, llm: str) -> tuple[str, Any]:
        key = create_project(backend.db)["api_key"]
        env = {
            "AGENTOPS_API_ENDPOINT": backend.url,
            "AGENTOPS_API_KEY": key,
            "OPENAI_BASE_URL": llm,
            "OPENAI_API_KEY": "test-key-not-secret",
        }
        return key, run_script(snippets()[name], tmp_path_factory.mktemp(name), env=env, timeout=90)

    with canned_llm() as llm, ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run, name, llm) for name in snippets()}
        yield {name: future.result() for name, future in futures.items()}


def test_every_example_has_a_check_and_every_check_an_example() -> None:
    numbers = {name.split("-")[0] for name in snippets()}
    assert numbers == {name[1:] for name in CHECKS}
    assert len(numbers) == len(snippets())


@pytest.mark.parametrize("name", sorted(snippets()))
def test_example_runs_and_records_what_the_table_says(
    name: str, runs: dict[str, Any], api: ApiClient
) -> None:
    key, proc = runs[name]
    if not name.startswith("24-"):
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
    CHECKS["_" + name.split("-")[0]](Run(api, key, proc))
