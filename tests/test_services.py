"""Services join their callers' sessions (SPEC section 4, issue 10): a client process in a session calls a
FastAPI service and a Flask service, each of which has a session of its own and calls the OpenAI SDK
(against a canned server on 127.0.0.1). Every process is real; spans go to the real backend.

Run twice: all three under ``opentelemetry-instrument`` with files that never import agentops_otel
(the FastAPI service with our distro and configurator, the Flask service with the stock ones and
``OTEL_TRACES_EXPORTER=agentops``), and all three in code (``init()`` and the contrib instrumentors).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend_fixtures import ApiClient, BackendServer, free_port
from canned_openai import CannedChat
from llm_fixtures import CHAT_COMPLETION
from process_fixtures import assert_one_trace, backend_env, wait_for_session
from test_opentelemetry_instrument import INSTRUMENT
from tests.core_helpers import REPO

pytest.importorskip("fastapi")
pytest.importorskip("flask")
pytest.importorskip("opentelemetry.instrumentation.fastapi")
pytest.importorskip("opentelemetry.instrumentation.flask")

CHAT = """
def chat(text):
    reply = llm.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    return reply.choices[0].message.content
"""

FASTAPI_APP = (
    """
import os
import uvicorn
from fastapi import FastAPI
from openai import OpenAI

llm = OpenAI()
app = FastAPI()
"""
    + CHAT
    + """
@app.get("/plan")
def plan():
    return {"text": chat("plan")}

@app.get("/health")
def health():
    return {}
"""
)
FASTAPI_RUN = """
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
"""
FASTAPI_IN_CODE = """
import agentops_otel
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
agentops_otel.init()
FastAPIInstrumentor.instrument_app(app)
"""

FLASK_APP = (
    """
import os
from flask import Flask
from openai import OpenAI

llm = OpenAI()
app = Flask("summarizer")
"""
    + CHAT
    + """
@app.post("/summarize")
def summarize():
    return {"text": chat("summarize")}

@app.get("/health")
def health():
    return {}
"""
)
FLASK_RUN = """
app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
"""
FLASK_IN_CODE = """
import agentops_otel
from opentelemetry.instrumentation.flask import FlaskInstrumentor
agentops_otel.init()
FlaskInstrumentor().instrument_app(app)
"""

CLIENT_APP = (
    """
import os
import httpx
import requests
from openai import OpenAI

llm = OpenAI()
"""
    + CHAT
    + """
chat("hello")
print(requests.get(os.environ["FASTAPI_URL"] + "/plan", timeout=30).json()["text"])
print(httpx.post(os.environ["FLASK_URL"] + "/summarize", timeout=30).json()["text"])
"""
)
CLIENT_IN_CODE = """
import agentops_otel
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
agentops_otel.init()
RequestsInstrumentor().instrument()
HTTPXClientInstrumentor().instrument()
"""

AGENTOPS_DISTRO = {"OTEL_PYTHON_DISTRO": "agentops", "OTEL_PYTHON_CONFIGURATOR": "agentops"}
STOCK_DISTRO = {
    "OTEL_PYTHON_DISTRO": "distro",
    "OTEL_PYTHON_CONFIGURATOR": "configurator",
    "OTEL_TRACES_EXPORTER": "agentops",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_", "OPENAI_"))}
    return {**base, "PYTHONPATH": str(REPO / "src"), **extra}


def _command(script: Path, zero_code: bool) -> list[str]:
    return [INSTRUMENT, sys.executable, str(script)] if zero_code else [sys.executable, str(script)]


class Service:
    """A service process on a free port, ready once ``/health`` answers."""

    def __init__(self, tmp_path: Path, name: str, body: str, env: dict[str, str], zero_code: bool) -> None:
        script = tmp_path / f"{name}.py"
        script.write_text(body)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            _command(script, zero_code),
            env=_env({**env, "PORT": str(self.port)}),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{name} exited: {self.stop()}")
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{name} did not start: {self.stop()}")

    def stop(self) -> str:
        """SIGTERM (our handler flushes), then its stderr."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.stderr.read() if self.process.stderr else ""


@pytest.fixture
def openai_server() -> Iterator[CannedChat]:
    with CannedChat() as server:
        yield server


def _sessions_tagged(api: ApiClient, project: dict[str, str], tag: str) -> list[dict[str, Any]]:
    return api.sessions(api.token(project["api_key"]), tag=tag)


def _named(session: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in session["spans"] if s["name"] == name]


