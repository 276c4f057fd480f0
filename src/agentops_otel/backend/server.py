"""``agentops-otel serve``: the backend app on uvicorn."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from agentops_otel.backend import DEFAULT_MAX_BODY, DEFAULT_MAX_INFLIGHT

SERVER_EXTRA_HINT = 'the local backend needs its server extra: pip install "agentops-opentelemetry[server]"'


class ServerExtraMissing(RuntimeError):
    pass


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    db: str | None = None,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    log_level: str = "info",
    access_log: bool = False,
    allowed_hosts: Sequence[str] = (),
    grpc_port: int | None = None,
    **limits: Any,
) -> None:
    """Run the backend until interrupted. ``limits`` are fields of
    :class:`~agentops_otel.backend.limits.Limits` besides ``max_body`` and ``max_inflight`` (e.g.
    ``body_timeout``); ``allowed_hosts`` are the names besides IP addresses and localhost that ``Host``
    may carry (``host`` itself is added when it is a name); with ``grpc_port``, OTLP/gRPC listens on
    ``host:grpc_port`` too. Raises :class:`ServerExtraMissing` without Starlette/uvicorn (or without
    grpcio for ``grpc_port``)."""
    try:
        import uvicorn

        from agentops_otel.backend.api import create_app
        from agentops_otel.backend.connections import uvicorn_options
        from agentops_otel.backend.limits import Limits
    except ImportError as exc:
        raise ServerExtraMissing(f"{SERVER_EXTRA_HINT} ({exc})") from None
    from agentops_otel._config import default_db_path

    path = db or default_db_path()
    try:  # the dashboard at "/", when this build has one
        from agentops_otel.backend.dashboard import routes as dashboard_routes

        extra_routes = dashboard_routes()
    except ImportError:
        extra_routes = []
    if grpc_port is not None:
        from agentops_otel.backend.otlp_grpc import GrpcExtraMissing, require_grpc

        try:
            require_grpc()
        except GrpcExtraMissing as exc:
            raise ServerExtraMissing(str(exc)) from None
    bounds = Limits(max_body=max_body, max_inflight=max_inflight, **limits)
    app = create_app(
        path,
        limits=bounds,
        allowed_hosts=[*allowed_hosts, *_own_names(host)],
        grpc_address=None if grpc_port is None else _grpc_address(host, grpc_port),
        extra_routes=extra_routes,
    )
    logging.getLogger("agentops_otel.backend").info("agentops-otel backend: store %s", path)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        # One process, one writer: the store serialises writes, more workers would only contend.
        workers=None,
        timeout_graceful_shutdown=3,
        **uvicorn_options(bounds),
    )


def _own_names(host: str) -> list[str]:
    """``--host`` as a name clients use in ``Host``, unless it is a wildcard (0.0.0.0, ::)."""
    return [] if host in ("", "0.0.0.0", "::") else [host]


def _grpc_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host or '0.0.0.0'}:{port}"
