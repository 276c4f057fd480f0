"""The CLI never sends its bearer token to another host: a backend answering with a redirect elsewhere
(the field tests: urllib followed it with ``Authorization``) is an error; a redirect within the same
origin is followed, token and all."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from backend_fixtures import run_cli


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, redirect_to: str | None = None) -> None:
        super().__init__((host, 0), _Handler)
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self.redirect_to = redirect_to

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Recorder

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.server.seen.append(("POST", self.path, self.headers.get("Authorization")))
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(200, {"token": "secret-token", "project_id": "p"})

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path, self.headers.get("Authorization")))
        if self.path.startswith("/api/sessions") and self.server.redirect_to is not None:
            self._send(302, {}, {"Location": self.server.redirect_to + "/moved" + self.path})
            return
        self._send(200, {"sessions": []})


@pytest.fixture
def servers() -> Iterator[tuple[_Recorder, _Recorder]]:
    other = _Recorder("127.0.0.2")  # another host (the whole 127/8 is this machine's loopback)
    first = _Recorder("127.0.0.1", redirect_to=other.url)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (first, other)]
    for thread in threads:
        thread.start()
    yield first, other
    for server in (first, other):
        server.shutdown()
        server.server_close()


def test_a_redirect_to_another_host_is_refused_without_sending_the_token(
    servers: tuple[_Recorder, _Recorder],
) -> None:
    first, other = servers
    done = run_cli("sessions", "--endpoint", first.url, "--api-key", "k", "--json")
    assert done.returncode == 1
    assert "redirected (302) to another host" in done.stderr and other.url in done.stderr
    assert other.seen == []  # not a request, so not the token
    assert ("GET", "/api/sessions?limit=50&offset=0", "Bearer secret-token") in first.seen


def test_a_redirect_to_another_port_of_the_same_host_is_another_origin(
    servers: tuple[_Recorder, _Recorder],
) -> None:
    first, _ = servers
    elsewhere = _Recorder("127.0.0.1")
    thread = threading.Thread(target=elsewhere.serve_forever, daemon=True)
    thread.start()
    try:
        first.redirect_to = elsewhere.url
        done = run_cli("sessions", "--endpoint", first.url, "--api-key", "k", "--json")
        assert done.returncode == 1 and "another host" in done.stderr
        assert elsewhere.seen == []
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()


def test_a_redirect_within_the_backend_is_followed_with_the_token(
    servers: tuple[_Recorder, _Recorder],
) -> None:
    first, _ = servers
    first.redirect_to = first.url  # /api/sessions -> /moved/api/sessions on the same origin
    done = run_cli("sessions", "--endpoint", first.url, "--api-key", "k", "--json")
    assert done.returncode == 0, done.stderr
    assert ("GET", "/moved/api/sessions?limit=50&offset=0", "Bearer secret-token") in first.seen
