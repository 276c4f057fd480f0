"""``agentops-otel serve``: the backend app on uvicorn, over a SQLite file or a PostgreSQL database.

A server keeps no state that another needs (projects, keys, tokens and figures are in the database), so
several ``serve`` processes on one PostgreSQL database can stand behind one address (docs/deployment.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from agentops_otel.backend import DEFAULT_MAX_BODY, DEFAULT_MAX_INFLIGHT
from agentops_otel.store import DEFAULT_TOKEN_TTL
from agentops_otel.store.base import BaseStore

SERVER_EXTRA_HINT = 'the local backend needs its server extra: pip install "agentops-opentelemetry[server]"'


class ServerExtraMissing(RuntimeError):
    pass


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    db: str | BaseStore | None = None,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    log_level: str = "info",
    access_log: bool = False,
    token_ttl: float = DEFAULT_TOKEN_TTL,
    retention: float | None = None,
    prune_every: float | None = None,
    allowed_hosts: Sequence[str] = (),
    grpc_port: int | None = None,
    **limits: Any,
) -> None:
    """Run the backend until interrupted over the store ``db``: an open store (closed at the end), or a
    path or ``postgresql://`` URL (default: the default store file). With ``retention`` (seconds), or
    projects that have their own, old sessions are pruned every ``prune_every`` seconds. ``limits`` are
    fields of :class:`~agentops_otel.backend.limits.Limits` besides ``max_body`` and ``max_inflight``
    (e.g. ``body_timeout``); ``allowed_hosts`` are the names besides IP addresses and localhost that
    ``Host`` may carry (``host`` itself is added when it is a name); with ``grpc_port``, OTLP/gRPC
    listens on ``host:grpc_port`` too. Raises :class:`ServerExtraMissing` without Starlette/uvicorn (or
    without grpcio for ``grpc_port``)."""
    try:
        import uvicorn

        from agentops_otel.backend.api import create_app
        from agentops_otel.backend.connections import uvicorn_options
        from agentops_otel.backend.limits import Limits
    except ImportError as exc:
        if isinstance(db, BaseStore):
            db.close()
        raise ServerExtraMissing(f"{SERVER_EXTRA_HINT} ({exc})") from None
    from agentops_otel._config import default_db_path
    from agentops_otel.store import open_store
    from agentops_otel.store.retention import DEFAULT_PRUNE_EVERY, Pruner

    store = db if isinstance(db, BaseStore) else open_store(db or default_db_path(), token_ttl=token_ttl)
    if grpc_port is not None:
        _require_grpc(store)
    bounds = Limits(max_body=max_body, max_inflight=max_inflight, **limits)
    app = create_app(
        store,
        limits=bounds,
        allowed_hosts=[*allowed_hosts, *_own_names(host)],
        grpc_address=None if grpc_port is None else _grpc_address(host, grpc_port),
        extra_routes=_dashboard_routes(),
        local_access=_serves_local_project(host, store),
    )
    logging.getLogger("agentops_otel.backend").info("agentops-otel backend: store %s", store.location)
    # Projects may have a retention of their own even without a default: the pruner reads them each round.
    pruner = Pruner(store, retention, prune_every or DEFAULT_PRUNE_EVERY).start()
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            # One process per server: more servers are more processes on one database (SQLite
            # serialises writes anyway; PostgreSQL takes several servers, docs/deployment.md).
            workers=None,
            timeout_graceful_shutdown=3,
            **uvicorn_options(bounds),
        )
    finally:
        pruner.stop()
        store.close()


def _dashboard_routes() -> list[Any]:
    """The dashboard at "/", when this build has one."""
    try:
        from agentops_otel.backend.dashboard import routes
    except ImportError:
        return []
    return list(routes())


def _require_grpc(store: BaseStore) -> None:
    from agentops_otel.backend.otlp_grpc import GrpcExtraMissing, require_grpc

    try:
        require_grpc()
    except GrpcExtraMissing as exc:
        store.close()
        raise ServerExtraMissing(str(exc)) from None


def _serves_local_project(host: str, store: BaseStore) -> bool:
    """The dashboard reads the local project without a key only on this machine, over the store the SDK
    writes to by default (backend/local_access.py says what else it checks)."""
    from agentops_otel._config import default_db_path
    from agentops_otel.backend.local_access import loopback_bind

    path = getattr(store, "path", None)  # a SQLite store's file; None for PostgreSQL
    return loopback_bind(host) and path is not None and path == os.path.abspath(default_db_path())


def _own_names(host: str) -> list[str]:
    """``--host`` as a name clients use in ``Host``, unless it is a wildcard (0.0.0.0, ::)."""
    return [] if host in ("", "0.0.0.0", "::") else [host]


def _grpc_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host or '0.0.0.0'}:{port}"
