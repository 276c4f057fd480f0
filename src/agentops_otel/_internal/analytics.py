"""``Session.get_analytics()``: a session's figures read back from where its spans went.

The agentops SDK 0.3 asked its backend for them. Here the figures come from the same place the CLI and
the dashboard read: the local store (a SQLite file, no network, or the PostgreSQL database
``AGENTOPS_DB`` names), or the backend's REST API
(``GET /api/sessions/{id}``). Queued spans are flushed first. The whole call waits at most ``timeout``
seconds, on the caller's thread: it is a read the caller asked for, like :meth:`Client.flush`.

Figures count what the backend holds: spans of every process and service in the session that have
been delivered, not spans still open. The AgentOps cloud and a custom ``exporter=`` are not read here
(None, with a note in the log).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from agentops_otel._internal.client import get_client

logger = logging.getLogger("agentops_otel")


def session_analytics(session_id: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """AgentOps's analytics keys (``LLM calls``, ``Tool calls``, ``Actions``, ``Errors``, ``Duration``,
    ``Cost``) plus ``Tokens``, for ``session_id``; None when the figures cannot be read in time."""
    try:
        session = read_session(session_id, timeout)
    except Exception:
        logger.warning("agentops_otel: get_analytics(): could not read session %s", session_id, exc_info=True)
        return None
    if session is None:
        return None
    return {
        "LLM calls": session.get("llm_calls", 0),
        "Tool calls": session.get("tool_calls", 0),
        "Actions": session.get("actions", 0),
        "Errors": session.get("errors", 0),
        "Duration": format_duration(session.get("duration_s")),
        "Cost": format_cost(session.get("cost_usd")),
        "Tokens": session.get("total_tokens", 0),
    }


def read_session(session_id: str, timeout: float) -> dict[str, Any] | None:
    """The session object of SPEC.md section 5, after a flush, from the store or the backend."""
    client = get_client()
    if not client.initialized:
        logger.warning("agentops_otel: get_analytics(): init() was not called")
        return None
    deadline = time.monotonic() + max(timeout, 0.0)
    config = client.config
    client.flush(max(0.0, (deadline - time.monotonic()) * 0.7))
    if config.exporter is not None or config.destination == "cloud":
        logger.info(
            "agentops_otel: get_analytics(): figures are read from the local store or an agentops-otel "
            "backend; spans of this client go to %s",
            "a custom exporter" if config.exporter is not None else "the AgentOps cloud (see its dashboard)",
        )
        return None
    if config.destination == "local":
        return _from_store(config.store_path, session_id)
    return _from_backend(config.api_url, config.api_key or "", session_id, deadline)


def _from_store(location: str, session_id: str) -> dict[str, Any] | None:
    """From the store the local exporter writes: a SQLite file (never created by this read) or a
    ``postgresql://`` database, through the store's interface (so both engines answer alike)."""
    from agentops_otel.store import open_store, sqlite_path

    path = sqlite_path(location)
    if path is not None and not os.path.exists(os.path.expanduser(path)):
        logger.warning("agentops_otel: get_analytics(): no store at %s yet", location)
        return None
    with open_store(location, busy_timeout=0.5) as store:
        found: dict[str, Any] | None = store.get_session(session_id, with_spans=False)
    if found is None:
        logger.warning("agentops_otel: get_analytics(): session %s is not in %s yet", session_id, location)
    return found


def _from_backend(api_url: str, api_key: str, session_id: str, deadline: float) -> dict[str, Any] | None:
    from urllib.parse import quote

    token = _call("POST", f"{api_url}/v3/auth/token", deadline, body={"api_key": api_key})
    if not isinstance(token, dict) or "token" not in token:
        return None
    quoted = quote(session_id, safe="")
    found = _call("GET", f"{api_url}/api/sessions/{quoted}", deadline, bearer=str(token["token"]))
    return found if isinstance(found, dict) else None


def _call(method: str, url: str, deadline: float, *, body: Any = None, bearer: str | None = None) -> Any:
    # Imported here: urllib.request brings http.client and ssl, which most programs never need from us.
    import urllib.error
    import urllib.request

    remaining = deadline - time.monotonic()
    if remaining <= 0.05:
        logger.warning("agentops_otel: get_analytics(): out of time before %s %s", method, url)
        return None
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=remaining) as response:
            return json.loads(response.read() or b"null")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.warning("agentops_otel: get_analytics(): %s %s failed: %s", method, url, exc)
        return None


def format_duration(seconds: Any) -> str:
    """``1h 2m 3.4s`` (the agentops SDK's format)."""
    if not isinstance(seconds, (int, float)):
        return "-"
    hours, rest = divmod(float(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{int(hours)}h"] if hours else []
    if minutes:
        parts.append(f"{int(minutes)}m")
    parts.append(f"{secs:.1f}s")
    return " ".join(parts)


def format_cost(cost: Any) -> str:
    """USD as the agentops SDK wrote it: ``0.00``, else six decimals."""
    value = float(cost) if isinstance(cost, (int, float)) else 0.0
    return "0.00" if value == 0 else f"{value:.6f}"
