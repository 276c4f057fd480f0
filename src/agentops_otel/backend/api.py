"""The local backend's HTTP API (SPEC.md section 5), as a Starlette ASGI app.

Why Starlette + uvicorn: a small, typed, widely used ASGI toolkit whose request streaming lets the
receiver refuse an oversized body while reading it, and whose thread pool runs the blocking work
(OTLP decoding, SQLite) off the event loop; uvicorn is the reference ASGI server. Both are one
``pip install`` away (the ``[server]`` extra) and nothing else is needed: no framework magic, no ORM.

Ingest path: authenticate (token cache, else one indexed read), read the body up to the size limit,
then decode and store on a worker thread. The store has one writer connection, so ingest requests
queue on its lock; past ``max_inflight`` requests waiting, new ones get 503 + ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
import secrets
import zlib
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentops_otel.backend import DEFAULT_MAX_BODY, DEFAULT_MAX_INFLIGHT, local_access
from agentops_otel.store import is_busy_error, open_store
from agentops_otel.store.auth import LOCAL_PROJECT
from agentops_otel.store.base import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, BaseStore
from agentops_otel.store.figures import normalise_end_state
from agentops_otel.store.records import MalformedSpans, SpanRecord, from_otlp_json, from_otlp_protobuf

logger = logging.getLogger("agentops_otel.backend")

_PROTOBUF_TYPES = {"application/x-protobuf", "application/protobuf"}
_JSON_TYPES = {"application/json"}


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, credential = value.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


class Backend:
    """The app's state: the store, the limits and the in-flight counter."""

    def __init__(
        self, store: BaseStore, *, max_body: int, max_inflight: int, local_access: bool = False
    ) -> None:
        self.store = store
        self.max_body = max_body
        self.max_inflight = max_inflight
        self.inflight = 0  # touched only on the event loop
        # Tokens for the local project without a key (backend/local_access.py), in memory only.
        self.local_access = local_access
        self.local_tokens: dict[str, str] = {}

    # -- auth ------------------------------------------------------------------------------------------

    async def project_of(self, request: Request, *, allow_api_key: bool) -> str:
        credential = _bearer(request)
        if credential is None:
            raise _Refused(401, "missing bearer token (POST /v3/auth/token exchanges an API key for one)")
        project_id = await run_in_threadpool(self._lookup, credential, allow_api_key)
        if project_id is None:
            raise _Refused(401, "invalid or expired token")
        return project_id

    def _lookup(self, credential: str, allow_api_key: bool) -> str | None:
        project_id = self.local_tokens.get(credential) or self.store.project_for_token(credential)
        if project_id is None and allow_api_key:
            project_id = self.store.project_for_key(credential)
        return project_id

    async def token(self, request: Request) -> Response:
        try:
            doc = json.loads(await request.body())
            api_key = doc["api_key"]
            if not isinstance(api_key, str) or not api_key:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _error(400, 'expected a JSON body {"api_key": "..."}')
        issued = await run_in_threadpool(self.store.issue_token, api_key)
        if issued is None:
            return _error(401, "unknown API key")
        token, project_id = issued
        return JSONResponse({"token": token, "project_id": project_id})

    async def local_token(self, request: Request) -> Response:
        """``POST /api/local/token``: a token for the store's local project, for the dashboard, when
        ``serve`` runs on 127.0.0.1 over the default store (see :mod:`.local_access`)."""
        if not self.local_access:
            return _error(
                404, "no local project here: serve on 127.0.0.1 over the default store, or sign in with a key"
            )
        refused = local_access.refusal(request)
        if refused is not None:
            return _error(403, refused)
        project_id = await run_in_threadpool(self.store.ensure_project, LOCAL_PROJECT)
        token = secrets.token_urlsafe(32)
        self.local_tokens[token] = project_id
        return JSONResponse({"token": token, "project_id": project_id})

    # -- OTLP receiver ---------------------------------------------------------------------------------

    async def traces(self, request: Request) -> Response:
        try:
            project_id = await self.project_of(request, allow_api_key=True)
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type in _PROTOBUF_TYPES:
                decode: Callable[[bytes], list[SpanRecord]] = from_otlp_protobuf
            elif content_type in _JSON_TYPES:
                decode = from_otlp_json
            else:
                raise _Refused(
                    415, "Content-Type must be application/x-protobuf or application/json (OTLP/HTTP)"
                )
            encoding = request.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("identity", "", "gzip", "deflate"):
                raise _Refused(415, f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
            if self.inflight >= self.max_inflight:
                raise _Refused(503, "ingest is overloaded; retry later", {"Retry-After": "1"})
            self.inflight += 1
            try:
                body = await self._read_body(request)
                count = await run_in_threadpool(self._ingest, project_id, body, encoding, decode)
            finally:
                self.inflight -= 1
        except _Refused as refused:
            return _error(refused.status, refused.message, refused.headers)
        logger.debug("stored %d new spans for project %s", count, project_id)
        if decode is from_otlp_json:
            return Response(b"{}", media_type="application/json")
        # An empty ExportTraceServiceResponse: full success.
        return Response(b"", media_type="application/x-protobuf")

    async def _read_body(self, request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None:
            try:
                if int(length) > self.max_body:
                    raise _Refused(413, f"body over the limit of {self.max_body} bytes")
            except ValueError:
                raise _Refused(400, "invalid Content-Length") from None
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > self.max_body:
                raise _Refused(413, f"body over the limit of {self.max_body} bytes")
        return bytes(chunks)

    def _ingest(
        self, project_id: str, body: bytes, encoding: str, decode: Callable[[bytes], list[SpanRecord]]
    ) -> int:
        if encoding in ("gzip", "deflate"):
            body = self._inflate(body, encoding)
        try:
            records = decode(body)
            return self.store.ingest(project_id, records)
        except MalformedSpans as exc:
            raise _Refused(400, str(exc)) from None
        except Exception as exc:
            if is_busy_error(exc):
                raise _Refused(503, "store busy; retry later", {"Retry-After": "1"}) from None
            raise

    def _inflate(self, body: bytes, encoding: str) -> bytes:
        # Bounded output: a small gzip bomb stops at the limit instead of filling memory.
        inflater = zlib.decompressobj(wbits=47 if encoding == "gzip" else 15)
        try:
            out = inflater.decompress(body, self.max_body + 1)
        except zlib.error as exc:
            raise _Refused(400, f"body is not valid {encoding}: {exc}") from None
        if len(out) > self.max_body or inflater.unconsumed_tail:
            raise _Refused(413, f"decompressed body over the limit of {self.max_body} bytes")
        if not inflater.eof:
            raise _Refused(400, f"truncated {encoding} body")
        return out

    # -- REST ------------------------------------------------------------------------------------------

    async def sessions(self, request: Request) -> Response:
        try:
            project_id = await self.project_of(request, allow_api_key=True)
            params = request.query_params
            limit = _int_param(params.get("limit"), DEFAULT_LIST_LIMIT, "limit", 1, MAX_LIST_LIMIT)
            offset = _int_param(params.get("offset"), 0, "offset", 0, None)
            end_state = params.get("end_state")
            if end_state is not None:
                normalised = normalise_end_state(end_state)
                if normalised is None:
                    raise _Refused(400, "end_state must be Success, Fail or Indeterminate")
                end_state = normalised
            tags = [t for t in params.getlist("tag") if t]
        except _Refused as refused:
            return _error(refused.status, refused.message, refused.headers)
        body = await run_in_threadpool(
            self.store.list_sessions_json,
            project_id,
            tags=tags,
            end_state=end_state,
            limit=limit,
            offset=offset,
        )
        return Response(body, media_type="application/json")

    async def session(self, request: Request) -> Response:
        try:
            project_id = await self.project_of(request, allow_api_key=True)
        except _Refused as refused:
            return _error(refused.status, refused.message, refused.headers)
        session_id = request.path_params["session_id"]
        found = await run_in_threadpool(self.store.get_session, session_id, project_id)
        if found is None:
            return _error(404, f"no session {session_id} in this project")
        return JSONResponse(found)

    async def index(self, request: Request) -> Response:
        return JSONResponse(
            {
                "service": "agentops-otel local backend",
                "api": [
                    "POST /v3/auth/token",
                    "POST /api/local/token",
                    "POST /v1/traces",
                    "GET /api/sessions",
                    "GET /api/sessions/{session_id}",
                ],
            }
        )


def _int_param(raw: str | None, default: int, name: str, low: int, high: int | None) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _Refused(400, f"{name} must be an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _Refused(400, f"{name} must be {bound}")
    return value


def create_app(
    store: BaseStore | str,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    extra_routes: list[Any] | None = None,
    local_access: bool = False,
) -> Starlette:
    """The ASGI app over ``store`` (a store, or a path or URL for :func:`open_store`, whose store is
    closed at shutdown).

    ``local_access``: the dashboard may read the store's local project without a key, from this
    machine (``POST /api/local/token``; ``serve`` turns it on for 127.0.0.1 over the default store).
    """
    owned = isinstance(store, str)
    the_store = open_store(store) if isinstance(store, str) else store
    backend = Backend(the_store, max_body=max_body, max_inflight=max_inflight, local_access=local_access)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        if owned:
            the_store.close()

    # Routes passed in (e.g. a dashboard at "/") come first and so win over the defaults.
    routes = [
        *(extra_routes or []),
        Route("/", backend.index, methods=["GET"]),
        Route("/v3/auth/token", backend.token, methods=["POST"]),
        Route("/api/local/token", backend.local_token, methods=["POST"]),
        Route("/v1/traces", backend.traces, methods=["POST"]),
        Route("/api/sessions", backend.sessions, methods=["GET"]),
        Route("/api/sessions/{session_id}", backend.session, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.backend = backend
    return app
