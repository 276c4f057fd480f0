"""Sessions cross HTTP services in W3C headers. Two services on 127.0.0.1, each a real process with
agentops_otel (no session of its own): one Starlette app behind the contrib ASGI middleware, one plain
http.server using only opentelemetry.propagate.extract. A client process in a session calls both with
the contrib requests and httpx instrumentations, then sends a spoofed and a malformed session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from backend_fixtures import ApiClient, BackendServer, free_port
from process_fixtures import assert_one_trace, backend_env, spans_named, wait_for_session
from tests.core_helpers import REPO, run_script

SERVICE_ASGI = """
import os, uvicorn
import agentops_otel
from agentops_otel import tool
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

agentops_otel.init(auto_start_session=False, instrument_llm_calls=False)

@tool(name="service-a-work")
def work():
    return "a"

async def handle(request):
    work()
    return JSONResponse({"traceparent": request.headers.get("traceparent"), "baggage": request.headers.get("baggage")})

app = OpenTelemetryMiddleware(Starlette(routes=[Route("/work", handle)]))
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
"""

SERVICE_PLAIN = """
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry import context, propagate
import agentops_otel
from agentops_otel import tool

agentops_otel.init(auto_start_session=False, instrument_llm_calls=False)

@tool(name="service-b-work")
def work():
    return "b"

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/rejected":
            body = {"rejected": agentops_otel.get_client().rejected_inbound_sessions}
        else:
            token = context.attach(propagate.extract(dict(self.headers)))
            try:
                work()  # the only span started under the inbound context
            finally:
                context.detach(token)
            body = {"traceparent": self.headers.get("traceparent"), "baggage": self.headers.get("baggage")}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

CLIENT = """
import http.client, json, os, uuid
import httpx, requests
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
import agentops_otel

sid = agentops_otel.init(instrument_llm_calls=False)
RequestsInstrumentor().instrument()
HTTPXClientInstrumentor().instrument()
a = requests.get(os.environ["SERVICE_A"] + "/work", timeout=10).json()
b = httpx.get(os.environ["SERVICE_B"] + "/work", timeout=10).json()

# Outside any instrumentation: headers written by hand, as an attacker would.
host, port = os.environ["SERVICE_B"].rsplit("/", 1)[1].split(":")
def raw(headers):
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/work", headers=headers)
    conn.getresponse().read()
    conn.close()
other_trace = uuid.uuid4().hex
raw({"traceparent": f"00-{other_trace}-{'1' * 16}-01", "baggage": f"session.id={sid}"})  # spoofed
raw({"traceparent": f"00-{uuid.uuid4().hex}-{'2' * 16}-01", "baggage": "session.id=not-a-uuid"})  # malformed
rejected = requests.get(os.environ["SERVICE_B"] + "/rejected", timeout=10).json()["rejected"]
agentops_otel.end_session("Success")
print(json.dumps({"sid": sid, "a": a, "b": b, "rejected": rejected, "other_trace": other_trace}))
"""


class Service:
    def __init__(self, body: str, tmp_path: Path, name: str, env: dict[str, str]) -> None:
        script = tmp_path / f"{name}.py"
        script.write_text(body)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
        self.process = subprocess.Popen(
            [sys.executable, str(script)],
            env={**base, "PYTHONPATH": str(REPO / "src"), "PORT": str(self.port), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read() if self.process.stderr else ""
            try:
                requests.get(self.url + "/", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    def stop(self) -> str:
        """SIGTERM (our handler flushes, then the process dies of it); its stderr."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.stderr.read() if self.process.stderr else ""


@pytest.fixture
def services(
    tmp_path: Path, backend: BackendServer, project: dict[str, str]
) -> Iterator[tuple[Service, Service]]:
    env = backend_env(backend, project)
    a = Service(SERVICE_ASGI, tmp_path, "service_a", env)
    try:
        b = Service(SERVICE_PLAIN, tmp_path, "service_b", env)
    except Exception:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


def test_session_crosses_two_services(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    services: tuple[Service, Service],
) -> None:
    a, b = services
    env = {**backend_env(backend, project), "SERVICE_A": a.url, "SERVICE_B": b.url}
    proc = run_script(CLIENT, tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    sid, hex_id = out["sid"], out["sid"].replace("-", "")

    # What went over the wire: the session's trace in traceparent, the session in baggage.
    for seen in (out["a"], out["b"]):
        assert seen["traceparent"].split("-")[1] == hex_id
        assert f"session.id={sid}" in seen["baggage"]
    assert out["rejected"] == 2  # the spoofed and the malformed session, each ignored once
    a_err, b_err = a.stop(), b.stop()  # flush the services' spans

    session = wait_for_session(
        api, project, sid, lambda s: s["end_time"] is not None and s["tool_calls"] >= 2, timeout=20
    )
    assert_one_trace(session)  # every span of all three processes: session.id, trace, parent in session
    assert session["end_state"] == "Success" and session["errors"] == 0, (a_err, b_err)
    # One tool span per service call; the spoofed/malformed requests' spans stayed out.
    assert session["tool_calls"] == 2
    assert len(spans_named(session, "execute_tool service-a-work")) == 1
    assert len(spans_named(session, "execute_tool service-b-work")) == 1
    assert session["span_count"] == len(session["spans"])
    by_id = {s["span_id"]: s for s in session["spans"]}
    clients = [
        s for s in spans_named(session, "GET") if s["attributes"].get("http.url", "").startswith("http")
    ]
    assert len(clients) == 3  # requests to A, httpx to B, requests to B's /rejected
    # Service A: the ASGI server span continues the client's span; the tool runs inside it.
    (server,) = spans_named(session, "GET /work")
    assert by_id[server["parent_span_id"]]["name"] == "GET"
    (tool_a,) = spans_named(session, "execute_tool service-a-work")
    assert tool_a["parent_span_id"] == server["span_id"]
    # Service B (propagate.extract only): its tool span is a child of the httpx client span.
    (tool_b,) = spans_named(session, "execute_tool service-b-work")
    assert by_id[tool_b["parent_span_id"]]["attributes"]["http.url"].startswith(b.url)
    # The spoofed span is in its own trace, not in the victim's session: a trace that carries no session.
    token = api.token(project["api_key"])
    spoofed = api.get(f"/api/traces/{out['other_trace']}", token).json()
    assert [s["name"] for s in spoofed["spans"]] == ["execute_tool service-b-work"]
    assert "session.id" not in spoofed["spans"][0]["attributes"]
    assert api.session(token, str(uuid.UUID(out["other_trace"]))) is None


def test_warning_when_baggage_propagator_is_missing(tmp_path: Path) -> None:
    body = """
import logging
logging.basicConfig(level=logging.WARNING)
import agentops_otel
agentops_otel.init(instrument_llm_calls=False, auto_start_session=False, db_path="{db}")
"""
    db = tmp_path / "x.db"
    without = run_script(body.format(db=db), tmp_path, env={"OTEL_PROPAGATORS": "tracecontext"})
    assert without.returncode == 0, without.stderr
    assert "baggage propagator is not configured" in without.stderr
    default = run_script(body.format(db=db), tmp_path)
    assert default.returncode == 0, default.stderr
    assert "baggage" not in default.stderr
