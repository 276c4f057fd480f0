"""The ``Host`` check against DNS rebinding.

A web page can make a browser resolve its own name to 127.0.0.1 and then read a local dashboard as if
it were that site; the browser still sends the page's name in ``Host``. Rebinding needs a name, so a
request is served when ``Host`` is an IP address (127.0.0.1, [::1], or any address of this machine,
which a browser reaches by that address and so as another site), ``localhost`` or a name under it, or
a name given with ``serve --allowed-host`` (``*.example.com`` for a domain's names, ``*`` for any). A
request without ``Host`` (HTTP/1.0) is served: browsers always send one.

Written here rather than Starlette's ``TrustedHostMiddleware`` because that one, in the Starlette
releases this package allows, cuts ``[::1]:8000`` at its first colon and refuses it, refuses a request
without ``Host``, and answers in plain text rather than the body an OTLP sender or the CLI reads.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from agentops_otel.backend.errors import Refused, otlp_error, rest_error

LOOPBACK_NAMES = ("localhost",)


def host_of(header: str) -> str | None:
    """The host of a ``Host`` header, lower case, without port or IPv6 brackets; None when malformed."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not value[end + 1 :].startswith(":")):
            return None
        host = value[1:end]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
        return host
    host, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return host.rstrip(".") or None


class HostCheck:
    """ASGI middleware: 400 for a request whose ``Host`` is not allowed."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = ()) -> None:
        self.app = app
        names = {name.strip().lower().strip("[]").rstrip(".") for name in allowed if name.strip()}
        self.any = "*" in names
        self.suffixes = (".localhost", *(name[1:] for name in names if name.startswith("*.")))
        self.names = {*LOOPBACK_NAMES, *(n for n in names if not n.startswith("*"))}

    def allows(self, host: str) -> bool:
        if self.any or host in self.names or host.endswith(self.suffixes):
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"host"), None)
        if header is not None:
            host = host_of(header.decode("latin-1"))
            if host is None or not self.allows(host):
                shown = header.decode("latin-1")[:100]
                refused = Refused(
                    400,
                    f"Host {shown!r} is not allowed: this server answers to IP addresses, localhost"
                    " and the names given with `agentops-otel serve --allowed-host NAME`",
                )
                path = scope.get("path", "")
                protobuf = path == "/v1/traces" and any(
                    k == b"content-type" and b"protobuf" in v for k, v in scope["headers"]
                )
                answer = otlp_error(refused, protobuf) if path == "/v1/traces" else rest_error(refused)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
