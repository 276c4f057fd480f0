"""The local backend's HTTP API (SPEC.md section 5), as a Starlette ASGI app.

Why Starlette + uvicorn: a small, typed, widely used ASGI toolkit whose request streaming lets the
receiver refuse an oversized body while reading it, and whose thread pool runs the blocking work
(OTLP decoding, the store) off the event loop; uvicorn is the reference ASGI server. Both are one
``pip install`` away (the ``[server]`` extra) and nothing else is needed: no framework magic, no ORM.

The parts: :mod:`.otlp_http` (``POST /v1/traces``) and :mod:`.otlp_grpc` (OTLP/gRPC), both over
:mod:`.ingest`; :mod:`.rest` (token, sessions); :mod:`.limits` (every limit, the body reader);
:mod:`.errors` (``google.rpc.Status`` and ``{"error"}`` bodies, store errors that mean "retry later");
:mod:`.hosts` (the ``Host`` check); :mod:`.state` (the app's state, authentication); :mod:`.openapi`
(``/openapi.json``); :mod:`.connections` (uvicorn's settings).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentops_otel.backend import DEFAULT_MAX_BODY, DEFAULT_MAX_INFLIGHT, openapi, otlp_http, rest
from agentops_otel.backend.errors import Refused, otlp_error, rest_error, unavailable
from agentops_otel.backend.hosts import HostCheck
from agentops_otel.backend.limits import Limits
from agentops_otel.backend.state import Backend
from agentops_otel.store import open_store

logger = logging.getLogger("agentops_otel.backend")


async def _on_error(request: Request, exc: Exception) -> Response:
    """The answer to an exception no handler caught: 503 when the store cannot answer now, else 500
    (a fault of the server, logged with its traceback)."""
    refused = unavailable(exc)
    if refused is None:
        logger.error("agentops-otel backend: %s %s failed", request.method, request.url.path, exc_info=exc)
        refused = Refused(500, f"internal error ({type(exc).__name__}); see the server's log")
    if request.url.path == "/v1/traces":
        return otlp_error(refused, otlp_http.media_type(request) in otlp_http.PROTOBUF_TYPES)
    return rest_error(refused)


class _AnyText(Convertor[str]):
    """A path parameter that is any text, "/" and line breaks included (Starlette's ``path`` stops at a
    line break): any string is a ``session.id``, and each can be read."""

    regex = "[\\s\\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any_text", _AnyText())


async def _on_http_error(request: Request, exc: Exception) -> Response:
    """404 and 405 of the router, in the API's error body rather than Starlette's plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    refused = Refused(status, f"{request.method} {request.url.path[:200]}: {getattr(exc, 'detail', '')}")
    if request.url.path == "/v1/traces":
        answer: Response = otlp_error(refused, otlp_http.media_type(request) in otlp_http.PROTOBUF_TYPES)
    else:
        answer = rest_error(refused)
    answer.headers.update(getattr(exc, "headers", None) or {})  # e.g. Allow of a 405
    return answer


def create_app(
    store: Any,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    limits: Limits | None = None,
    allowed_hosts: Iterable[str] = (),
    grpc_address: str | None = None,
    extra_routes: list[Any] | None = None,
    local_access: bool = False,
) -> Starlette:
    """The ASGI app over ``store`` (a store, or a location whose store is closed at shutdown).

    ``limits`` (else one made of ``max_body`` and ``max_inflight``) bound every request;
    ``allowed_hosts`` are the names besides loopback that ``Host`` may carry; with ``grpc_address``
    (``host:port``, port 0 for any) an OTLP/gRPC receiver runs beside it for the app's lifetime (the
    ``[grpc]`` extra), its port then in ``app.state.grpc_port``. ``local_access``: the dashboard may
    read the store's local project without a key, from this machine (``POST /api/local/token``;
    ``serve`` turns it on for 127.0.0.1 over the default store).
    """
    owned = isinstance(store, str)
    the_store = open_store(store) if isinstance(store, str) else store
    limits = limits or Limits(max_body=max_body, max_inflight=max_inflight)
    backend = Backend(the_store, limits, local_access=local_access)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        receiver = None
        if grpc_address is not None:
            from agentops_otel.backend.otlp_grpc import start_receiver

            receiver, app.state.grpc_port = start_receiver(backend, grpc_address)
        try:
            yield
        finally:
            if receiver is not None:
                receiver.stop(grace=2).wait(3)
            if owned:
                the_store.close()

    # Routes passed in (e.g. a dashboard at "/") come first and so win over the defaults.
    routes = [*(extra_routes or []), *_routes(backend)]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(HostCheck, allowed=allowed_hosts)],
        exception_handlers={Exception: _on_error, HTTPException: _on_http_error},
    )
    app.state.backend = backend
    app.state.grpc_port = None
    return app


async def _openapi_json(backend: Backend, request: Request) -> Response:
    return JSONResponse(openapi.document())


_ROUTES: list[tuple[str, Callable[[Backend, Request], Awaitable[Response]], str]] = [
    ("/", rest.index, "GET"),
    ("/openapi.json", _openapi_json, "GET"),
    ("/v3/auth/token", rest.token, "POST"),
    ("/api/local/token", rest.local_token, "POST"),
    ("/v1/traces", otlp_http.export_traces, "POST"),
    ("/api/sessions", rest.sessions, "GET"),
    ("/api/sessions/{session_id:any_text}/spans/{span_id}", rest.span, "GET"),
    ("/api/sessions/{session_id:any_text}", rest.session, "GET"),
    ("/api/traces", rest.traces, "GET"),
    ("/api/traces/{trace_id}", rest.trace, "GET"),
    ("/api/overview", rest.overview, "GET"),
]


def _routes(backend: Backend) -> list[Route]:
    """The API's routes, each handler bound to ``backend``; ``/openapi.json`` describes them."""

    def bound(handler: Callable[[Backend, Request], Awaitable[Response]]) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Response:
            return await handler(backend, request)

        return endpoint

    return [Route(path, bound(handler), methods=[method]) for path, handler, method in _ROUTES]
