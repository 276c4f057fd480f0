"""``agentops-otel sessions watch``: sessions and spans printed as real SDK processes record them, and a
clean stop (Ctrl-C exits 130 without a traceback; following one session ends with it)."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from backend_fixtures import BackendServer
from cli_fixtures import canned_openai, cli_env, run_agent, run_cli_env, sdk_env
from core_helpers import interruptible

# A session that stays open until the test lets it end (by creating a file).
SLOW_SCRIPT = r"""
import os, sys, time
import agentops_otel

@agentops_otel.tool
def step_one():
    return 1

@agentops_otel.tool
def step_two():
    return 2

agentops_otel.init(auto_start_session=False)
sid = agentops_otel.start_session(name="slow-agent", tags=["slow"])
print(sid, flush=True)
step_one()
agentops_otel.get_client().flush(10)
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.05)
step_two()
agentops_otel.end_session("Success", "done")
"""


def _lines(stream: IO[str]) -> queue.Queue[str]:
    found: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            found.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return found


def _until(lines: queue.Queue[str], done: object, timeout: float = 60) -> list[str]:
    """Lines until ``done(seen)`` is true (or the time is up)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done(seen):  # type: ignore[operator]
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=0.2))
    return seen


@contextmanager
def _watch(*args: str) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str], queue.Queue[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentops_otel.cli", "sessions", "watch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=interruptible,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        yield proc, _lines(proc.stdout), _lines(proc.stderr)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_watch_prints_new_sessions_and_spans_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    with canned_openai() as llm:
        run_agent(llm, sdk_env(AGENTOPS_DB=db, XDG_DATA_HOME=str(tmp_path)))  # history: not printed
        with _watch("--db", db, "--json", "--interval", "0.2") as (proc, out, err):
            notice = _until(err, lambda seen: bool(seen))
            assert notice and "watching store" in notice[0], notice
            ids = run_agent(llm, sdk_env(AGENTOPS_DB=db, XDG_DATA_HOME=str(tmp_path)))
            events = [
                json.loads(line)
                for line in _until(out, lambda seen: sum('"session_ended"' in s for s in seen) == 3)
            ]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(20) == 130
            rest = "".join(_until(err, lambda seen: False, timeout=0.5))
    assert "Traceback" not in rest
    started = [e["session"]["session_id"] for e in events if e["event"] == "session_started"]
    assert started == list(ids.values())  # only the new ones, in order
    support = ids["support"]
    names = [e["span"]["name"] for e in events if e["event"] == "span" and e["session_id"] == support]
    assert sorted(names) == ["chat gpt-4o-mini", "execute_tool fetch_invoice", "execute_tool lookup"]
    ended = {
        e["session"]["session_id"]: e["session"]["end_state"] for e in events if e["event"] == "session_ended"
    }
    assert ended == {ids["support"]: "Success", ids["cjk"]: "Success", ids["emoji"]: "Fail"}
    order = [
        e["event"] for e in events if e.get("session_id", e.get("session", {}).get("session_id")) == support
    ]
    assert order[0] == "session_started" and order[-1] == "session_ended"


def test_watch_one_session_on_a_backend_follows_it_until_it_ends(
    tmp_path: Path, backend: BackendServer, project: dict[str, str]
) -> None:
    release = tmp_path / "release"
    env = {"AGENTOPS_API_ENDPOINT": backend.url, "AGENTOPS_API_KEY": project["api_key"]}
    agent = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCRIPT, str(release)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sdk_env(XDG_DATA_HOME=str(tmp_path), **env),
    )
    try:
        assert agent.stdout is not None
        sid = agent.stdout.readline().strip()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the session is known once its start is stored
            listed = run_cli_env("sessions", "--json", env=cli_env(**env))
            if listed.returncode == 0 and sid in listed.stdout:
                break
            time.sleep(0.2)
        source = ("--endpoint", backend.url, "--api-key", project["api_key"])
        with _watch(sid[:8].upper(), *source, "--interval", "0.2") as (proc, out, _):
            first = _until(out, lambda seen: any("step_one" in s for s in seen))
            assert "session started  slow-agent" in first[0] and proc.poll() is None  # still following
            release.touch()
            assert proc.wait(60) == 0  # ends by itself with the session
            lines = first + _until(out, lambda seen: False, timeout=0.5)
        assert agent.wait(30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
    assert any("tool  execute_tool step_one" in line for line in lines)
    assert any("tool  execute_tool step_two" in line for line in lines)
    assert "session ended  Success" in lines[-1]
    assert sum("step_one" in line for line in lines) == 1  # each span once
