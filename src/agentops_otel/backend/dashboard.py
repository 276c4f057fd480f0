"""The local backend's dashboard: one static page (``backend/ui/``) that reads the REST API.

The page is plain HTML, CSS and JavaScript shipped as package data, so serving it needs no build step
and fetches nothing from anywhere but the backend itself. Only the files that exist in ``ui/`` (and
have a known type) are served: a request names a file, never a path, so nothing outside the directory
is reachable.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# The page loads only its own files; the API it calls is on the same origin.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _load_assets() -> dict[str, tuple[bytes, str]]:
    """Every servable file of ``ui/``, read once: name -> (content, content type)."""
    assets: dict[str, tuple[bytes, str]] = {}
    folder = resources.files("agentops_otel.backend").joinpath("ui")
    if not folder.is_dir():
        return assets
    for entry in folder.iterdir():
        content_type = _TYPES.get(_suffix(entry.name))
        if content_type is not None and entry.is_file():
            assets[entry.name] = (entry.read_bytes(), content_type)
    return assets


def routes() -> list[Any]:
    """Starlette routes for ``/`` (the page) and ``/ui/{file}`` (its assets); pass them to
    ``create_app(..., extra_routes=routes())`` so that ``/`` is the dashboard."""
    assets = _load_assets()

    def _send(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            return PlainTextResponse(
                "not found", status_code=404, headers={"X-Content-Type-Options": "nosniff"}
            )
        content, content_type = found
        return Response(content, media_type=content_type, headers=_HEADERS)

    async def index(request: Request) -> Response:
        return _send("index.html")

    async def asset(request: Request) -> Response:
        return _send(request.path_params["file"])

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/ui/{file}", asset, methods=["GET", "HEAD"]),
    ]
