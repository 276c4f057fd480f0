"""Real servers and real SDK processes on the stores: several ``serve`` on one PostgreSQL database, the API
key as a bearer, revoke and rotate while serving, token expiry with the SDK refreshing, the SDK's local
exporter straight into PostgreSQL, and a session whose process is killed (SIGKILL) ending Indeterminate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentops_otel.store import open_store
from backend_fixtures import (
    OK,
    ApiClient,
    BackendServer,
    SpanMaker,
    create_project,
    encode,
    free_port,
    run_cli,
)
from test_end_to_end import sdk_env

TOOL = ("search", {"agentops.span.kind": "tool"}, None)


@pytest.fixture
def two_servers(pg_url: str) -> Any:
    servers = [BackendServer(pg_url).start() for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


def test_servers_on_one_database_share_everything(pg_url: str, two_servers: list[BackendServer]) -> None:
    a, b = (ApiClient(s.url) for s in two_servers)
    created = create_project(pg_url)  # made by the CLI while both serve
    token = a.token(created["api_key"])  # issued by A ...
    sid, marker, rest = SpanMaker().session(children=[TOOL] * 6, root_status=OK)
    first, second = marker + rest[:3], rest[3:]
    assert b.post_traces(token, encode(first)).status_code == 200  # ... accepted by B
    assert a.post_traces(created["api_key"], encode(second)).status_code == 200  # the key as the bearer
    # The same batch to both at once: stored once.
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda c=c: answers.append(c.post_traces(token, encode(rest)).status_code))
        for c in (a, b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [200, 200]
    from_a, from_b = a.session(token, sid), b.session(created["api_key"], sid)
    assert from_a == from_b and from_a is not None
    assert from_a["span_count"] == 7 and from_a["tool_calls"] == 6 and from_a["end_state"] == "Success"
    assert len(from_a["spans"]) == 7


def test_revoke_and_rotate_while_serving(pg_url: str, two_servers: list[BackendServer]) -> None:
    a, b = (ApiClient(s.url) for s in two_servers)
    created = create_project(pg_url, "team")
    assert b.token(created["api_key"])
    revoked = run_cli("projects", "revoke", created["api_key"], "--db", pg_url)
    assert revoked.returncode == 0, revoked.stderr
    for api in (a, b):  # refused at once, by every server
        refused = api.post_traces(created["api_key"], encode(SpanMaker().session()[1]))
        assert refused.status_code == 401
        assert api.get("/api/sessions", created["api_key"]).status_code == 401
    again = run_cli("projects", "revoke", created["api_key"], "--db", pg_url)
    assert again.returncode == 1 and "revoked already" in again.stderr
    rotated = run_cli("projects", "rotate", "team", "--db", pg_url)
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)
    assert new["project_id"] == created["project_id"] and new["api_key"] != created["api_key"]
    assert a.token(new["api_key"]) and b.sessions(new["api_key"]) == []
    assert run_cli("projects", "rotate", "nope", "--db", pg_url).returncode == 1


def test_the_api_key_is_a_bearer_on_v1_traces(store_url: str) -> None:
    created = create_project(store_url)
    server = BackendServer(store_url).start()
    try:
        api = ApiClient(server.url)
        sid, marker, rest = SpanMaker().session()
        assert api.post_traces(created["api_key"], encode(marker + rest)).status_code == 200
        assert [s["session_id"] for s in api.sessions(created["api_key"])] == [sid]
        assert api.post_traces("wrong-key", encode(marker)).status_code == 401
    finally:
        server.stop()


_TWO_EXPORTS = """
import time, agentops_otel
from opentelemetry import trace
sid = agentops_otel.init(tags=["refresh"])
print(sid, flush=True)
tracer = trace.get_tracer("t")
with tracer.start_as_current_span("before", attributes={"agentops.span.kind": "tool"}):
    pass
assert agentops_otel.get_client().flush(10)
time.sleep(2.5)  # the token (1 s) has expired: the next export gets 401 and exchanges the key again
with tracer.start_as_current_span("after", attributes={"agentops.span.kind": "tool"}):
    pass
