"""The spool: spans a process could not deliver before exiting (backend down) are kept in the store
file and sent by a later process with the same endpoint and key. Real processes, the real backend."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from backend_fixtures import ApiClient, BackendServer, create_project, free_port
from core_helpers import REPO
from test_end_to_end import run_agent, sdk_env, wait_for_session

LATER = """
import agentops_otel
agentops_otel.init(auto_start_session=False, instrument_llm_calls=False)
print(agentops_otel.get_client().flush(10), flush=True)
"""


def spooled(store: Path) -> list[tuple[str, int]]:
    """``(traces_url, spans)`` of every spool row in the store file."""
    if not store.exists():
        return []
    with sqlite3.connect(store) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'spool'").fetchone():
            return []
        return [(url, n) for url, n in conn.execute("SELECT traces_url, spans FROM spool ORDER BY id")]


def run_later(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "later.py"
    script.write_text(LATER)
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90)


def run_while_down(tmp_path: Path, url: str, key: str, store: Path, **extra: str) -> tuple[str, str]:
    """The agent of test_end_to_end against ``url`` where nothing listens; its session id and stderr."""
    env = sdk_env(url, key, AGENTOPS_DB=str(store), AGENTOPS_SHUTDOWN_TIMEOUT="1.5", **extra)
    proc = run_agent(tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0], proc.stderr


def test_spans_left_at_exit_are_spooled_and_sent_by_the_next_process(tmp_path: Path) -> None:
    db = str(tmp_path / "backend.db")
    project = create_project(db)
    url = f"http://127.0.0.1:{free_port()}"
    store = tmp_path / "client.db"
    sid, stderr = run_while_down(tmp_path, url, project["api_key"], store)
    rows = spooled(store)
    assert rows and all(traces_url == url + "/v1/traces" for traces_url, _ in rows)
    total = sum(n for _, n in rows)
    assert re.search(rf"\b{total} spooled in {re.escape(str(store))}", stderr), stderr
    assert re.search(r"\b0 lost\b", stderr), stderr
    with sqlite3.connect(store) as conn:  # only the key's SHA-256 is written, never the key
        dump = "\n".join(conn.iterdump())
        fingerprints = {f for (f,) in conn.execute("SELECT key_fingerprint FROM spool")}
    assert project["api_key"] not in dump
    assert fingerprints == {hashlib.sha256(project["api_key"].encode()).hexdigest()}

    server = BackendServer(db, int(url.rsplit(":", 1)[1])).start()
    try:
        later = run_later(tmp_path, sdk_env(url, project["api_key"], AGENTOPS_DB=str(store)))
        assert later.returncode == 0, later.stderr
        assert later.stdout.split() == ["True"]
        session = wait_for_session(ApiClient(url), project["api_key"], sid)
        assert session["span_count"] == 6
        assert session["end_state"] == "Success" and session["end_state_reason"] == "all good"
        assert spooled(store) == []
    finally:
        server.stop()


def test_another_key_or_endpoint_leaves_the_spool_alone(tmp_path: Path, backend: BackendServer) -> None:
    db = str(tmp_path / "backend.db")
    project = create_project(db)
    other = create_project(db)
    url = f"http://127.0.0.1:{free_port()}"
    store = tmp_path / "client.db"
    sid, _ = run_while_down(tmp_path, url, project["api_key"], store)
    rows = spooled(store)
    assert rows

    server = BackendServer(db, int(url.rsplit(":", 1)[1])).start()
    try:
        # Same endpoint, another key; then the same key at another backend (which refuses it).
        for env in (
            sdk_env(url, other["api_key"], AGENTOPS_DB=str(store)),
            sdk_env(backend.url, project["api_key"], AGENTOPS_DB=str(store)),
        ):
            later = run_later(tmp_path, env)
            assert later.returncode == 0, later.stderr
        assert spooled(store) == rows
        api = ApiClient(url)
        assert api.session(api.token(project["api_key"]), sid) is None
        assert api.session(api.token(other["api_key"]), sid) is None
        # The right key at the right endpoint still gets them.
        later = run_later(tmp_path, sdk_env(url, project["api_key"], AGENTOPS_DB=str(store)))
        assert later.stdout.split() == ["True"], later.stderr
        assert wait_for_session(api, project["api_key"], sid)["span_count"] == 6
    finally:
        server.stop()


def test_without_the_spool_undelivered_spans_are_lost_and_counted(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = tmp_path / "client.db"
    _, stderr = run_while_down(tmp_path, url, "some-key", store, AGENTOPS_SPOOL="0")
    lost = re.search(r"(\d+) span\(s\) not delivered", stderr)
    assert lost and int(lost.group(1)) >= 6, stderr
    assert "spooled" not in stderr
    assert spooled(store) == []


def test_a_rejected_key_is_not_spooled(tmp_path: Path, backend: BackendServer) -> None:
    store = tmp_path / "client.db"
    env = sdk_env(backend.url, "not-a-real-key", AGENTOPS_DB=str(store), AGENTOPS_SHUTDOWN_TIMEOUT="1.5")
    proc = run_agent(tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("invalid API key") == 1
    assert "spooled" not in proc.stderr
    assert spooled(store) == []


CLAIMER = """
import json, sys
from agentops_otel.store.spool import Spool
spool = Spool(sys.argv[1], "http://127.0.0.1:9/v1/traces", "key")
sys.stdin.readline()  # all start claiming together
taken = []
while (row := spool.claim(busy=10)) is not None:
    taken.append(row[1].decode())
    spool.settle(row[0], remove=True, busy=10)
