"""The framework examples run as written, against a canned provider on 127.0.0.1, and the local store
holds the session they describe. Child processes refuse any connection off the machine (net_guard)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from canned_http import CannedLLM, Turn
from core_helpers import REPO
from test_examples import stored_session

GUARD = Path(__file__).parent / "net_guard"


def _run(
    example: str, tmp_path: Path, llm: CannedLLM, **env: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    log = tmp_path / "net_guard.log"
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_", "OPENAI_", "GEMINI_"))
    }
    base.update(
        PYTHONPATH=os.pathsep.join([str(GUARD), str(REPO / "src")]),
        AGENTOPS_DB=str(tmp_path / "store.db"),
        NET_GUARD_LOG=str(log),
        OPENAI_BASE_URL=llm.url + "/v1",
        **env,
    )
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / example)],
        env=base,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return proc, log


def _session(proc: subprocess.CompletedProcess[str], tmp_path: Path, log: Path) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not log.exists(), log.read_text()  # nothing tried to leave the machine
    session_id = proc.stdout.split()[1]
    return stored_session(tmp_path, session_id)


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the [frameworks] extra)")


def test_openai_agents_example(tmp_path: Path) -> None:
    _needs("agents")
    script = [
        Turn(tool="transfer_to_weather_agent"),
        Turn(tool="get_weather", args={"city": "Paris"}),
        Turn(text="Sunny."),
    ]
    with CannedLLM(script) as llm:
        proc, log = _run("openai_agents_handoff.py", tmp_path, llm)
    session = _session(proc, tmp_path, log)
    assert "Sunny." in proc.stdout
    assert (session["end_state"], session["llm_calls"], session["tool_calls"]) == ("Success", 3, 1)
    assert session["actions"] >= 4  # workflow, task, turns, handoff
    assert session["cost_usd"] > 0


def test_langgraph_example(tmp_path: Path) -> None:
    _needs("langgraph")
    with CannedLLM([Turn(tool="get_weather", args={"city": "Paris"}), Turn(text="Sunny.")]) as llm:
        proc, log = _run("langgraph_agent.py", tmp_path, llm, OPENAI_API_KEY="sk-test")
    session = _session(proc, tmp_path, log)
    assert (session["end_state"], session["llm_calls"], session["tool_calls"]) == ("Success", 2, 1)
    assert session["cost_usd"] > 0


def test_litellm_example(tmp_path: Path) -> None:
    _needs("litellm")
    with CannedLLM([Turn(text="Hello there")]) as llm:
        proc, log = _run(
            "litellm_router.py", tmp_path, llm, OPENAI_API_KEY="sk-test", LITELLM_LOCAL_MODEL_COST_MAP="True"
        )
    session = _session(proc, tmp_path, log)
    assert "Hello there" in proc.stdout
    assert (session["end_state"], session["llm_calls"]) == ("Success", 3)
    assert session["prompt_tokens"] == 120 * 2 + 8


def test_google_genai_example(tmp_path: Path) -> None:
    _needs("google.genai")
    with CannedLLM([Turn(text="Hello from Gemini")]) as llm:
        proc, log = _run(
            "google_genai_chat.py", tmp_path, llm, GEMINI_API_KEY="test", GEMINI_BASE_URL=llm.url
        )
    session = _session(proc, tmp_path, log)
    assert "Hello from Gemini" in proc.stdout
    assert (session["end_state"], session["llm_calls"], session["completion_tokens"]) == ("Success", 2, 60)
    assert session["cost_usd"] > 0


def test_crewai_example(tmp_path: Path) -> None:
    _needs("crewai")
    with CannedLLM([Turn(tool="get_weather", args={"city": "Paris"}), Turn(text="Sunny.")]) as llm:
        proc, log = _run(
            "crewai_crew.py", tmp_path, llm, OPENAI_API_KEY="sk-test", CREWAI_DISABLE_TELEMETRY="true"
        )
    session = _session(proc, tmp_path, log)
    assert (session["end_state"], session["llm_calls"], session["tool_calls"]) == ("Success", 2, 1)
    assert session["actions"] == 2  # the crew and its task
