"""The ``agentops-otel`` argument parser: commands, defaults and examples in every ``--help``."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from agentops_otel._config import default_db_path
from agentops_otel.cli import store_commands
from agentops_otel.version import __version__

DEFAULT_PORT = 8000
DEFAULT_LIMIT = 50
DEFAULT_INTERVAL = 2.0
MIN_INTERVAL = 0.2
_STORE_HELP = "store file or postgresql:// URL (default: AGENTOPS_DB, else the default store, %s)"

_MAIN_EPILOG = """\
examples:
  agentops-otel sessions                        the newest sessions of the local store
  agentops-otel sessions show 1084e772          one session (any unique prefix of its id)
  agentops-otel sessions watch                  follow new sessions and their spans
  agentops-otel serve                           the backend and dashboard on http://127.0.0.1:8000/
  agentops-otel projects create my-agent        a project and its API key (JSON)

Exit status: 0 done, 1 an error (one line on stderr), 2 a usage error, 130 interrupted.
"""
_SERVE_DESCRIPTION = """\
Run the local backend: the dashboard at http://HOST:PORT/ (http://127.0.0.1:8000/ by default), the
OTLP/HTTP receiver at /v1/traces and the REST API at /api. It opens the store --db, else AGENTOPS_DB,
else the default store (created if missing):
  {store}
Sign in to the dashboard with a project's API key from `agentops-otel projects create NAME`."""
_SERVE_EPILOG = """\
examples:
  agentops-otel serve
  agentops-otel serve --port 8080 --db ./agentops.db
  agentops-otel serve --host 0.0.0.0          every interface, for other machines
  agentops-otel serve --grpc-port 4317        OTLP/gRPC too
  agentops-otel serve --host 0.0.0.0 --allowed-host otel.example.com
"""
_SESSIONS_USAGE = """\
agentops-otel sessions [options]
       agentops-otel sessions show SESSION_ID [--span SPAN_ID] [options]
       agentops-otel sessions watch [SESSION_ID] [--interval S] [--for S] [options]"""
