"""The CLI's store administration: ``projects revoke|rotate|retention``, ``prune``, and ``serve``'s store
options (token lifetime, retention).

``projects rotate`` prints ``{"project_id": ..., "api_key": ...}`` like ``projects create``: the new key
is shown once, here, and never stored in clear.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agentops_otel.cli.sources import CliError, open_store_of
from agentops_otel.store import DEFAULT_TOKEN_TTL
from agentops_otel.store.retention import DEFAULT_PRUNE_EVERY, parse_age, parse_retention

_DB_HELP = "store file or postgresql:// URL (default: AGENTOPS_DB or the default store)"


def _age(text: str) -> float:
    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _retention(text: str) -> float | None:
    try:
        return parse_retention(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--token-ttl",
        type=_age,
        default=DEFAULT_TOKEN_TTL,
        help="lifetime of the tokens POST /v3/auth/token issues, e.g. 12h (default 1d)",
    )
    serve.add_argument(
        "--retention",
        type=_age,
        help="delete sessions (and their spans) older than this, e.g. 30d, unless their project has a"
        " retention of its own (default: keep everything)",
    )
    serve.add_argument(
        "--prune-every",
        type=_age,
        default=DEFAULT_PRUNE_EVERY,
        help="how often to apply retention (default 10m)",
    )


def add_project_commands(commands: Any) -> None:
    revoke = commands.add_parser("revoke", help="revoke an API key (and every token issued for it)")
    revoke.add_argument("api_key")
    revoke.add_argument("--db", help=_DB_HELP)
    rotate = commands.add_parser(
        "rotate", help="give a project a new API key, revoking all its earlier ones and their tokens"
    )
    rotate.add_argument("name", help="project name or id")
    rotate.add_argument("--db", help=_DB_HELP)
    retention = commands.add_parser(
        "retention", help="how long to keep a project's sessions (overrides serve --retention)"
    )
    retention.add_argument("name", help="project name or id")
    retention.add_argument("age", type=_retention, help="e.g. 30d, 12h; 'off' for the default")
    retention.add_argument("--db", help=_DB_HELP)


def run_project_command(store: Any, args: argparse.Namespace) -> None:
    if args.projects_command == "revoke":
        if not store.revoke_key(args.api_key):
            raise CliError("no such API key in the store, or it is revoked already")
        sys.stderr.write("API key revoked: it and its tokens are refused from now on\n")
    elif args.projects_command == "rotate":
        rotated = store.rotate_key(args.name)
        if rotated is None:
            raise CliError(f"no project {args.name!r} in the store")
        sys.stderr.write(f"every earlier API key of {args.name!r} is revoked: this is its new key\n")
        sys.stdout.write(json.dumps({"project_id": rotated[0], "api_key": rotated[1]}) + "\n")
    elif args.projects_command == "retention" and not store.set_retention(args.name, args.age):
        raise CliError(f"no project {args.name!r} in the store")


def _cmd_prune(args: argparse.Namespace) -> int:
    with open_store_of(args) as store:
        if args.project and store.project_id_of(args.project) is None:
            raise CliError(f"no project {args.project!r} in the store")
        deleted = store.prune(args.older_than, project=args.project)
    sys.stdout.write(json.dumps({"deleted_sessions": deleted}) + "\n")
    return 0


def add_prune_command(commands: Any) -> None:
    prune = commands.add_parser(
        "prune", help="delete old sessions and their spans now (each project's retention, else --older-than)"
    )
    prune.add_argument(
        "--older-than", type=_age, help="e.g. 30d, for projects without a retention of their own"
    )
    prune.add_argument("--project", help="only this project (name or id)")
    prune.add_argument("--db", help=_DB_HELP)
    prune.set_defaults(handler=_cmd_prune)
