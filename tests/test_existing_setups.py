"""``init`` joins the tracing set-ups users already have (issue 10, item 3; docs/existing-setups.md):
Logfire (its own proxy provider), Sentry in OpenTelemetry mode, a provider set after ``init`` (one
warning, and the documented remedy), a user's own exporter (it never sees the start marker). Each is a
fresh process; the OpenAI SDK talks to a canned server on 127.0.0.1; spans go to the real backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backend_fixtures import ApiClient, BackendServer
from canned_openai import USER_PROVIDER, CannedChat, canned_chat  # noqa: F401  (fixture)
from core_helpers import read_spans, run_script
from process_fixtures import assert_one_trace, backend_env, wait_for_session

CHAT = """
from openai import OpenAI
OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
"""


def _run(tmp_path: Path, body: str, env: dict[str, str]) -> tuple[Any, list[dict[str, Any]], str]:
    spans_file = tmp_path / "spans.jsonl"
    proc = run_script(USER_PROVIDER + body, tmp_path, env={**env, "SPANS_FILE": str(spans_file)}, timeout=90)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), read_spans(spans_file), proc.stderr


def _backend_session(api: ApiClient, project: dict[str, str], sid: str) -> dict[str, Any]:
    session = wait_for_session(api, project, sid, lambda s: s["end_time"] is not None and s["llm_calls"] >= 1)
    assert_one_trace(session)
    assert session["llm_calls"] == 1 and session["cost_usd"] > 0
    return session


def test_logfire_configure_then_init(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    """Logfire's own ProxyTracerProvider (unhashable) is joined; Logfire's exporters get the session,
    with session.id scrubbed by default and kept by the scrubbing callback the docs give."""
    pytest.importorskip("logfire")
    body = (
        """
import logfire
def keep_session_id(match):  # the callback of docs/existing-setups.md
    name = match.path[-1] if match.path[:1] == ("attributes",) else ""
    if name == "session.id" or str(name).startswith("agentops.session."):
        return match.value
    return None
scrubbing = logfire.ScrubbingOptions(callback=keep_session_id) if os.environ.get("KEEP") else None
logfire.configure(send_to_logfire=False, console=False, scrubbing=scrubbing,
                  additional_span_processors=[SimpleSpanProcessor(JsonLines())])
import agentops_otel
sid = agentops_otel.init()
with logfire.span("checkout"):
    pass
"""
        + CHAT
        + """
agentops_otel.end_session()
print(json.dumps(sid))
"""
    )
    env = {**backend_env(backend, project), **canned_chat.env()}
    sid, spans, stderr = _run(tmp_path, body, env)
    assert sid is not None, stderr
    session = _backend_session(api, project, sid)
    names = {s["name"] for s in session["spans"]}
    assert {"agentops.session", "checkout", "chat gpt-4o-mini"} <= names
    # Logfire's copy: every span is there; session.id is scrubbed by Logfire's default rules...
    theirs = {s["name"]: s for s in spans}
    assert {"agentops.session", "checkout", "chat gpt-4o-mini"} <= set(theirs)
    assert "agentops.session.start" not in theirs  # the marker is ours
    assert "Scrubbed" in str(theirs["checkout"]["attributes"]["session.id"])
    # ...and kept with the callback of docs/existing-setups.md.
    (tmp_path / "spans.jsonl").unlink()
    sid, spans, _ = _run(tmp_path, body, {**env, "KEEP": "1"})
    kept = {s["name"]: s for s in spans}
    assert kept["checkout"]["attributes"]["session.id"] == sid
    assert kept["agentops.session"]["attributes"]["agentops.session.end_state"] == "Success"


def test_provider_set_after_init_warns_once_and_the_remedy_works(
    tmp_path: Path, backend: BackendServer, project: dict[str, str]
) -> None:
    body = """
import logging
logging.basicConfig(level=logging.WARNING)
import agentops_otel
sid = agentops_otel.init(instrument_llm_calls=False)
late = TracerProvider()
late.add_span_processor(SimpleSpanProcessor(JsonLines()))
trace.set_tracer_provider(late)  # refused by OpenTelemetry: ours is the global one
trace.set_tracer_provider(TracerProvider())  # a second time: no second warning
with trace.get_tracer("app").start_as_current_span("before-remedy"):
    pass
