"""The README's first command: the demo runs an instrumented agent and shows its session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core_helpers import REPO


def test_demo_records_and_shows_a_session(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "agentops_otel.cli", "demo", "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "agent says:" in proc.stdout
    assert "invoke_agent researcher [agent]" in proc.stdout
    assert "chat gpt-4o-mini [llm]" in proc.stdout

    # What the demo shows is what the store holds: read it back through the CLI as a script would.
    listed = subprocess.run(
        [sys.executable, "-m", "agentops_otel.cli", "sessions", "--db", str(db), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)["sessions"]
    assert len(sessions) == 1
    session = sessions[0]
    assert session["end_state"] == "Success"
    assert session["name"] == "research"
    assert session["llm_calls"] == 2
    assert session["tool_calls"] == 5
    assert session["actions"] == 1
    assert session["errors"] == 2  # the failed tool and the ErrorEvent that reported it
    assert session["prompt_tokens"] > 0 and session["completion_tokens"] > 0
    assert session["cost_usd"] > 0
    assert sorted(session["tags"]) == ["demo", "research"]
