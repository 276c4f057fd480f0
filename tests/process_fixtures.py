"""Helpers of the cross-process session tests: child scripts pointed at the real backend, and a wait
for the backend to hold what a session should hold (spans arrive from several processes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from backend_fixtures import ApiClient, BackendServer


def backend_env(backend: BackendServer, project: dict[str, str]) -> dict[str, str]:
    """What a child process needs to export to the test backend (and nothing else from the host)."""
    return {
        "AGENTOPS_API_ENDPOINT": backend.url,
        "AGENTOPS_API_KEY": project["api_key"],
        "AGENTOPS_ENV_DATA_OPT_OUT": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


def wait_for_session(
    api: ApiClient,
    project: dict[str, str],
    session_id: str,
    ready: Callable[[dict[str, Any]], bool],
    timeout: float = 20.0,
) -> dict[str, Any]:
    """The backend's ``GET /api/sessions/{id}`` once ``ready`` says so (or the last answer at timeout)."""
    token = api.token(project["api_key"])
    deadline = time.monotonic() + timeout
    session = api.session(token, session_id)
    while (session is None or not ready(session)) and time.monotonic() < deadline:
        time.sleep(0.2)
        session = api.session(token, session_id)
    assert session is not None, f"session {session_id} never reached the backend"
    return session


def spans_named(session: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in session["spans"] if s["name"] == name]


def assert_one_trace(session: dict[str, Any]) -> None:
    """Every span is in the session's trace, carries its id, and hangs off a span of the session."""
    sid = session["session_id"]
    ids = {s["span_id"] for s in session["spans"]}
    roots = [s for s in session["spans"] if s["parent_span_id"] is None]
    assert [r["name"] for r in roots] == ["agentops.session"], roots
    for span in session["spans"]:
        assert span["trace_id"] == sid.replace("-", ""), span
        assert span["attributes"].get("session.id") == sid, span
        assert span["parent_span_id"] is None or span["parent_span_id"] in ids, f"orphan {span['name']}"
