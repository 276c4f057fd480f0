"""The REST side of the API: ``POST /v3/auth/token`` and the session reads (SPEC.md section 5).

Every parameter is checked before it reaches the store, each against a limit of
:mod:`agentops_otel.backend.limits`, and a breach is a 400 that names the parameter.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agentops_otel.backend import local_access
from agentops_otel.backend.errors import Refused, rest_error, unavailable
from agentops_otel.backend.limits import (
    MAX_OFFSET,
    MAX_TAG_FILTERS,
    MAX_TAG_LENGTH,
    MAX_TOKEN_BODY,
    read_body,
)
from agentops_otel.backend.otlp_http import JSON_TYPES, media_type
from agentops_otel.store.auth import LOCAL_PROJECT
from agentops_otel.store.figures import normalise_end_state

if TYPE_CHECKING:
    from agentops_otel.backend.state import Backend

#: The list sizes of SPEC.md section 5 (the store clamps to the same bounds).
DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000
_DIGITS = re.compile(r"[0-9]{1,12}")


async def _store_call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """A store call on a worker thread; a store that cannot answer now is a 503."""
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except Exception as exc:
        busy = unavailable(exc)
        if busy is not None:
            raise busy from None
        raise


async def token(backend: Backend, request: Request) -> Response:
    """A token for an API key. JSON only, and small: a web page cannot send it as a "simple" cross-site
    request (those are text/plain or forms), and no client can make the server hold a large body."""
    try:
        if media_type(request) not in JSON_TYPES:
            raise Refused(415, 'Content-Type must be application/json: {"api_key": "..."}')
        body = await read_body(request, MAX_TOKEN_BODY, backend.limits.body_timeout, backend.budget)
        backend.budget.give(len(body))
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            doc = None
        api_key = doc.get("api_key") if isinstance(doc, dict) else None
        if not isinstance(api_key, str) or not api_key or len(api_key) > 256:
            raise Refused(400, 'expected a JSON body {"api_key": "..."}')
        issued = await _store_call(backend.store.issue_token, api_key)
        if issued is None:
            raise Refused(401, "unknown API key")
    except Refused as refused:
        return rest_error(refused)
    token_text, project_id = issued
    return JSONResponse({"token": token_text, "project_id": project_id})


async def local_token(backend: Backend, request: Request) -> Response:
    """``POST /api/local/token``: a token for the store's local project, for the dashboard, when
    ``serve`` runs on 127.0.0.1 over the default store (see :mod:`.local_access`)."""
    if not backend.local_access:
        return rest_error(
            Refused(
                404, "no local project here: serve on 127.0.0.1 over the default store, or sign in with a key"
            )
        )
    refused = local_access.refusal(request)
    if refused is not None:
        return rest_error(Refused(403, refused))
    try:
        project_id = await _store_call(backend.store.ensure_project, LOCAL_PROJECT)
    except Refused as busy:
        return rest_error(busy)
    token_text = secrets.token_urlsafe(32)
    backend.local_tokens[token_text] = project_id
    return JSONResponse({"token": token_text, "project_id": project_id})


def _int_param(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw):
        raise Refused(400, f"{name} must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise Refused(400, f"{name} must be from {low} to {high}")
    return value


def list_params(params: QueryParams) -> dict[str, Any]:
    """The filters of ``GET /api/sessions``, checked."""
    limit = _int_param(params, "limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
    offset = _int_param(params, "offset", 0, 0, MAX_OFFSET)
    end_state = params.get("end_state") or None
    if end_state is not None:
        end_state = normalise_end_state(end_state)
        if end_state is None:
            raise Refused(400, "end_state must be Success, Fail or Indeterminate")
    tags = [t for t in params.getlist("tag") if t]
    if len(tags) > MAX_TAG_FILTERS:
        raise Refused(400, f"at most {MAX_TAG_FILTERS} tag filters")
    if any(len(t) > MAX_TAG_LENGTH for t in tags):
        raise Refused(400, f"a tag filter is longer than {MAX_TAG_LENGTH} characters")
    return {"tags": tags, "end_state": end_state, "limit": limit, "offset": offset}


async def sessions(backend: Backend, request: Request) -> Response:
    try:
        project_id = await backend.project_of(request)
        params = list_params(request.query_params)
        body = await _store_call(backend.store.list_sessions_json, project_id, **params)
    except Refused as refused:
        return rest_error(refused)
    return Response(body, media_type="application/json")


async def session(backend: Backend, request: Request) -> Response:
    session_id: str = request.path_params["session_id"]
    try:
        project_id = await backend.project_of(request)
        # No stored id holds a NUL (PostgreSQL text cannot), and none is longer than a header line.
        found = None
        if "\0" not in session_id and len(session_id) <= 4096:
            found = await _store_call(backend.store.get_session, session_id, project_id)
        if found is None:
            raise Refused(404, f"no session {session_id[:200]} in this project")
    except Refused as refused:
        return rest_error(refused)
    return JSONResponse(found)


async def index(backend: Backend, request: Request) -> Response:
    return JSONResponse(
        {
            "service": "agentops-otel local backend",
            "api": [
                "POST /v3/auth/token",
                "POST /api/local/token",
                "POST /v1/traces",
                "GET /api/sessions",
                "GET /api/sessions/{session_id}",
                "GET /openapi.json",
            ],
        }
    )
