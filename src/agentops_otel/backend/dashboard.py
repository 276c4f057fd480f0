"""The local backend's dashboard: one static page (``backend/ui/``) that reads the REST API.

The page is plain HTML, CSS and JavaScript modules shipped as package data, with its two libraries
vendored under ``ui/vendor/`` (uPlot for the charts, TanStack virtual-core for the windowed span tree),
so serving it needs no build step and fetches nothing from anywhere but the backend itself. Only the
files that exist under ``ui/`` (and have a known type) are served: a request names a file by its exact
relative path, looked up in a table made at start-up, so nothing outside the directory is reachable.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from importlib.abc import Traversable
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

# The page loads only its own files; the API it calls is on the same origin. Styles are set through
# the CSSOM only (no inline style attributes), which 'self' allows.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on every load (the ETag makes that a 304), so an upgraded package shows at once.
    "Cache-Control": "no-cache",
}
_MAX_DEPTH = 4  # ui/vendor/<library>/<file>


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _walk(folder: Traversable, prefix: str, depth: int) -> dict[str, tuple[bytes, str, str]]:
    assets: dict[str, tuple[bytes, str, str]] = {}
    for entry in folder.iterdir():
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir() and depth < _MAX_DEPTH:
            assets.update(_walk(entry, f"{prefix}{entry.name}/", depth + 1))
            continue
        content_type = _TYPES.get(_suffix(entry.name))
        if content_type is not None and entry.is_file():
            content = entry.read_bytes()
            etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
            assets[prefix + entry.name] = (content, content_type, etag)
    return assets


def _load_assets() -> dict[str, tuple[bytes, str, str]]:
    """Every servable file under ``ui/``, read once: relative path -> (content, type, ETag)."""
    folder = resources.files("agentops_otel.backend").joinpath("ui")
    return _walk(folder, "", 1) if folder.is_dir() else {}


def routes() -> list[Any]:
    """Starlette routes for ``/`` (the page) and ``/ui/{path}`` (its assets); pass them to
    ``create_app(..., extra_routes=routes())`` so that ``/`` is the dashboard."""
    assets = _load_assets()

    def _send(name: str, request: Request) -> Response:
        found = assets.get(name)
        if found is None:
            return PlainTextResponse(
                "not found", status_code=404, headers={"X-Content-Type-Options": "nosniff"}
            )
        content, content_type, etag = found
        headers = {**_HEADERS, "ETag": etag}
        if etag in (request.headers.get("if-none-match") or ""):
            return Response(status_code=304, headers=headers)
        return Response(content, media_type=content_type, headers=headers)

    async def index(request: Request) -> Response:
        return _send("index.html", request)

    async def asset(request: Request) -> Response:
        return _send(request.path_params["path"], request)

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/ui/{path:path}", asset, methods=["GET", "HEAD"]),
    ]
