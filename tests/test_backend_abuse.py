"""The backend under abuse, as a real ``agentops-otel serve``: stalled and trickling uploads, a large
unauthenticated token body, DNS rebinding, a full disk, a store made read-only while serving."""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from backend_fixtures import (
    ApiClient,
    BackendServer,
    SpanMaker,
    create_project,
    encode,
    partial_success,
    run_cli,
    status_of,
)

# Short timeouts, so that the tests wait little; the defaults are 30 s and 10 s.
BODY_TIMEOUT = "2"
HEADER_TIMEOUT = "2"


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServer]:
    db = str(tmp_path_factory.mktemp("abuse") / "store.db")
    server = BackendServer(
        db,
        None,
        "--max-inflight", "2",
        "--body-timeout", BODY_TIMEOUT,
        "--header-timeout", HEADER_TIMEOUT,
        "--allowed-host", "dash.example.test",
    ).start()  # fmt: skip
    yield server
    server.stop()


def _raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection (or ``deadline`` passes)."""
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the server did not close the connection; it sent {data[:200]!r}")


def _session_posted(api: ApiClient, bearer: str) -> str:
    session_id, marker, rest = SpanMaker().session()
    response = api.post_traces(bearer, encode(marker + rest))
    assert response.status_code == 200, response.text
    return session_id


def test_stalled_uploads_hold_no_ingest_slot(strict: BackendServer) -> None:
    """Eight authenticated uploads that announce 1 MB and stall (the field tests' attack: every other
    ingest answered 503 for 81 s and more) hold connections only: meanwhile other clients are served,
    and each stalled upload gets 408 when its body timeout passes."""
    project = create_project(strict.db)
    api = ApiClient(strict.url)
    token = api.token(project["api_key"])
    stalled = []
    for _ in range(8):
        sock = _raw(strict.port)
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 1000000\r\n\r\nabc"
        )
        stalled.append(sock)
    try:
        served = [_session_posted(api, token) for _ in range(4)]  # max-inflight is 2
        assert len(api.sessions(token)) == 4 and set(served) == {s["session_id"] for s in api.sessions(token)}
        deadline = time.monotonic() + 30
        for sock in stalled:
            answer = _read_until_closed(sock, deadline)
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b"did not arrive within" in answer
    finally:
        for sock in stalled:
            sock.close()


def test_trickled_or_idle_headers_are_cut_off(strict: BackendServer) -> None:
    """A client that sends a request's headers a byte at a time, or nothing at all, is disconnected
    after the header timeout, whatever it sends meanwhile; a normal client is served throughout."""
    api = ApiClient(strict.url)
    idle = _raw(strict.port)
    trickle = _raw(strict.port)
    stop = threading.Event()

    def drip() -> None:
        with contextlib.suppress(OSError):
            for byte in b"GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000:
                if stop.wait(0.2):
                    return
                trickle.send(bytes([byte]))

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        assert api.get("/api/sessions", None).status_code == 401  # served meanwhile
        deadline = time.monotonic() + 30
        assert _read_until_closed(idle, deadline) == b""
        assert _read_until_closed(trickle, deadline) == b""
        # A kept-alive connection whose next request trickles is cut off the same way.
        kept = _raw(strict.port)
        kept.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        kept.settimeout(10)
        assert kept.recv(12) == b"HTTP/1.1 200"
        kept.sendall(b"GET /openapi.json HTTP/1.1\r\n")
        _read_until_closed(kept, deadline)
        kept.close()
    finally:
        stop.set()
        dripper.join(5)
        idle.close()
        trickle.close()


def test_the_token_route_takes_small_json_bodies_only(strict: BackendServer) -> None:
    project = create_project(strict.db)
    url = strict.url + "/v3/auth/token"
    # 512 MiB announced: refused before a byte of it is read.
    connection = http.client.HTTPConnection("127.0.0.1", strict.port, timeout=10)
    connection.putrequest("POST", "/v3/auth/token")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(512 * 1024 * 1024))
    connection.endheaders()
    connection.send(b'{"api_key": "')
    answer = connection.getresponse()
    assert answer.status == 413 and answer.getheader("Connection") == "close"
    connection.close()

    # Chunked, no length: cut off past 4 KiB.
    def chunks() -> Iterator[bytes]:
        yield b'{"api_key": "'
        for _ in range(10_000):
            yield b"x" * 1024

    chunked = requests.post(url, data=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
    assert chunked.status_code == 413
    # What a cross-site form or fetch without a preflight can send: not JSON, so 415.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        plain = requests.post(
            url,
            data=f'{{"api_key": "{project["api_key"]}"}}',
            headers={"Content-Type": content_type},
            timeout=10,
        )
        assert plain.status_code == 415, content_type
    # A browser's preflight is not answered with CORS headers, so it never sends the JSON request.
    preflight = requests.options(
        url, headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers
    assert requests.post(url, json={"api_key": project["api_key"]}, timeout=10).status_code == 200


def test_host_is_checked_against_dns_rebinding(strict: BackendServer) -> None:
    project = create_project(strict.db)
    bearer = {"Authorization": f"Bearer {project['api_key']}"}
    path = strict.url + "/api/sessions"

    def status(host: str | None, url: str = path) -> int:
        headers = dict(bearer)
        if host is not None:
            headers["Host"] = host
        return requests.get(url, headers=headers, timeout=10).status_code

    # A page of the attacker's name, rebound to 127.0.0.1, carries its own name in Host.
    assert status(f"rebind.attacker.test:{strict.port}") == 400
    assert status("127.0.0.1.attacker.test") == 400
    assert status("localhost.attacker.test") == 400
    for allowed in (
        f"127.0.0.1:{strict.port}",
        f"localhost:{strict.port}",
        f"[::1]:{strict.port}",
        "app.localhost",
        "192.0.2.10",  # an address of this machine reached directly: no name to rebind
        f"dash.example.test:{strict.port}",  # --allowed-host
    ):
        assert status(allowed) == 200, allowed
    refused = requests.get(path, headers={**bearer, "Host": "evil.test"}, timeout=10)
    assert "--allowed-host" in refused.json()["error"]
    # On /v1/traces the refusal is an OTLP Status in the request's encoding.
    otlp = requests.post(
        strict.url + "/v1/traces",
        data=b"",
        headers={**bearer, "Host": "evil.test", "Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert otlp.status_code == 400 and "not allowed" in status_of(otlp)[1]
    # HTTP/1.0 without Host (no browser sends that) is served.
    with socket.create_connection(("127.0.0.1", strict.port), timeout=10) as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.0\r\n\r\n")
        assert sock.recv(12) == b"HTTP/1.1 200"


# -- the disk ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(directory: Path) -> Path:
    """Fill the file system of ``directory``, leaving nothing free."""
    filler = directory / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as out:
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_a_full_disk_is_503_with_retry_after_and_reads_go_on(tmp_path: Path) -> None:
    """A full disk was a 500, after which the SDK dropped every span; now a 503 that says to wait."""
    with _tmpfs(tmp_path / "small", "4m") as disk:
        db = str(disk / "store.db")
        project = create_project(db)
        server = BackendServer(db).start()
        try:
            api = ApiClient(server.url)
            token = api.token(project["api_key"])
            first = _session_posted(api, token)
            filler = _fill(disk)
            maker = SpanMaker()
            big = {"agentops.span.kind": "tool", "payload": "x" * 200_000}
            answers = []
            for _ in range(20):
                _, marker, rest = maker.session(children=[("t", big, None)] * 5)
                answers.append(api.post_traces(token, encode(marker + rest)))
                if answers[-1].status_code != 200:
                    break
            full = answers[-1]
            assert full.status_code == 503, [a.status_code for a in answers]
            assert full.headers["Retry-After"] == "30"
            assert "full" in status_of(full)[1]
            # Reads still work, and the session stored before the disk filled is intact.
            assert api.session(token, first) is not None
            # Space again: ingest works again without a restart.
            filler.unlink()
            assert partial_success(api.post_traces(token, encode(marker + rest)))[0] == 0
        finally:
            server.stop()


def test_a_read_only_store_is_served_for_reading(tmp_path: Path) -> None:
    """``serve`` and the CLI on a store they cannot write (a read-only mount of it): reads work,
    writes are 503 + Retry-After (the field tests: neither could even open it)."""
    with _tmpfs(tmp_path / "rw", "16m") as disk:
        db = str(disk / "store.db")
        project = create_project(db)
        writer = BackendServer(db).start()  # keeps the store open, as a running server would
        view = tmp_path / "ro"
        view.mkdir()
        try:
            api = ApiClient(writer.url)
            first = _session_posted(api, api.token(project["api_key"]))
            for command in (
                ["mount", "--bind", str(disk), str(view)],
                ["mount", "-o", "remount,bind,ro", str(view)],
            ):
                done = subprocess.run(command, capture_output=True)
                assert done.returncode == 0, done.stderr
            reader = BackendServer(str(view / "store.db")).start()
            try:
                ro = ApiClient(reader.url)
                assert ro.session(project["api_key"], first) is not None  # the API key reads
                assert [s["session_id"] for s in ro.sessions(project["api_key"])] == [first]
                _, marker, rest = SpanMaker().session()
                refused = ro.post_traces(project["api_key"], encode(marker + rest))
                assert refused.status_code == 503 and refused.headers["Retry-After"] == "30"
                assert "read-only" in status_of(refused)[1]
                issued = requests.post(
                    reader.url + "/v3/auth/token", json={"api_key": project["api_key"]}, timeout=10
                )
                assert issued.status_code == 503 and issued.headers["Retry-After"] == "30"
            finally:
                reader.stop()
            listed = run_cli("sessions", "--db", str(view / "store.db"), "--json")
            assert listed.returncode == 0, listed.stderr
            assert first in listed.stdout
        finally:
            subprocess.run(["umount", "-l", str(view)], capture_output=True)
            writer.stop()
