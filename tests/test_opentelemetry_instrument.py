"""``opentelemetry-instrument python app.py`` of an app that never imports agentops_otel: our distro and
configurator (and, separately, the stock ones with OTEL_TRACES_EXPORTER=agentops) record a session
with its LLM span. The OpenAI SDK talks to a canned server on 127.0.0.1; spans go to the real backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backend_fixtures import ApiClient, BackendServer
from canned_openai import CannedChat, canned_chat  # noqa: F401  (fixture)
from llm_fixtures import CHAT_COMPLETION
from process_fixtures import assert_one_trace, backend_env, wait_for_session
from tests.core_helpers import REPO

INSTRUMENT = str(Path(sys.executable).with_name("opentelemetry-instrument"))

APP = """
from openai import OpenAI

client = OpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY from the environment
reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
print(reply.choices[0].message.content)
"""


def instrument(tmp_path: Path, app: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(app)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_", "OPENAI_"))}
    return subprocess.run(
        [INSTRUMENT, sys.executable, str(script)],
        env={**inherited, "PYTHONPATH": str(REPO / "src"), **env},
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )


def only_session(api: ApiClient, project: dict[str, str]) -> dict[str, Any]:
    sessions = api.sessions(api.token(project["api_key"]))
    assert len(sessions) == 1, sessions
    return sessions[0]


def check_llm_session(session: dict[str, Any]) -> None:
    assert_one_trace(session)
    assert session["llm_calls"] == 1
    assert session["prompt_tokens"] == CHAT_COMPLETION["usage"]["prompt_tokens"]
    assert session["completion_tokens"] == CHAT_COMPLETION["usage"]["completion_tokens"]
    assert session["cost_usd"] > 0
    assert session["end_state"] == "Indeterminate"  # the app never called end_session
    assert "end_session" in (session["end_state_reason"] or "")
    llm = [s for s in session["spans"] if s["kind"] == "llm"]
    assert [s["attributes"]["gen_ai.request.model"] for s in llm] == ["gpt-4o-mini"]
    assert session["span_count"] == len(session["spans"])


def test_agentops_distro_and_configurator(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    env = {
        **backend_env(backend, project),
        **canned_chat.env(),
        "OTEL_PYTHON_DISTRO": "agentops",
        "OTEL_PYTHON_CONFIGURATOR": "agentops",
        "AGENTOPS_TAGS": "auto",
    }
    proc = instrument(tmp_path, APP, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Hello there!"
    assert "Failed to auto initialize" not in proc.stderr
    sid = only_session(api, project)["session_id"]
    session = wait_for_session(api, project, sid, lambda s: s["end_time"] is not None and s["llm_calls"])
    check_llm_session(session)
    assert session["tags"] == ["auto"]
    # the provider request carried no trace headers of ours, though the httpx instrumentation is loaded
    assert canned_chat.headers and all("baggage" not in h for h in canned_chat.headers)
    assert all("traceparent" not in h for h in canned_chat.headers)


def test_disabled_instrumentation_is_honoured(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    env = {
        **backend_env(backend, project),
        **canned_chat.env(),
        "OTEL_PYTHON_DISTRO": "agentops",
        "OTEL_PYTHON_CONFIGURATOR": "agentops",
        # ours, and contrib openai-v2 (entry point "openai") where it is installed
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "agentops_openai,openai",
    }
    proc = instrument(tmp_path, APP, env)
    assert proc.returncode == 0, proc.stderr
    sid = only_session(api, project)["session_id"]
    session = wait_for_session(api, project, sid, lambda s: s["end_time"] is not None)
    assert session["llm_calls"] == 0  # the session exists; nobody instrumented openai
    assert all(s["kind"] != "llm" for s in session["spans"])
    assert_one_trace(session)


def test_stock_distro_with_the_agentops_exporter(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    pytest.importorskip("opentelemetry.distro")
    # The app prints which processors export, to show spans leave once (the backend would hide a
    # duplicate: it keeps each span id once).
    app = (
        APP
        + """
import agentops_otel
from opentelemetry import trace
print(agentops_otel.get_client().export_processor is None)
print(sorted(type(p).__name__ for p in trace.get_tracer_provider()._active_span_processor._span_processors))
"""
    )
    env = {
        **backend_env(backend, project),
        **canned_chat.env(),
        "OTEL_PYTHON_DISTRO": "distro",
        "OTEL_PYTHON_CONFIGURATOR": "configurator",
        "OTEL_TRACES_EXPORTER": "agentops",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    proc = instrument(tmp_path, app, env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "Hello there!"
    assert lines[1] == "True"  # no export processor of ours next to the stock BatchSpanProcessor
    assert json.loads(lines[2].replace("'", '"')) == ["BatchSpanProcessor", "SessionSpanProcessor"]
    sid = only_session(api, project)["session_id"]
    session = wait_for_session(api, project, sid, lambda s: s["end_time"] is not None and s["llm_calls"])
    check_llm_session(session)


def test_broken_settings_never_stop_other_instrumentation(
    tmp_path: Path,
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    """An unreachable backend and a bad exporter name: the app runs, the requests instrumentor still works."""
    app = """
from opentelemetry import trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor
print(RequestsInstrumentor().is_instrumented_by_opentelemetry, type(trace.get_tracer_provider()).__name__)
"""
    env = {
        "AGENTOPS_API_ENDPOINT": "http://127.0.0.1:9",
        "AGENTOPS_API_KEY": "k",
        "AGENTOPS_SHUTDOWN_TIMEOUT": "0.5",
        "OTEL_PYTHON_DISTRO": "agentops",
        "OTEL_PYTHON_CONFIGURATOR": "agentops",
        "OTEL_TRACES_EXPORTER": "agentops,doesnotexist",
    }
    proc = instrument(tmp_path, app, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "TracerProvider"]
    assert "doesnotexist" in proc.stderr  # said once, not fatal
    assert "Failed to auto initialize" not in proc.stderr
