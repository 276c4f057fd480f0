"""``agentops-otel serve``: the backend app on uvicorn."""

from __future__ import annotations

import logging
import os

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
) -> None:
    """Run the backend until interrupted. Raises :class:`ServerExtraMissing` without Starlette/uvicorn."""
    try:
        import uvicorn

        from agentops_otel.backend.api import create_app
    except ImportError as exc:
        raise ServerExtraMissing(f"{SERVER_EXTRA_HINT} ({exc})") from None
    from agentops_otel._config import default_db_path

    path = db or default_db_path()
    try:  # the dashboard at "/", when this build has one
        from agentops_otel.backend.dashboard import routes as dashboard_routes

        extra_routes = dashboard_routes()
    except ImportError:
        extra_routes = []
    from agentops_otel.backend.local_access import loopback_bind

    # The dashboard reads the local project without a key only on this machine, over the store the SDK
    # writes to by default (backend/local_access.py says what else it checks).
    local = loopback_bind(host) and os.path.abspath(path) == os.path.abspath(default_db_path())
    app = create_app(
        path, max_body=max_body, max_inflight=max_inflight, extra_routes=extra_routes, local_access=local
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
    )
