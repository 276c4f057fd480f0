"""The SDK in a user's process, the real backend in another, over 127.0.0.1: the hard cases.

A session with agents, tools, LLM events and errors; a backend that hangs; one that is down and then
comes up; a bad key. Each is read back through ``GET /api/sessions/{id}``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend_fixtures import ApiClient, BackendServer, create_project, free_port
from core_helpers import REPO

AGENT_RUN = """
import os, sys
import agentops_otel
from agentops_otel import ErrorEvent, LLMEvent, record

sid = agentops_otel.init(tags=["e2e", "agents"])
print(sid, flush=True)

@agentops_otel.tool
def lookup(q):
    return q.upper()

@agentops_otel.agent(name="writer")
def write(topic):
    lookup(topic)
    lookup(topic + "!")
    record(LLMEvent(model="gpt-4o-mini", prompt_tokens=100, completion_tokens=20))
    try:
        raise KeyError("missing")
    except KeyError as exc:
        record(ErrorEvent(exception=exc))
    return "done"

write("sails")
END
"""


def sdk_env(url: str | None, key: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    env["PYTHONPATH"] = str(REPO / "src")
    if url:
        env["AGENTOPS_API_ENDPOINT"] = url
    if key:
        env["AGENTOPS_API_KEY"] = key
    env.update(extra)
    return env


def run_agent(
    tmp_path: Path, env: dict[str, str], end: str = "agentops_otel.end_session('Success', 'all good')\n"
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "agent.py"
    script.write_text(AGENT_RUN.replace("END\n", end))
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90)


def wait_for_session(api: ApiClient, key: str, sid: str, done: bool = True) -> dict:
    token = api.token(key)
    deadline = time.monotonic() + 20
    while True:
        session = api.session(token, sid)
        if session is not None and (not done or session["end_time"] is not None):
            return session
        if time.monotonic() > deadline:
            raise AssertionError(f"session {sid} not complete in the backend: {session}")
        time.sleep(0.1)


def test_a_whole_session_lands_with_the_right_figures(
    tmp_path: Path, backend: BackendServer, api: ApiClient, project: dict[str, str]
) -> None:
    proc = run_agent(tmp_path, sdk_env(backend.url, project["api_key"]))
    assert proc.returncode == 0, proc.stderr
    sid = proc.stdout.split()[0]
    session = wait_for_session(api, project["api_key"], sid)
    assert session["project_id"] == project["project_id"]
    assert session["end_state"] == "Success" and session["end_state_reason"] == "all good"
    assert sorted(session["tags"]) == ["agents", "e2e"]
    assert (session["tool_calls"], session["llm_calls"], session["errors"]) == (2, 1, 1)
    assert (session["prompt_tokens"], session["completion_tokens"], session["total_tokens"]) == (100, 20, 120)
    assert session["cost_usd"] > 0
    assert session["host_env"]["host.name"] == socket.gethostname()
    names = sorted(s["name"] for s in session["spans"])
    assert names == sorted(
        [
            "agentops.session",
            "invoke_agent writer",
            "execute_tool lookup",
            "execute_tool lookup",
            "chat gpt-4o-mini",
            "error KeyError",
        ]
    )
    assert session["span_count"] == len(session["spans"]) == 6
    root = next(s for s in session["spans"] if s["kind"] == "session")
    assert root["parent_span_id"] is None and root["status"] == "OK"
    writer = next(s for s in session["spans"] if s["kind"] == "agent")
    tools = [s for s in session["spans"] if s["kind"] == "tool"]
    assert all(t["parent_span_id"] == writer["span_id"] for t in tools)
    assert all(t["attributes"]["gen_ai.agent.name"] == "writer" for t in tools)


def test_a_process_that_exits_without_ending_shows_indeterminate(
    tmp_path: Path, backend: BackendServer, api: ApiClient, project: dict[str, str]
) -> None:
    proc = run_agent(tmp_path, sdk_env(backend.url, project["api_key"]), end="")
    assert proc.returncode == 0, proc.stderr
    session = wait_for_session(api, project["api_key"], proc.stdout.split()[0])
    assert session["end_state"] == "Indeterminate"
    assert "end_session" in session["end_state_reason"]


@pytest.fixture
def hung_server() -> Iterator[str]:
    """Accepts connections and reads, but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def test_a_hung_backend_never_blocks_the_program_and_exit_is_bounded(
    tmp_path: Path, hung_server: str
) -> None:
    started = time.monotonic()
    proc = run_agent(tmp_path, sdk_env(hung_server, "some-key", AGENTOPS_SHUTDOWN_TIMEOUT="1"))
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 1  # the program ran to its end
    # The server never answers; without the exit deadline the process would wait on it for ever.
    assert elapsed < 30
    assert "not delivered" in proc.stderr


def test_a_backend_that_is_down_then_up_loses_nothing(
    tmp_path: Path, backend: BackendServer, api: ApiClient
) -> None:
    db = str(tmp_path / "later.db")
    project = create_project(db)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    script = tmp_path / "agent.py"
    script.write_text(
        AGENT_RUN.replace(
            "END\n",
            "agentops_otel.end_session('Success')\n"
            "sys.stdin.readline()  # the test starts the backend now\n"
            "print(agentops_otel.get_client().flush(30), flush=True)\n",
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=sdk_env(url, project["api_key"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    sid = proc.stdout.readline().strip()
    time.sleep(1.5)  # let the exporter fail against the closed port a few times
    server = BackendServer(db, port).start()
    try:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "True"
        assert proc.wait(30) == 0
        session = wait_for_session(ApiClient(url), project["api_key"], sid)
        assert session["span_count"] == 6
        assert session["end_state"] == "Success"
    finally:
        server.stop()


def test_a_bad_key_is_reported_once_and_the_program_carries_on(
    tmp_path: Path, backend: BackendServer
) -> None:
    proc = run_agent(tmp_path, sdk_env(backend.url, "not-a-real-key"))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.split()) == 1
    assert proc.stderr.count("invalid API key") == 1


def test_a_burst_that_fits_the_queue_arrives_whole(
    tmp_path: Path, backend: BackendServer, api: ApiClient, project: dict[str, str]
) -> None:
    script = tmp_path / "burst.py"
    script.write_text(
        "import agentops_otel\n"
        "from opentelemetry import trace\n"
        "sid = agentops_otel.init(instrument_llm_calls=False)\n"
        "tracer = trace.get_tracer('burst')\n"
        "for i in range(5000):\n"
        "    with tracer.start_as_current_span(f'step {i}'):\n"
        "        pass\n"
        "agentops_otel.end_session('Success')\n"
        "client = agentops_otel.get_client()\n"
        "print(sid, client.flush(30), client.dropped_spans, flush=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        env=sdk_env(backend.url, project["api_key"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    sid, delivered, dropped = proc.stdout.split()
    assert (delivered, dropped) == ("True", "0")
    session = wait_for_session(api, project["api_key"], sid)
    assert session["span_count"] == 5001  # every step and the root, each once
