"""``agentops-otel``: the local backend, its projects, and the sessions it holds (SPEC.md section 6).

Exit status: 0 on success (also when the reader of the output goes away: ``sessions | head``), 1 on an
error explained in one line on stderr (unknown session, refused key, unreachable backend, busy port,
missing store or server extra), 2 on a usage error, 130 when interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from agentops_otel._config import Configuration
from agentops_otel.cli import store_commands
from agentops_otel.cli.parser import DEFAULT_LIMIT, build_parser
from agentops_otel.cli.render import print_projects, print_session, print_sessions
from agentops_otel.cli.sources import CliError, open_source, open_store, require_store, resolve
from agentops_otel.cli.term import Terminal

__all__ = ["CliError", "build_parser", "main", "print_session", "print_sessions"]

# -- commands ----------------------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    from agentops_otel.backend.server import ServerExtraMissing, serve
    from agentops_otel.cli.parser import serve_options
    from agentops_otel.cli.serving import banner, check_listen

    db = args.db or Configuration.from_env().store_path
    port = check_listen(args.host, args.port)
    store = open_store(
        db, token_ttl=args.token_ttl
    )  # before the banner: a store that cannot open is the error
    try:
        import uvicorn  # noqa: F401  (the extra, checked before the banner promises a dashboard)
    except ImportError:
        pass
    else:
        banner(args.host, port, store.location)
    try:
        serve(
            args.host,
            port,
            store,
            max_body=args.max_body_size,
            log_level=args.log_level,
            access_log=args.access_log,
            token_ttl=args.token_ttl,
            retention=args.retention,
            prune_every=args.prune_every,
            **serve_options(args),
        )
    except ServerExtraMissing as exc:
        raise CliError(str(exc)) from None
    except SystemExit as exc:  # uvicorn's exit when start-up fails after all (a race for the port)
        if exc.code not in (0, None):
            raise CliError("the server could not start (see the lines above)") from None
    return 0


def _cmd_projects(args: argparse.Namespace) -> int:
    path = args.db or Configuration.from_env().store_path
    if args.projects_command != "create":
        require_store(path)  # listing, revoking... never create a store
    with open_store(path) as store:
        if args.projects_command == "create":
            project_id, api_key, created = store.create_project(args.name)
            if not created:
                sys.stderr.write(f"project {args.name!r} exists: this is a new API key for it\n")
            sys.stdout.write(json.dumps({"project_id": project_id, "api_key": api_key}) + "\n")
            if sys.stdout.isatty():
                _create_hint(args.name, api_key, store.location)
        elif args.projects_command == "list":
            projects = store.list_projects()
            if args.json:
                sys.stdout.write(json.dumps({"projects": projects}, indent=2) + "\n")
            else:
                print_projects(projects, sys.stdout, Terminal.of(sys.stdout, args.color or "auto"))
        else:
            store_commands.run_project_command(store, args)
    return 0


def _create_hint(name: str, api_key: str, path: str) -> None:
    """For a person at a terminal (stdout stays the one JSON object scripts read)."""
    sys.stderr.write(
        f"\nNext: send a program's sessions to project {name!r}:\n"
        f"  AGENTOPS_API_KEY={api_key} AGENTOPS_API_ENDPOINT=http://127.0.0.1:8000 python your_app.py\n"
        f"and see them, with `agentops-otel serve --db {path}` running:\n"
        f"  open http://127.0.0.1:8000/ and sign in with the key, or\n"
        f"  agentops-otel sessions --endpoint http://127.0.0.1:8000 --api-key {api_key}\n"
    )


def _reject(args: argparse.Namespace, names: Sequence[str], where: str) -> None:
    for name in names:
        if getattr(args, name, None) not in (None, []):
            flag = "--" + name.replace("_", "-")
            raise CliError(f"{flag} is for the session list, not `sessions {where}`: drop it")


def _cmd_sessions(args: argparse.Namespace) -> int:
    command = getattr(args, "sessions_command", None)
    term = Terminal.of(sys.stdout, getattr(args, "color", None) or "auto")
    if command == "show":
        _reject(args, ("tag", "end_state", "limit", "offset"), "show")
        return _show(args, term)
    if command == "watch":
        _reject(args, ("end_state", "limit", "offset"), "watch")
        return _watch(args, term)
    from agentops_otel.store.figures import normalise_end_state

    end_state = None
    if args.end_state:
        end_state = normalise_end_state(args.end_state)
        if end_state is None:
            raise CliError("--end-state must be Success, Fail or Indeterminate")
    source = open_source(args)
    limit = args.limit or DEFAULT_LIMIT
    sessions = source.list(args.tag or [], end_state, limit, args.offset or 0)
    if args.json:
        sys.stdout.write(json.dumps({"sessions": sessions}, indent=2) + "\n")
    elif sessions:
        print_sessions(sessions, sys.stdout, term, projects=source.project_names())
    else:
        sys.stdout.write(f"no sessions in {source.describe()}\n")
    return 0


def _show(args: argparse.Namespace, term: Terminal) -> int:
    from agentops_otel.cli.spans import llm_span_ids, print_span

    source = open_source(args)
    session = resolve(source, args.session_id)
    if not args.span:
        if args.json:
            sys.stdout.write(json.dumps(session, indent=2) + "\n")
        else:
            print_session(session, sys.stdout, term, projects=source.project_names())
        return 0
    spans: list[dict[str, Any]] = session.get("spans") or []
    wanted = args.span.strip().lower()
    found = [s for s in spans if str(s["span_id"]).lower().startswith(wanted)] if wanted else []
    if not found:
        raise CliError(f"no span {args.span} in session {session['session_id']}")
    if len(found) > 1:
        names = "\n".join(f"  {s['span_id']}  {s.get('name')}" for s in found[:10])
        raise CliError(f"{args.span} matches {len(found)} spans; give more of the id:\n{names}")
    span = found[0]
    if args.json:
        sys.stdout.write(json.dumps({"session_id": session["session_id"], **span}, indent=2) + "\n")
    else:
        print_span(span, span["span_id"] in llm_span_ids(spans), sys.stdout, term)
    return 0


def _watch(args: argparse.Namespace, term: Terminal) -> int:
    import time

    from agentops_otel.cli.watch import Watcher

    source = open_source(args)
    watcher = Watcher(source, sys.stdout, term, as_json=args.json, tags=getattr(args, "tag", None) or [])
    until = time.monotonic() + args.for_seconds if args.for_seconds is not None else None
    session = resolve(source, args.session_id) if args.session_id else None
    what = f"session {session['session_id']}" if session else "new sessions and their spans"

    def ready() -> None:  # once the sessions there now are known: what follows is new
        sys.stderr.write(f"agentops-otel: watching {source.describe()}: {what}; Ctrl-C stops\n")
        sys.stderr.flush()

    if session is not None:
        ready()
        return watcher.follow_one(session, args.interval, until)
    return watcher.follow_all(args.interval, until, ready)


def _cmd_demo(args: argparse.Namespace) -> int:
    from agentops_otel.cli import demo

    return int(demo.main(["--db", args.db] if args.db else []) or 0)


# -- entry point -------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    handlers = {"serve": _cmd_serve, "projects": _cmd_projects, "sessions": _cmd_sessions, "demo": _cmd_demo}
    return build_parser(handlers)


def _quiet_stdout() -> None:
    """After the reader of stdout left: point it at /dev/null so the flush at exit cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # a name a narrow locale cannot encode is shown, not fatal
        sys.stdout.reconfigure(errors="replace")
    try:
        args = _parser().parse_args(argv)
        result: int = args.handler(args)
        sys.stdout.flush()
        return result
    except BrokenPipeError:  # `agentops-otel sessions | head`: the reader has what it wanted
        _quiet_stdout()
        return 0
    except CliError as exc:
        sys.stderr.write(f"agentops-otel: error: {exc}\n")
        return 1
    except sqlite3.DatabaseError as exc:
        store = getattr(args, "db", None) or Configuration.from_env().store_path
        sys.stderr.write(f"agentops-otel: error: {store} is not a usable agentops-otel store ({exc})\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"agentops-otel: error: {exc}\n")
        return 1
    except KeyboardInterrupt:  # Ctrl-C: what was printed stays printed, no traceback
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            _quiet_stdout()
        return 130
