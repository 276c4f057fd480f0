"""The README's first command: ``agentops-otel demo`` tells the whole story (an agent with tools, worker
threads, a failed call, a second service over HTTP, a child process, a streaming call), shows the
session table, and links to the dashboard, which opens the session without a key."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

import requests

from agentops_otel._config import default_db_path
from backend_fixtures import BackendServer
from core_helpers import REPO

STEPS = [
    "local backend on http://127.0.0.1:",
    "canned OpenAI-compatible LLM on http://127.0.0.1:",
    "started",
    "translator service (WSGI + OpenTelemetry middleware)",
    "agent: planned the research",
    "agent: searched 3 topics in worker threads",
    "agent: a fact-check call failed: openai.InternalServerError, recorded",
    "agent: translated over HTTP: the translator service joined the session",
    "agent: indexed the notes in child process",
    "agent: streamed the summary",
    "session ended Success; every span delivered",
]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    # The default store is the test run's (XDG_DATA_HOME, tests/conftest.py), as `serve` below reads it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_", "OPENAI_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    command = [sys.executable, "-m", "agentops_otel.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def spans_by_name(session: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for span in session["spans"]:
        found.setdefault(span["name"], []).append(span)
    return found


def test_the_demo_tells_the_whole_story_and_links_to_its_session() -> None:
    demo = cli("demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    out = demo.stdout
    positions = [out.find(step) for step in STEPS]
    assert -1 not in positions, [s for s, p in zip(STEPS, positions, strict=True) if p < 0]
    assert positions == sorted(positions), "the progress lines come in the order of the story"
    assert "$ agentops-otel sessions --tag demo" in out and "invoke_agent researcher [agent]" in out
    # The failed call used no token: nothing to price, in its tree row as in the session's cost.
    (failed_row,) = [line for line in out.splitlines() if "[llm]" in line and "InternalServerError" in line]
    assert "  0 tokens  -  ERROR" in failed_row and "unknown" not in out, failed_row
    link = re.search(r"http://127\.0\.0\.1:8000/#/sessions/([0-9a-f-]{36})", out)
    assert link is not None and "without a key" in out
    session_id = link.group(1)

    # What the demo shows is what the store holds: read it back through the CLI as a script would.
    listed = cli("sessions", "--tag", "demo", "--json")
    assert listed.returncode == 0, listed.stderr
    (session,) = json.loads(listed.stdout)["sessions"]
    assert session["session_id"] == session_id
    assert (session["name"], session["end_state"], sorted(session["tags"])) == (
        "research",
        "Success",
        ["demo", "research"],
    )
    # plan, the failed fact-check, the service's translation, the child's keywords, the stream
    assert session["llm_calls"] == 5
    assert session["tool_calls"] == 5  # search x3 (worker threads), translate, index_notes
    assert (session["actions"], session["errors"]) == (1, 1)
    assert session["prompt_tokens"] > 0 and session["completion_tokens"] > 0 and session["cost_usd"] > 0

    shown = cli("sessions", "show", session_id, "--json")
    assert shown.returncode == 0, shown.stderr
    spans = spans_by_name(json.loads(shown.stdout))
    by_id = {s["span_id"]: s for group in spans.values() for s in group}

    def parent(span: dict[str, Any]) -> str:
        return str(by_id[span["parent_span_id"]]["name"])

    # The second service joined through traceparent + baggage: its server span sits under the tool.
    (server_span,) = spans["POST /translate"]
    assert parent(server_span) == "execute_tool translate"
    assert server_span["attributes"]["session.id"] == session_id
    service_llm = [s for s in spans["chat gpt-4o-mini"] if s["parent_span_id"] == server_span["span_id"]]
    assert len(service_llm) == 1 and service_llm[0]["attributes"]["session.id"] == session_id
    # The child process's LLM call sits under the tool that started it.
    (indexer,) = spans["execute_tool index_notes"]
    assert any(s["parent_span_id"] == indexer["span_id"] for s in spans["chat gpt-4o-mini"])
    # Worker threads' tools under the agent; the failed call; the streamed call with its usage.
    assert {parent(s) for s in spans["execute_tool search"]} == {"invoke_agent researcher"}
    failed = [s for s in spans["chat gpt-4o-mini"] if s["status"] == "ERROR"]
    assert [s["attributes"]["error.type"] for s in failed] == ["openai.InternalServerError"]
    (streamed,) = spans["chat gpt-4o"]
    assert streamed["attributes"]["gen_ai.usage.output_tokens"] > 0

    # The link opens it: serve on 127.0.0.1 over the default store hands out the local project.
    server = BackendServer(default_db_path()).start()
    try:
        token = requests.post(server.url + "/api/local/token", timeout=10)
        assert token.status_code == 200, token.text
        bearer = {"Authorization": f"Bearer {token.json()['token']}"}
        found = requests.get(f"{server.url}/api/sessions/{session_id}", headers=bearer, timeout=10)
        assert found.status_code == 200 and found.json()["name"] == "research"
    finally:
        server.stop()
