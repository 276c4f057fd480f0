"""The examples run as written and record what they say they record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend_fixtures import free_port
from core_helpers import REPO


def run_example(name: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    env.update(PYTHONPATH=str(REPO / "src"), AGENTOPS_DB=str(tmp_path / "store.db"), **extra)
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / name)], env=env, capture_output=True, text=True, timeout=120
    )


def stored_session(tmp_path: Path, session_id: str) -> dict:
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentops_otel.cli",
            "sessions",
            "show",
            session_id,
            "--db",
            str(tmp_path / "store.db"),
            "--json",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_quickstart(tmp_path: Path) -> None:
    proc = run_example("quickstart.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "A SHORT DRAFT TO SHOUT" in proc.stdout
    session = stored_session(tmp_path, proc.stdout.split()[1])
    assert (session["end_state"], session["tool_calls"], session["llm_calls"]) == ("Success", 1, 1)
    assert session["cost_usd"] > 0


def test_existing_tracer_provider(tmp_path: Path) -> None:
    proc = run_example("existing_tracer_provider.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.strip())
    assert lines["my-own-span"] == lines["agentops.session"] != "None"


@pytest.mark.parametrize("example", ["multiprocess.py"])
def test_multiprocess(tmp_path: Path, example: str) -> None:
    proc = run_example(example, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[0, 1, 4, 9]" in proc.stdout
    session = stored_session(tmp_path, proc.stdout.split()[-1])
    assert session["tool_calls"] == 4
    assert session["end_state"] == "Success"


def test_two_services(tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("opentelemetry.instrumentation.fastapi")
    proc = run_example("two_services.py", tmp_path, EXAMPLE_PORT=str(free_port()))
    assert proc.returncode == 0, proc.stderr
    assert "one two three" in proc.stdout
    session = stored_session(tmp_path, proc.stdout.split()[-1])
    assert (session["end_state"], session["tool_calls"], session["llm_calls"]) == ("Success", 1, 1)
    by_id = {s["span_id"]: s for s in session["spans"]}
    (server,) = [s for s in session["spans"] if s["name"] == "GET /summarize"]
    assert by_id[server["parent_span_id"]]["name"] == "GET"  # the client's requests span


def test_logfire_setup(tmp_path: Path) -> None:
    pytest.importorskip("logfire")
    proc = run_example("logfire_setup.py", tmp_path)
    assert proc.returncode == 0, proc.stderr
    session = stored_session(tmp_path, proc.stdout.split()[-1])
    assert (session["end_state"], session["llm_calls"]) == ("Success", 1)
    assert "plan the trip" in {s["name"] for s in session["spans"]}
