"""``agentops-otel serve`` as a command: the address checked before the server starts, so that a busy
port, a port that needs root or an address of another machine is one line that says what to do, not
uvicorn's start-up log and its exit code 3."""

from __future__ import annotations

import errno
import shlex
import socket
import sys

from agentops_otel.cli.sources import CliError


def check_listen(host: str, port: int) -> int:
    """The port ``serve`` can listen on at ``host`` (a free one for port 0), or a :class:`CliError`.
    Binds the way uvicorn does (``SO_REUSEADDR``), so a port only in TIME_WAIT counts as free."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(
            f"cannot listen on --host {host}: {exc.strerror}; use an address of this machine,"
            " e.g. --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)"
        ) from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((address[0], port, *address[2:]))
            except OSError as exc:
                raise CliError(_bind_error(host, port, exc)) from None
            port = port or int(sock.getsockname()[1])
    return port


def _bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is in use (another agentops-otel serve?):"
            f" stop it, or choose another port with --port, e.g. --port {port + 1 if port < 65535 else 8000}"
        )
    if exc.errno == errno.EACCES:
        return (
            f"port {port} needs more privileges than this user has: use a port from 1024 up, e.g. --port 8000"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{host} is not an address of this machine: use --host 127.0.0.1 (this machine only)"
            " or --host 0.0.0.0 (every interface)"
        )
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def dashboard_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def banner(host: str, port: int, store: str) -> None:
    """What a person needs once the server runs: where the dashboard is, which store, how to get a key."""
    url = dashboard_url(host, port)
    sys.stderr.write(
        f"agentops-otel: dashboard {url}  (OTLP/HTTP at {url}v1/traces, REST API at {url}api)\n"
        f"agentops-otel: store {store}\n"
        "agentops-otel: sign in with a project's API key:"
        f" agentops-otel projects create NAME --db {shlex.quote(store)}\n"
    )
    sys.stderr.flush()
