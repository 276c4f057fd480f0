"""``agentops-otel``: the local backend, its projects, and the sessions it holds (SPEC.md section 6).

Exit status: 0 on success, 1 on an error explained on stderr (unknown session, refused key, unreachable
backend, missing server extra), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import Any

from agentops_otel.cli import store_commands
from agentops_otel.cli.render import print_session, print_sessions, table
from agentops_otel.cli.sources import CliError, StoreUnusable, open_source, open_store_of

# -- commands ----------------------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    from agentops_otel.backend.server import ServerExtraMissing, serve

    try:
        serve(
            args.host,
            args.port,
            open_store_of(args, token_ttl=args.token_ttl),
            max_body=args.max_body_size,
            log_level=args.log_level,
            access_log=args.access_log,
            token_ttl=args.token_ttl,
            retention=args.retention,
            prune_every=args.prune_every,
        )
    except ServerExtraMissing as exc:
        raise CliError(str(exc)) from None
    return 0


def _cmd_projects(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        if args.projects_command == "create":
            project_id, api_key, created = store.create_project(args.name)
            if not created:
                sys.stderr.write(f"project {args.name!r} exists: this is a new API key for it\n")
            sys.stdout.write(json.dumps({"project_id": project_id, "api_key": api_key}) + "\n")
        elif args.projects_command == "list":
            projects = store.list_projects()
            if args.json:
                sys.stdout.write(json.dumps({"projects": projects}, indent=2) + "\n")
            else:
                rows = [
                    (p["project_id"], p["name"], p["created"] or "-", str(p["sessions"])) for p in projects
                ]
                table(("PROJECT", "NAME", "CREATED (UTC)", "SESSIONS"), rows, sys.stdout)
        else:
            store_commands.run_project_command(store, args)
    return 0


def _cmd_sessions(args: argparse.Namespace) -> int:
    source = open_source(args)
    if getattr(args, "sessions_command", None) == "show":
        session = source.get(args.session_id)
        if session is None:
            raise CliError(f"no session {args.session_id} in {source.describe()}")
        if args.json:
            sys.stdout.write(json.dumps(session, indent=2) + "\n")
        else:
            print_session(session, sys.stdout)
        return 0
    from agentops_otel.store.figures import normalise_end_state

    end_state = None
    if args.end_state:
        end_state = normalise_end_state(args.end_state)
        if end_state is None:
            raise CliError("--end-state must be Success, Fail or Indeterminate")
    sessions = source.list(args.tag or [], end_state, args.limit, args.offset)
    if args.json:
        sys.stdout.write(json.dumps({"sessions": sessions}, indent=2) + "\n")
    elif sessions:
        print_sessions(sessions, sys.stdout)
    else:
        sys.stdout.write(f"no sessions in {source.describe()}\n")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from agentops_otel.cli import demo

    return int(demo.main(["--db", args.db] if args.db else []) or 0)


# -- parser ------------------------------------------------------------------------------------------


def _add_source_options(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    # In ``sessions show`` the options are also accepted after the subcommand; SUPPRESS keeps the
    # subparser from overwriting values given before it.
    default: Any = argparse.SUPPRESS if nested else None
    group = parser.add_argument_group("where to read (default: the local store)")
    group.add_argument(
        "--db", default=default, help="local store file (default: AGENTOPS_DB or the default store)"
    )
    group.add_argument(
        "--endpoint", default=default, help="backend base URL (default: AGENTOPS_API_ENDPOINT)"
    )
    group.add_argument(
        "--api-key", default=default, help="API key for --endpoint (default: AGENTOPS_API_KEY)"
    )
    parser.add_argument("--json", action="store_true", default=default, help="print JSON for scripts")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentops-otel", description="AgentOps sessions on OpenTelemetry.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    serve = commands.add_parser("serve", help="run the local backend (OTLP receiver and REST API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--db", help="store file or postgresql:// URL (default: AGENTOPS_DB or the default store)"
    )
    serve.add_argument("--max-body-size", type=int, default=16 * 1024 * 1024, help="bytes (default 16 MiB)")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
    store_commands.add_serve_options(serve)
    serve.set_defaults(handler=_cmd_serve)

    projects = commands.add_parser("projects", help="projects and their API keys")
    project_commands = projects.add_subparsers(dest="projects_command", metavar="SUBCOMMAND")
    project_commands.required = True
    create = project_commands.add_parser("create", help="create a project (or a new key for it)")
    create.add_argument("name")
    create.add_argument("--db", help="store file (default: AGENTOPS_DB or the default store)")
    listing = project_commands.add_parser("list", help="list projects")
    listing.add_argument("--db", help="store file (default: AGENTOPS_DB or the default store)")
    listing.add_argument("--json", action="store_true")
    store_commands.add_project_commands(project_commands)
    projects.set_defaults(handler=_cmd_projects)
    store_commands.add_prune_command(commands)

    sessions = commands.add_parser("sessions", help="list sessions, or show one")
    _add_source_options(sessions, nested=False)
    sessions.add_argument("--tag", action="append", help="only sessions with this tag (repeatable)")
    sessions.add_argument("--end-state", help="Success, Fail or Indeterminate")
    sessions.add_argument("--limit", type=_count(1), default=50)
    sessions.add_argument("--offset", type=_count(0), default=0)
    session_commands = sessions.add_subparsers(dest="sessions_command", metavar="show")
    show = session_commands.add_parser("show", help="one session and its span tree")
    show.add_argument("session_id")
    _add_source_options(show, nested=True)
    sessions.set_defaults(handler=_cmd_sessions)

    demo = commands.add_parser("demo", help="the end-to-end demonstration")
    demo.add_argument("--db", help="store file (default: AGENTOPS_DB or the default store)")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except CliError as exc:
        sys.stderr.write(f"agentops-otel: error: {exc}\n")
        return 1
    except sqlite3.DatabaseError as exc:
        store = getattr(args, "db", None) or "the store"
        sys.stderr.write(f"agentops-otel: error: {store} is not a usable agentops-otel store ({exc})\n")
        return 1
    except StoreUnusable as exc:
        sys.stderr.write(f"agentops-otel: error: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"agentops-otel: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
