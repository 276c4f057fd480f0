"""The local project without a key: ``POST /api/local/token``.

``agentops-otel serve`` on a loopback address over the default store (the one the SDK writes to when no
backend is configured) lets the dashboard read the store's ``local`` project without an API key, as a
local tool should. The token it issues lives in the server's memory only.

A request gets one only when all of these hold:

- the server was started that way (``create_app(..., local_access=True)``);
- the peer's address is a loopback address;
- the ``Host`` header names a loopback host (so a web page reached through DNS rebinding, whose
  requests carry its own host name, gets nothing);
- an ``Origin`` header, when present, is a loopback origin (so no other site's page can ask);
- on Linux, the peer's socket belongs to the user running the server (``/proc/net/tcp``): another user
  of the machine cannot read your sessions through the server, as they cannot read the store file.
  Where ``/proc`` is absent (macOS, Windows) this last check is not made.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from urllib.parse import urlsplit

from starlette.requests import Request

_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


def is_loopback_host(host: str | None) -> bool:
    """``127.0.0.0/8``, ``::1`` or ``localhost`` (a host name as in a ``Host`` header, port stripped)."""
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):  # "[::1]:8000"
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:  # "127.0.0.1:8000", "localhost:8000"
        name = name.split(":", 1)[0]
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refusal(request: Request) -> str | None:
    """Why ``request`` may not have a local token, or None when it may."""
    client = request.client
    if client is None or not is_loopback_host(client.host):
        return "only a client on this machine (a loopback address) gets a local token"
    if not is_loopback_host(request.headers.get("host")):
        return "the Host header must name 127.0.0.1, ::1 or localhost"
    origin = request.headers.get("origin")
    if origin is not None and (origin == "null" or not is_loopback_host(urlsplit(origin).netloc)):
        return "a page of another origin cannot ask for a local token"
    server = request.scope.get("server") or (None, None)
    owner = peer_uid(client.host, client.port, server[1])
    if owner is not None and owner != os.getuid():
        return "the client runs as another user than the server"
    return None


def peer_uid(host: str, port: int, server_port: int | None) -> int | None:
    """The uid owning the client socket ``host:port`` connected to ``server_port`` (Linux), else None."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    table = "/proc/net/tcp6" if address.version == 6 else "/proc/net/tcp"
    if not hasattr(os, "getuid") or not os.path.exists(table):
        return None
    local = f"{_proc_address(address)}:{port:04X}"
    try:
        with open(table) as lines:
            for line in lines:
                fields = line.split()
                if len(fields) > 7 and fields[1] == local:
                    remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                    if server_port is None or remote_port == server_port:
                        return int(fields[7])
    except (OSError, ValueError):
        return None
    return -1  # not found: refuse rather than guess


def _proc_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The address as ``/proc/net/tcp[6]`` writes it: each 32-bit word in the host's byte order."""
    packed = address.packed
    words = (packed[i : i + 4] for i in range(0, len(packed), 4))
    return "".join(f"{int.from_bytes(word, sys.byteorder):08X}" for word in words)


def loopback_bind(host: str) -> bool:
    """Whether serving on ``host`` keeps the server on this machine."""
    if is_loopback_host(host):
        return True
    try:
        return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False