_SESSIONS_DESCRIPTION = """\
The newest sessions, as a table (fitted to the terminal) or as JSON. `show` and `watch` are optional
subcommands. Reads the local store, or a backend with --endpoint (default: AGENTOPS_API_ENDPOINT)."""
_SESSIONS_EPILOG = """\
examples:
  agentops-otel sessions --tag prod --end-state fail
  agentops-otel sessions --project local --limit 20
  agentops-otel sessions --endpoint http://127.0.0.1:8000 --api-key KEY --json
  agentops-otel sessions show 1084e772 --span 9f8e7d6c
  agentops-otel sessions watch --tag prod
"""
_DEMO_DESCRIPTION = """\
The end-to-end demonstration: a small instrumented agent calls a canned LLM server on 127.0.0.1, its
session goes to a backend running in this process, and then `sessions` and `sessions show` display it.
Needs no API key and no network; the session stays in the store (--db, else the local store). Needs the
server and demo extras: pip install "agentops-opentelemetry[server,demo]"."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)

    def _split_lines(self, text: str, width: int) -> list[str]:
        # A path or URL stays whole (argparse would break it at a hyphen).
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)


def _count(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}: {value}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"a port is a number from 1 to 65535 (0: any free port), not {text!r}"
        )
    return value


def _seconds(low: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not value >= low:
            raise argparse.ArgumentTypeError(f"must be at least {low}: {text}")
        return value

    return parse


def _output_options(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    # Nested parsers (``sessions show``) take the options after the subcommand too; SUPPRESS keeps
    # them from overwriting values given before it. Help text names defaults literally for that reason.
    default: Any = argparse.SUPPRESS if nested else None
    group = parser.add_argument_group("output")
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if nested else False,
        help="JSON for scripts, the REST API's objects",
    )
    group.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default=default,
        metavar="WHEN",
        help="auto, always or never (default: auto: on a terminal, unless NO_COLOR is set)",
    )


def _source_options(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    default: Any = argparse.SUPPRESS if nested else None
    group = parser.add_argument_group("where to read (default: the local store)")
    group.add_argument("--db", default=default, metavar="PATH", help=_STORE_HELP % default_db_path())
    group.add_argument(
        "--project",
        default=default,
        metavar="NAME",
        help="only this project's sessions (its name or id; the local store only)",
    )
    group.add_argument(
        "--endpoint",
        default=default,
        metavar="URL",
        help="a backend's base URL (default: AGENTOPS_API_ENDPOINT)",
    )
    group.add_argument(
        "--api-key", default=default, metavar="KEY", help="API key for --endpoint (default: AGENTOPS_API_KEY)"
    )
    _output_options(parser, nested=nested)


def _add_serve(commands: Any, handler: Callable[..., int]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the local backend and its dashboard (http://127.0.0.1:8000/)",
        description=_SERVE_DESCRIPTION.format(store=default_db_path()),
        epilog=_SERVE_EPILOG,
        formatter_class=_Formatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="port to listen on (default: %(default)s; 0: any free)",
    )
    serve.add_argument("--db", metavar="PATH", help=_STORE_HELP % default_db_path())
    serve.add_argument(
        "--max-body-size", type=_count(1), default=16 * 1024 * 1024, metavar="BYTES",
        help="largest request body (default: %(default)s, 16 MiB)",
    )  # fmt: skip
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default: %(default)s)",
    )
    serve.add_argument("--access-log", action="store_true", help="log every request (default: off)")
    store_commands.add_serve_options(serve)
    _add_serve_exposure(serve)
    serve.set_defaults(handler=handler)


def _add_serve_exposure(serve: argparse.ArgumentParser) -> None:
    """``serve``'s options for other senders and for a server others can reach (docs/backend.md)."""
    group = serve.add_argument_group("other senders, and limits")
    group.add_argument(
        "--grpc-port", type=_port, metavar="PORT",
        help="also receive OTLP/gRPC on this port, same address (4317 is OTLP's; needs the grpc extra)",
    )  # fmt: skip
    group.add_argument(
        "--allowed-host", action="append", default=[], metavar="NAME",
        help="a name clients use in Host besides IP addresses and localhost (repeatable;"
        " *.example.com for a domain; * for any): the defence against DNS rebinding",
    )  # fmt: skip
    group.add_argument(
        "--max-inflight", type=_count(1), default=8, metavar="N",
        help="ingest requests stored at once; past it, 503 + Retry-After (default: %(default)s)",
    )  # fmt: skip
    group.add_argument(
        "--max-connections", type=_count(1), default=1000, metavar="N",
        help="open connections; past it, 503 (default: %(default)s)",
    )  # fmt: skip
    group.add_argument(
        "--body-timeout", type=_seconds(0.1), default=30.0, metavar="SECONDS",
        help="longest a request body may take to arrive; then 408 (default: %(default)s)",
    )  # fmt: skip
    group.add_argument(
        "--header-timeout", type=_seconds(0.1), default=10.0, metavar="SECONDS",
        help="longest a request's headers may take; then the connection is closed (default: %(default)s)",
    )  # fmt: skip


