"""The local backend: SQLite store, OTLP receiver and REST API (``agentops-otel serve``), read by the CLI.

``store`` and ``records`` need only the standard library and the OpenTelemetry packages; ``api`` and
``server`` need the ``[server]`` extra (Starlette, uvicorn).
"""

#: Largest request body ``POST /v1/traces`` accepts, compressed or not (bytes).
DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: Ingest requests in progress past which new ones get 503 + Retry-After.
DEFAULT_MAX_INFLIGHT = 8
