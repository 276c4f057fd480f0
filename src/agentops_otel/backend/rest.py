"""The REST side of the API: ``POST /v3/auth/token`` and the reads (SPEC.md section 5, and the
additions of docs/backend.md): sessions (filtered, sorted, in keyset pages), one session with its spans
(all, or in pages of the compact form, with an ETag), one span, traces that carry no session, and the
overview.

Every parameter is checked before it reaches the store (:mod:`.rest_params`), and a breach is a 400
that names the parameter.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agentops_otel.backend import local_access
from agentops_otel.backend.errors import Refused, rest_error, unavailable
from agentops_otel.backend.limits import MAX_TOKEN_BODY, read_body
from agentops_otel.backend.otlp_http import JSON_TYPES, media_type
from agentops_otel.backend.rest_params import list_params, overview_params, span_page_params
from agentops_otel.store.auth import LOCAL_PROJECT
from agentops_otel.store.listing import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, BadQuery
from agentops_otel.store.reads import trace_key

if TYPE_CHECKING:
    from agentops_otel.backend.state import Backend

__all__ = ["DEFAULT_LIST_LIMIT", "MAX_LIST_LIMIT", "list_params"]


async def _store_call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """A store call on a worker thread; a store that cannot answer now is a 503, a query it cannot
    answer (a bad cursor, sort or range) a 400."""
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except BadQuery as exc:
        raise Refused(400, str(exc)) from None
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


def _read_answer(found: tuple[bytes | None, str] | None, missing: str) -> Response:
    """A detail (session, trace) with its ETag: 304 when the client's copy is current, 404 when none."""
    if found is None:
        raise Refused(404, missing)
    body, etag = found
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if body is None:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _path_id(value: str) -> bool:
    # No stored id holds a NUL (PostgreSQL text cannot), and none is longer than a header line.
    return "\0" not in value and len(value) <= 4096


def _read(
    handler: Callable[[Backend, Request, str], Awaitable[Response]],
) -> Callable[[Backend, Request], Awaitable[Response]]:
    """A read route: the caller's project first (401 without a valid credential, whatever else is
    wrong), then ``handler(backend, request, project_id)``; a :class:`Refused` from either is its error
    answer."""

    @functools.wraps(handler)
    async def read(backend: Backend, request: Request) -> Response:
        try:
            project_id = await backend.project_of(request)
            return await handler(backend, request, project_id)
        except Refused as refused:
            return rest_error(refused)

    return read


@_read
async def sessions(backend: Backend, request: Request, project_id: str) -> Response:
    params = list_params(request.query_params)
    body = await _store_call(backend.store.list_sessions_json, project_id, **params)
    return Response(body, media_type="application/json")


@_read
async def session(backend: Backend, request: Request, project_id: str) -> Response:
    session_id: str = request.path_params["session_id"]
    page = span_page_params(request.query_params)
    found = None
    if _path_id(session_id):
        found = await _store_call(
            backend.store.session_json,
            session_id,
            project_id,
            if_none_match=request.headers.get("if-none-match"),
            **page,
        )
    return _read_answer(found, f"no session {session_id[:200]} in this project")


@_read
async def span(backend: Backend, request: Request, project_id: str) -> Response:
    session_id: str = request.path_params["session_id"]
    span_id: str = request.path_params["span_id"]
    found = None
    if _path_id(session_id):
        found = await _store_call(backend.store.get_span, project_id, session_id, span_id)
    if found is None:
        raise Refused(404, f"no span {span_id[:40]} in session {session_id[:200]} of this project")
    return JSONResponse(found)


@_read
async def traces(backend: Backend, request: Request, project_id: str) -> Response:
    params = list_params(request.query_params, traces=True)
    body = await _store_call(backend.store.list_traces_json, project_id, **params)
    return Response(body, media_type="application/json")


@_read
async def trace(backend: Backend, request: Request, project_id: str) -> Response:
    trace_id: str = request.path_params["trace_id"]
    page = span_page_params(request.query_params)
    key = trace_key(trace_id)
    if key is None:
        raise Refused(404, f"no trace {trace_id[:40]}: a trace id is 32 hex digits")
    found = await _store_call(
        backend.store.session_json,
        key,
        project_id,
        traces=True,
        if_none_match=request.headers.get("if-none-match"),
        **page,
    )
    if found is None and await _store_call(backend.store.get_session, key, project_id, with_spans=False):
        raise Refused(404, f"trace {trace_id} is the trace of session {key}: GET /api/sessions/{key}")
    return _read_answer(found, f"no trace {trace_id} without a session in this project")


@_read
async def overview(backend: Backend, request: Request, project_id: str) -> Response:
    params = overview_params(request.query_params)
    return JSONResponse(await _store_call(backend.store.overview, project_id, **params))


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
                "GET /api/sessions/{session_id}/spans/{span_id}",
                "GET /api/traces",
                "GET /api/traces/{trace_id}",
                "GET /api/overview",
                "GET /openapi.json",
            ],
        }
    )