def serve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``backend.server.serve`` that :func:`_add_serve_exposure` sets."""
    return {
        "grpc_port": args.grpc_port,
        "allowed_hosts": list(args.allowed_host),
        "max_inflight": args.max_inflight,
        "max_connections": args.max_connections,
        "body_timeout": args.body_timeout,
        "header_timeout": args.header_timeout,
    }


def _add_projects(commands: Any, handler: Callable[..., int]) -> None:
    projects = commands.add_parser(
        "projects",
        help="projects and their API keys",
        description="Projects of a store, and their API keys.",
        epilog="examples:\n  agentops-otel projects create my-agent\n  agentops-otel projects list --json\n",
        formatter_class=_Formatter,
    )
    project_commands = projects.add_subparsers(dest="projects_command", metavar="SUBCOMMAND")
    project_commands.required = True
    create = project_commands.add_parser(
        "create",
        help="create a project (or a new key for it)",
        description="Create the project NAME, or a new API key for it if it exists. Prints one JSON"
        ' object, {"project_id": ..., "api_key": ...}; on a terminal, what to do next goes to stderr.',
        formatter_class=_Formatter,
    )
    create.add_argument("name", metavar="NAME", help="the project's name")
    create.add_argument("--db", metavar="PATH", help=_STORE_HELP % default_db_path())
    listing = project_commands.add_parser(
        "list", help="list projects", description="The projects of a store.", formatter_class=_Formatter
    )
    listing.add_argument("--db", metavar="PATH", help=_STORE_HELP % default_db_path())
    _output_options(listing, nested=False)
    store_commands.add_project_commands(project_commands)
    projects.set_defaults(handler=handler)


def _add_sessions(commands: Any, handler: Callable[..., int]) -> None:
    sessions = commands.add_parser(
        "sessions",
        help="list sessions, show one, or watch them arrive",
        usage=_SESSIONS_USAGE,
        description=_SESSIONS_DESCRIPTION,
        epilog=_SESSIONS_EPILOG,
        formatter_class=_Formatter,
    )
    _source_options(sessions, nested=False)
    listing = sessions.add_argument_group("which sessions")
    listing.add_argument(
        "--tag", action="append", metavar="TAG", help="only sessions with this tag (repeatable)"
    )
    listing.add_argument("--end-state", metavar="STATE", help="Success, Fail or Indeterminate (any case)")
    listing.add_argument(
        "--limit", type=_count(1), metavar="N", help=f"at most N sessions (default: {DEFAULT_LIMIT})"
    )
    listing.add_argument("--offset", type=_count(0), metavar="N", help="skip the N newest (default: 0)")
    subcommands = sessions.add_subparsers(
        dest="sessions_command", metavar="{show,watch}", title="subcommands (optional)"
    )
    show = subcommands.add_parser(
        "show",
        help="one session and its span tree; --span: one span's attributes and conversation",
        description="One session: its figures and its span tree. SESSION_ID is the id or any unique"
        " prefix of it, in any case (the dashboard shows the first 8 characters). With --span, one span"
        " in full: its attributes, events and, for an LLM call, the conversation.",
        epilog="examples:\n  agentops-otel sessions show 1084e772\n"
        "  agentops-otel sessions show 1084e772 --span 9f8e7d6c\n",
        formatter_class=_Formatter,
    )
    show.add_argument("session_id", metavar="SESSION_ID")
    show.add_argument("--span", metavar="SPAN_ID", help="show this span in full (its id or a unique prefix)")
    _source_options(show, nested=True)
    watch = subcommands.add_parser(
        "watch",
        help="follow new sessions and their spans as they arrive",
        description="Follow sessions as they arrive: each new session, its spans as they end, and its"
        " end. With SESSION_ID, that session's spans (those so far, then new ones) until it ends."
        " Polls the store or backend; stop with Ctrl-C (exit 130) or --for.",
        epilog="examples:\n  agentops-otel sessions watch\n  agentops-otel sessions watch 1084e772\n"
        "  agentops-otel sessions watch --json --for 60\n",
        formatter_class=_Formatter,
    )
    watch.add_argument("session_id", metavar="SESSION_ID", nargs="?", help="only this session, until it ends")
    watch.add_argument(
        "--interval",
        type=_seconds(MIN_INTERVAL),
        default=DEFAULT_INTERVAL,
        metavar="S",
        help=f"seconds between polls (default: {DEFAULT_INTERVAL}, at least {MIN_INTERVAL})",
    )
    watch.add_argument(
        "--for",
        dest="for_seconds",
        type=_seconds(0),
        metavar="S",
        help="stop after S seconds (default: Ctrl-C)",
    )
    watch.add_argument(
        "--tag", action="append", default=argparse.SUPPRESS, metavar="TAG", help="only sessions with this tag"
    )
    _source_options(watch, nested=True)
    sessions.set_defaults(handler=handler)


def build_parser(handlers: dict[str, Callable[..., int]]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentops-otel",
        description="AgentOps sessions on OpenTelemetry: the local backend, its projects, and the"
        " sessions it holds.",
        epilog=_MAIN_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"agentops-otel {__version__} (Python {sys.version.split()[0]})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.required = True
    _add_serve(commands, handlers["serve"])
    _add_projects(commands, handlers["projects"])
    _add_sessions(commands, handlers["sessions"])
    store_commands.add_prune_command(commands)
    demo = commands.add_parser(
        "demo",
        help="the end-to-end demonstration (no key, no network)",
        description=_DEMO_DESCRIPTION,
        epilog="example:\n  agentops-otel demo && agentops-otel sessions\n",
        formatter_class=_Formatter,
    )
    demo.add_argument("--db", metavar="PATH", help=_STORE_HELP % default_db_path())
    demo.set_defaults(handler=handlers["demo"])
    return parser
