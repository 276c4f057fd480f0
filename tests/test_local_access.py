"""``agentops-otel serve`` on 127.0.0.1 over the default store lets the dashboard read the local project
without a key (``POST /api/local/token``), and only then: real ``serve`` processes and a session
written by the real SDK into the local store. The dashboard's side, in Chromium, is in
tests/test_dashboard_local.py."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from agentops_otel._config import default_db_path
from agentops_otel.backend.local_access import is_loopback_host, peer_uid
from backend_fixtures import BackendServer
from core_helpers import run_script

RECORD = """
import agentops_otel as agentops
sid = agentops.init(tags=["local-access"])  # no endpoint, no key: the local store
agentops.record(agentops.ToolEvent(name="lookup"))
agentops.end_session("Success")
print(sid)
"""


@pytest.fixture(scope="module")
def default_store_server() -> Iterator[BackendServer]:
    """``serve`` with no ``--db``: the default store (under the test run's XDG_DATA_HOME)."""
    server = BackendServer(default_db_path())
    server.start()
    yield server
    server.stop()


def local_token(url: str, **headers: str) -> requests.Response:
    return requests.post(url + "/api/local/token", headers=headers, timeout=10)


def test_the_local_project_is_read_without_a_key(default_store_server: BackendServer, tmp_path: Path) -> None:
    recorded = run_script(RECORD, tmp_path)
    assert recorded.returncode == 0, recorded.stderr
    session_id = recorded.stdout.strip()

    answer = local_token(default_store_server.url)
    assert answer.status_code == 200, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['token']}"}
    found = requests.get(f"{default_store_server.url}/api/sessions/{session_id}", headers=bearer, timeout=10)
    assert found.status_code == 200, found.text
    assert (found.json()["tags"], found.json()["tool_calls"]) == (["local-access"], 1)
    listed = requests.get(
        f"{default_store_server.url}/api/sessions?tag=local-access", headers=bearer, timeout=10
    )
    assert session_id in [s["session_id"] for s in listed.json()["sessions"]]


def test_pages_of_other_origins_and_rebound_host_names_get_nothing(
    default_store_server: BackendServer,
) -> None:
    url = default_store_server.url
    port = url.rsplit(":", 1)[1]
    assert local_token(url, Origin=f"http://127.0.0.1:{port}").status_code == 200  # the dashboard itself
    assert local_token(url, Origin="http://evil.example").status_code == 403
    assert local_token(url, Origin="null").status_code == 403
    refused = local_token(url, Host=f"evil.example:{port}")  # DNS rebinding: refused by the Host check
    assert refused.status_code == 400 and "Host" in refused.json()["error"]


def test_another_store_has_no_local_access(tmp_path: Path) -> None:
    server = BackendServer(str(tmp_path / "other.db")).start()
    try:
        answer = local_token(server.url)
        assert answer.status_code == 404 and "sign in with a key" in answer.json()["error"]
    finally:
        server.stop()


def test_the_peer_socket_owner_is_found(tmp_path: Path) -> None:
    if not os.path.exists("/proc/net/tcp"):
        pytest.skip("no /proc/net/tcp here (not Linux): the owner check is not made")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server_port = listener.getsockname()[1]
        accepted: list[Any] = []
        threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
        with socket.create_connection(("127.0.0.1", server_port)) as client:
            host, port = client.getsockname()
            assert peer_uid(host, port, server_port) == os.getuid()
            assert peer_uid(host, port, server_port + 1 if server_port < 65535 else 1) == -1
        for conn, _ in accepted:
            conn.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:8000", True),
        ("localhost", True),
        ("[::1]:8000", True),
        ("127.1.2.3", True),
        ("evil.example:8000", False),
        ("0.0.0.0", False),
        ("", False),
    ],
)
def test_loopback_host_names(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