agentops_otel.end_session("Success", "both exports")
"""


def test_the_sdk_refreshes_an_expired_token(store_url: str, tmp_path: Path) -> None:
    created = create_project(store_url)
    server = BackendServer(store_url, None, "--token-ttl", "1s").start()
    try:
        script = tmp_path / "two.py"
        script.write_text(_TWO_EXPORTS)
        env = sdk_env(server.url, created["api_key"], AGENTOPS_DB=str(tmp_path / "client.db"))
        proc = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90
        )
        assert proc.returncode == 0, proc.stderr
        sid = proc.stdout.split()[0]
        api = ApiClient(server.url)
        session = api.session(created["api_key"], sid)
        assert session is not None and session["end_state_reason"] == "both exports"
        assert sorted(s["name"] for s in session["spans"] if s["kind"] == "tool") == ["after", "before"]
    finally:
        server.stop()
    with open_store(store_url) as store:  # the SDK exchanged its key twice: once more after the 401
        [(issued,)] = store._read(
            "SELECT COUNT(*) FROM auth_tokens WHERE project_id = ?", (created["project_id"],)
        )
    assert issued >= 2


_LOCAL = """
import agentops_otel
sid = agentops_otel.init(tags=["local-pg"])
print(sid, flush=True)
agentops_otel.end_session("Success", "into postgres")
"""


def test_the_local_exporter_writes_straight_into_postgresql(pg_url: str, tmp_path: Path) -> None:
    script = tmp_path / "local.py"
    script.write_text(_LOCAL)
    env = sdk_env(None, None, AGENTOPS_DB=pg_url, XDG_DATA_HOME=str(tmp_path / "xdg"))
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    sid = proc.stdout.split()[0]
    listed = run_cli("sessions", "--json", env={"AGENTOPS_DB": pg_url})
    assert listed.returncode == 0, listed.stderr
    [session] = json.loads(listed.stdout)["sessions"]
    assert session["session_id"] == sid and session["end_state_reason"] == "into postgres"
    assert not (tmp_path / "postgresql:").exists()  # a URL is never taken for a path


# The SDK's own heartbeat (AGENTOPS_HEARTBEAT_INTERVAL) where this build has it; else the same spans as
# the wire contract (semconv) defines them, sent through the SDK's own export path: zero-length
# children of the root every interval, announcing the interval.
_HEARTBEATS = """
import os, sys, threading, time
import agentops_otel
from opentelemetry import trace
from agentops_otel._config import Configuration
from agentops_otel._internal.context import root_span_context
sid = agentops_otel.init(tags=["heartbeat"])
sdk_beats = "heartbeat_interval" in Configuration.__dataclass_fields__
tracer = trace.get_tracer("agentops_otel")
root = trace.set_span_in_context(trace.NonRecordingSpan(root_span_context(sid)))
with tracer.start_as_current_span("work", attributes={"agentops.span.kind": "tool"}):
    pass
def beat():
    while True:
        now = time.time_ns()
        tracer.start_span("agentops.session.heartbeat", context=root, start_time=now, attributes={
            "session.id": sid, "agentops.span.kind": "session.heartbeat",
            "agentops.session.heartbeat_interval": 0.2}).end(end_time=now)
        time.sleep(0.2)
if not sdk_beats:
    threading.Thread(target=beat, daemon=True).start()
print(sid, flush=True)
time.sleep(600)  # idle until killed
"""


def test_a_killed_process_ends_its_session_indeterminate(tmp_path: Path, backend: BackendServer) -> None:
    created = create_project(backend.db)
    api = ApiClient(backend.url)
    script = tmp_path / "beats.py"
    script.write_text(_HEARTBEATS)
    env = sdk_env(
        backend.url,
        created["api_key"],
        OTEL_BSP_SCHEDULE_DELAY="100",
        AGENTOPS_HEARTBEAT_INTERVAL="0.2",
        AGENTOPS_DB=str(tmp_path / "c.db"),
    )
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        sid = proc.stdout.readline().strip()
        started = time.monotonic()
        # Idle for longer than 3 x 0.2 s + 10 s: heartbeats alone keep the session running.
        while time.monotonic() - started < 12:
            session = api.session(created["api_key"], sid)
            assert session is None or session["end_time"] is None, session
            time.sleep(0.5)
        alive = api.session(created["api_key"], sid)
        assert alive is not None and alive["end_time"] is None and alive["span_count"] == 1
        assert [s["name"] for s in alive["spans"]] == ["work"]  # heartbeats are not spans
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    killed_at = time.time()
    deadline = time.monotonic() + 30
    while (session := api.session(created["api_key"], sid)) and session["end_time"] is None:
        assert time.monotonic() < deadline, "the killed session still reads as running"
        time.sleep(0.5)
    assert session is not None and session["end_state"] == "Indeterminate"
    assert session["end_state_reason"] == (
        f"the process stopped sending heartbeats at {session['end_time']} without end_session"
    )
    last_seen = time.mktime(time.strptime(session["end_time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert started < killed_at and last_seen <= killed_at + 1 and session["duration_s"] > 12


def test_the_cli_names_a_store_it_cannot_open(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    for args in (["sessions"], ["projects", "list"], ["serve", "--port", str(free_port())]):
        result = run_cli(*args, "--db", f"postgresql://nobody:secret@127.0.0.1:{port}/none", timeout=60)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith("agentops-otel: error: ") and "Traceback" not in result.stderr
        assert "secret" not in result.stderr  # never the password
    other = run_cli("projects", "list", "--db", "mysql://127.0.0.1/x")
    assert other.returncode == 1 and "use a file path or a postgresql:// URL" in other.stderr