@pytest.mark.parametrize("zero_code", [True, False], ids=["opentelemetry-instrument", "in-code"])
def test_services_join_the_callers_session(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    openai_server: CannedChat,
    zero_code: bool,
) -> None:
    common = {
        **backend_env(backend, project),
        "OPENAI_BASE_URL": openai_server.url,
        "OPENAI_API_KEY": "sk-test",
        "AGENTOPS_SHUTDOWN_TIMEOUT": "5",
    }
    if zero_code:
        fastapi_body, flask_body, client_body = (
            FASTAPI_APP + FASTAPI_RUN,
            FLASK_APP + FLASK_RUN,
            CLIENT_APP,
        )
        fastapi_env = {**common, **AGENTOPS_DISTRO, "AGENTOPS_TAGS": "fastapi-service"}
        flask_env = {**common, **STOCK_DISTRO, "AGENTOPS_TAGS": "flask-service"}
        client_env = {**common, **AGENTOPS_DISTRO, "AGENTOPS_TAGS": "client"}
    else:
        fastapi_body = FASTAPI_APP + FASTAPI_IN_CODE + FASTAPI_RUN
        flask_body = FLASK_APP + FLASK_IN_CODE + FLASK_RUN
        client_body = CLIENT_IN_CODE + CLIENT_APP
        fastapi_env = {**common, "AGENTOPS_TAGS": "fastapi-service"}
        flask_env = {**common, "AGENTOPS_TAGS": "flask-service"}
        client_env = {**common, "AGENTOPS_TAGS": "client"}

    fastapi_service = Service(tmp_path, "fastapi_service", fastapi_body, fastapi_env, zero_code)
    try:
        flask_service = Service(tmp_path, "flask_service", flask_body, flask_env, zero_code)
    except BaseException:
        fastapi_service.stop()
        raise
    try:
        script = tmp_path / "client.py"
        script.write_text(client_body)
        env = {**client_env, "FASTAPI_URL": fastapi_service.url, "FLASK_URL": flask_service.url}
        proc = subprocess.run(
            _command(script, zero_code),
            env=_env(env),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        errors = fastapi_service.stop(), flask_service.stop()
    assert proc.returncode == 0, (proc.stderr, errors)
    assert proc.stdout.split() == ["Hello", "there!", "Hello", "there!"], proc.stdout

    (listed,) = _sessions_tagged(api, project, "client")
    session = wait_for_session(
        api, project, listed["session_id"], lambda s: s["end_time"] is not None and s["llm_calls"] >= 3
    )
    assert_one_trace(session)  # every span of the three processes in the caller's trace and session
    by_id = {s["span_id"]: s for s in session["spans"]}
    assert session["llm_calls"] == 3, [s["name"] for s in session["spans"]]  # each call counted once
    assert len(_named(session, "chat gpt-4o-mini")) == 3
    assert session["prompt_tokens"] == 3 * CHAT_COMPLETION["usage"]["prompt_tokens"]

    # The FastAPI server span continues the requests client span; the service's LLM call is under it.
    (plan,) = _named(session, "GET /plan")
    assert by_id[plan["parent_span_id"]]["name"] == "GET"
    assert by_id[plan["parent_span_id"]]["attributes"].get("http.url", "").startswith(fastapi_service.url)
    # The Flask server span continues the httpx client span.
    (summarize,) = _named(session, "POST /summarize")
    assert by_id[summarize["parent_span_id"]]["name"] == "POST"
    for server in (plan, summarize):
        under = [s for s in session["spans"] if _descends_from(s, server["span_id"], by_id)]
        assert [s["name"] for s in under if s["kind"] == "llm"] == ["chat gpt-4o-mini"], under

    # The services' own sessions kept only what came without a session (the health checks).
    for tag in ("fastapi-service", "flask-service"):
        (own,) = _sessions_tagged(api, project, tag)
        own = wait_for_session(api, project, own["session_id"], lambda s: s["end_time"] is not None)
        assert own["llm_calls"] == 0, own["spans"]
        assert any(s["name"].endswith("/health") for s in own["spans"]), own["spans"]
        assert not any(s["name"] in ("GET /plan", "POST /summarize") for s in own["spans"])


def _descends_from(span: dict[str, Any], ancestor: str, by_id: dict[str, dict[str, Any]]) -> bool:
    parent = span["parent_span_id"]
    while parent is not None:
        if parent == ancestor:
            return True
        parent = by_id[parent]["parent_span_id"] if parent in by_id else None
    return False