# The remedy the warning and the docs give: add the processors to the global provider.
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(JsonLines()))
with trace.get_tracer("app").start_as_current_span("after-remedy"):
    pass
agentops_otel.end_session()
print(json.dumps(sid))
"""
    sid, spans, stderr = _run(tmp_path, body, backend_env(backend, project))
    assert stderr.count("was set after agentops_otel.init()") == 1, stderr
    assert "add_span_processor" in stderr
    names = [s["name"] for s in spans]
    assert "before-remedy" not in names
    (after,) = [s for s in spans if s["name"] == "after-remedy"]
    assert after["attributes"]["session.id"] == sid
    assert "agentops.session" in names and "agentops.session.start" not in names


def test_users_exporter_never_sees_the_start_marker(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    body = (
        """
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(JsonLines()))
trace.set_tracer_provider(provider)
import agentops_otel
sid = agentops_otel.init()
"""
        + CHAT
        + """
agentops_otel.end_session()
print(json.dumps(sid))
"""
    )
    sid, spans, _ = _run(tmp_path, body, {**backend_env(backend, project), **canned_chat.env()})
    assert sorted(s["name"] for s in spans) == ["agentops.session", "chat gpt-4o-mini"]
    # Our export path has it (the backend lists sessions from their marker, never as a span).
    _backend_session(api, project, sid)


def test_sentry_otel_mode(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    """Sentry's OpenTelemetry set-up (its span processor and propagator on an SDK provider): init joins
    it, and the session is recorded; the propagator sends no traceparent, as the docs say."""
    pytest.importorskip("sentry_sdk")
    body = (
        """
import sentry_sdk
from opentelemetry import propagate
from sentry_sdk.integrations.opentelemetry import SentryPropagator, SentrySpanProcessor
sentry_sdk.init(dsn="http://key@127.0.0.1:9/1", instrumenter="otel", traces_sample_rate=1.0)
provider = TracerProvider()
provider.add_span_processor(SentrySpanProcessor())
trace.set_tracer_provider(provider)
propagate.set_global_textmap(SentryPropagator())
import agentops_otel
sid = agentops_otel.init()
with trace.get_tracer("app").start_as_current_span("checkout"):
    carrier = {}
    propagate.inject(carrier)
"""
        + CHAT
        + """
agentops_otel.end_session()
print(json.dumps({"sid": sid, "headers": sorted(carrier)}))
"""
    )
    out, _, _ = _run(tmp_path, body, {**backend_env(backend, project), **canned_chat.env()})
    assert "traceparent" not in out["headers"]  # Sentry's propagator: sentry-trace and its baggage only
    session = _backend_session(api, project, out["sid"])
    assert {"agentops.session", "checkout", "chat gpt-4o-mini"} <= {s["name"] for s in session["spans"]}


def test_stock_pipeline_other_exporter_never_sees_the_marker(
    tmp_path: Path,
    backend: BackendServer,
    api: ApiClient,
    project: dict[str, str],
    canned_chat: CannedChat,  # noqa: F811
) -> None:
    """``opentelemetry-instrument`` with the stock distro, ``OTEL_TRACES_EXPORTER=agentops,console``:
    the console exporter shows the session but not our start marker; the backend gets both."""
    pytest.importorskip("opentelemetry.distro")
    import os
    import subprocess
    import sys

    from test_opentelemetry_instrument import INSTRUMENT
    from tests.core_helpers import REPO

    script = tmp_path / "app.py"
    script.write_text(CHAT)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_", "OPENAI_"))}
    env = {
        **base,
        **backend_env(backend, project),
        **canned_chat.env(),
        "PYTHONPATH": str(REPO / "src"),
        "OTEL_PYTHON_DISTRO": "distro",
        "OTEL_PYTHON_CONFIGURATOR": "configurator",
        "OTEL_TRACES_EXPORTER": "agentops,console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",  # contrib openai-v2, where installed
    }
    proc = subprocess.run(
        [INSTRUMENT, sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"name": "agentops.session"' in proc.stdout, proc.stdout[-2000:]
    assert '"name": "chat gpt-4o-mini"' in proc.stdout
    assert "agentops.session.start" not in proc.stdout
    (listed,) = api.sessions(api.token(project["api_key"]))
    session = wait_for_session(api, project, listed["session_id"], lambda s: s["llm_calls"] >= 1)
    assert session["llm_calls"] == 1
    assert session["start_time"] is not None
