"""``agentops-otel serve``: the backend app on uvicorn, over a SQLite file or a PostgreSQL database.

A server keeps no state that another needs (projects, keys, tokens and figures are in the database), so
several ``serve`` processes on one PostgreSQL database can stand behind one address (docs/deployment.md).
"""

from __future__ import annotations

import logging
import os

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
) -> None:
    """Run the backend until interrupted over the store ``db``: an open store (closed at the end), or a
    path or ``postgresql://`` URL (default: the default store file). With ``retention`` (seconds), or
    projects that have their own, old sessions are pruned every ``prune_every`` seconds. Raises
    :class:`ServerExtraMissing` without Starlette/uvicorn."""
    try:
        import uvicorn

        from agentops_otel.backend.api import create_app
    except ImportError as exc:
        if isinstance(db, BaseStore):
            db.close()
        raise ServerExtraMissing(f"{SERVER_EXTRA_HINT} ({exc})") from None
    from agentops_otel._config import default_db_path
    from agentops_otel.store import open_store
    from agentops_otel.store.retention import DEFAULT_PRUNE_EVERY, Pruner

    store = db if isinstance(db, BaseStore) else open_store(db or default_db_path(), token_ttl=token_ttl)
    try:  # the dashboard at "/", when this build has one
        from agentops_otel.backend.dashboard import routes as dashboard_routes

        extra_routes = dashboard_routes()
    except ImportError:
        extra_routes = []
    from agentops_otel.backend.local_access import loopback_bind

    # The dashboard reads the local project without a key only on this machine, over the store the SDK
    # writes to by default (backend/local_access.py says what else it checks).
    path = getattr(store, "path", None)  # a SQLite store's file; None for PostgreSQL
    local = loopback_bind(host) and path is not None and path == os.path.abspath(default_db_path())
    app = create_app(
        store, max_body=max_body, max_inflight=max_inflight, extra_routes=extra_routes, local_access=local
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
        )
    finally:
        pruner.stop()
        store.close()