print(json.dumps(taken))
"""


def test_processes_starting_together_take_each_row_once(tmp_path: Path) -> None:
    store = tmp_path / "client.db"
    sys.path.insert(0, str(REPO / "src"))
    from agentops_otel.store.spool import Spool

    spool = Spool(str(store), "http://127.0.0.1:9/v1/traces", "key")
    bodies = [(1, f"body-{i}".encode()) for i in range(60)]
    assert spool.put(bodies, busy=5) == 60
    Spool(str(store), "http://127.0.0.1:9/v1/traces", "other-key").put([(1, b"not ours")], busy=5)
    script = tmp_path / "claim.py"
    script.write_text(CLAIMER)
    env = sdk_env(None, None)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(store)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    taken: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        taken += json.loads(out)
    assert sorted(taken) == sorted(body.decode() for _, body in bodies)  # each once, all of them
    assert spooled(store) == [("http://127.0.0.1:9/v1/traces", 1)]  # the other key's row stays


def test_put_keeps_the_newest_under_the_size_cap_and_counts_what_it_dropped(tmp_path: Path) -> None:
    from agentops_otel.store.spool import Spool

    spool = Spool(str(tmp_path / "s.db"), "http://127.0.0.1:9/v1/traces", "key")
    other = Spool(str(tmp_path / "s.db"), "http://127.0.0.1:10/v1/traces", "key")
    assert other.put([(3, b"o" * 400)], busy=5) == 3
    for i in range(5):
        assert spool.put([(2, bytes([65 + i]) * 400)], busy=5, max_bytes=1000) == 2
    assert [(n, size) for n, size in [(r[1], len(r[0])) for r in _rows(tmp_path / "s.db")]] == [(2, 400)] * 2
    assert spool.pruned == 3 * 2 + 3  # the other destination's row is the oldest: it went first
    # A batch over the cap by itself is not kept (and not counted as pruned: it was never stored).
    assert spool.put([(9, b"x" * 2000)], busy=5, max_bytes=1000) == 0


def test_claim_drops_rows_older_than_the_age_limit(tmp_path: Path) -> None:
    import time

    from agentops_otel.store.spool import Spool

    spool = Spool(str(tmp_path / "s.db"), "http://127.0.0.1:9/v1/traces", "key")
    spool.put([(4, b"old")], busy=5)
    time.sleep(0.3)
    spool.put([(1, b"new")], busy=5)
    row = spool.claim(max_age=0.2)
    assert row is not None and row[1] == b"new"
    assert spool.pruned == 4
    assert spool.claim(max_age=0.2) is None


def _rows(store: Path) -> list[tuple[bytes, int]]:
    with sqlite3.connect(store) as conn:
        return [(bytes(b), int(n)) for b, n in conn.execute("SELECT body, spans FROM spool ORDER BY id")]
