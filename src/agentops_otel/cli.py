"""``agentops-otel``: the local backend, its projects, and the sessions it holds (SPEC.md section 6).

Exit status: 0 on success, 1 on an error explained on stderr (unknown session, refused key, unreachable
backend, missing server extra), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sqlite3
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from agentops_otel._internal.config import Configuration

_HTTP_TIMEOUT = 10.0


class CliError(Exception):
    """An error to print on stderr, exiting 1."""


# -- where sessions come from --------------------------------------------------------------------------


class _LocalSource:
    def __init__(self, path: str) -> None:
        self.path = path

    def _store(self) -> Any:
        from agentops_otel.backend.store import Store

        return Store(self.path)

    def list(
        self, tags: Sequence[str], end_state: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        if not os.path.exists(self.path):
            return []
        with self._store() as store:
            sessions: list[dict[str, Any]] = store.list_sessions(
                None, tags=tags, end_state=end_state, limit=limit, offset=offset
            )
            return sessions

    def get(self, session_id: str) -> dict[str, Any] | None:
        if not os.path.exists(self.path):
            return None
        with self._store() as store:
            found: dict[str, Any] | None = store.get_session(session_id)
            return found

    def describe(self) -> str:
        return f"store {self.path}"


class _RemoteSource:
    def __init__(self, endpoint: str, api_key: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        url = self.endpoint + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"null")
            except ValueError:
                payload = None
            return exc.code, payload
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach the backend at {self.endpoint}: {reason}") from None
        except ValueError:
            raise CliError(
                f"{url} did not answer with JSON; is {self.endpoint} an agentops-otel backend?"
            ) from None

    def _authenticate(self) -> None:
        if self._token:
            return
        status, payload = self._request("POST", "/v3/auth/token", {"api_key": self.api_key})
        if status == 401:
            raise CliError(f"the backend at {self.endpoint} refused the API key (401): check --api-key")
        if status != 200 or not isinstance(payload, dict) or "token" not in payload:
            raise CliError(f"POST {self.endpoint}/v3/auth/token answered {status}: {_message(payload)}")
        self._token = str(payload["token"])

    def list(
        self, tags: Sequence[str], end_state: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        self._authenticate()
        query: list[tuple[str, Any]] = [("limit", limit), ("offset", offset)]
        query += [("tag", t) for t in tags]
        if end_state:
            query.append(("end_state", end_state))
        status, payload = self._request("GET", "/api/sessions?" + urllib.parse.urlencode(query))
        if status != 200 or not isinstance(payload, dict):
            raise CliError(f"GET {self.endpoint}/api/sessions answered {status}: {_message(payload)}")
        sessions: list[dict[str, Any]] = payload.get("sessions", [])
        return sessions

    def get(self, session_id: str) -> dict[str, Any] | None:
        self._authenticate()
        status, payload = self._request("GET", "/api/sessions/" + urllib.parse.quote(session_id, safe=""))
        if status == 404:
            return None
        if status != 200 or not isinstance(payload, dict):
            raise CliError(
                f"GET {self.endpoint}/api/sessions/{session_id} answered {status}: {_message(payload)}"
            )
        return payload

    def describe(self) -> str:
        return f"backend {self.endpoint}"


def _message(payload: Any) -> str:
    if isinstance(payload, dict) and "error" in payload:
        return str(payload["error"])
    return json.dumps(payload)[:200]


def _source(args: argparse.Namespace) -> _LocalSource | _RemoteSource:
    db = getattr(args, "db", None)
    endpoint = getattr(args, "endpoint", None)
    api_key = getattr(args, "api_key", None)
    if db and endpoint:
        raise CliError("use either --db or --endpoint, not both")
    env = Configuration.from_env()
    if db:
        return _LocalSource(db)
    endpoint = endpoint or env.endpoint
    if endpoint:
        api_key = api_key or env.api_key
        if not api_key:
            raise CliError(f"reading {endpoint} needs an API key: --api-key or AGENTOPS_API_KEY")
        return _RemoteSource(endpoint, api_key)
    return _LocalSource(env.store_path)


# -- formatting --------------------------------------------------------------------------------------


def _parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _short_time(value: str | None) -> str:
    moment = _parse_time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _cost(value: float | None) -> str:
    return f"${value:.4f}" if value else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for line in (headers, *rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")


def _print_sessions(sessions: list[dict[str, Any]], out: TextIO) -> None:
    headers = (
        "SESSION",
        "NAME",
        "START (UTC)",
        "DURATION",
        "END STATE",
        "LLM",
        "TOOLS",
        "ERRORS",
        "TOKENS",
        "COST",
    )
    rows = [
        (
            s["session_id"],
            s.get("name") or "-",
            _short_time(s.get("start_time")),
            _duration(s.get("duration_s")) + ("" if s.get("end_time") else " (running)"),
            s.get("end_state") or "-",
            str(s.get("llm_calls", 0)),
            str(s.get("tool_calls", 0)),
            str(s.get("errors", 0)),
            str(s.get("total_tokens", 0)),
            _cost(s.get("cost_usd")),
        )
        for s in sessions
    ]
    _table(headers, rows, out)


def _print_session(session: dict[str, Any], out: TextIO) -> None:
    fields = [
        ("session", session["session_id"]),
        ("project", session.get("project_id")),
        ("name", session.get("name")),
        ("start", session.get("start_time")),
        ("end", session.get("end_time") or "(running or never ended)"),
        ("duration", _duration(session.get("duration_s"))),
        ("end state", session.get("end_state")),
        ("reason", session.get("end_state_reason")),
        ("tags", ", ".join(session.get("tags") or []) or "-"),
        ("spans", session.get("span_count")),
        ("llm calls", session.get("llm_calls")),
        ("tool calls", session.get("tool_calls")),
        ("actions", session.get("actions")),
        ("errors", session.get("errors")),
        (
            "tokens",
            f"{session.get('total_tokens', 0)} (prompt {session.get('prompt_tokens', 0)},"
            f" completion {session.get('completion_tokens', 0)})",
        ),
        ("cost", _cost(session.get("cost_usd"))),
        ("video", session.get("video")),
    ]
    host = session.get("host_env") or {}
    if host:
        fields.append(("host", ", ".join(f"{k}={v}" for k, v in sorted(host.items()))))
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        if value is None or value == "":
            continue
        out.write(f"{key.ljust(width)}  {value}\n")
    spans = session.get("spans") or []
    out.write(f"\nspans ({len(spans)}):\n")
    _print_tree(spans, out)


def _print_tree(spans: list[dict[str, Any]], out: TextIO) -> None:
    ids = {s["span_id"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parent_span_id")
        children.setdefault(parent if parent in ids else None, []).append(span)

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            start, end = _parse_time(span.get("start_time")), _parse_time(span.get("end_time"))
            took = _duration((end - start).total_seconds()) if start and end else "-"
            kind = f" [{span['kind']}]" if span.get("kind") else ""
            status = f"  {span['status']}" if span.get("status") not in (None, "UNSET") else ""
            message = f": {span['status_message']}" if span.get("status_message") else ""
            out.write(f"{'  ' * depth}- {span['name']}{kind}  {took}{status}{message}\n")
            walk(span["span_id"], depth + 1)

    walk(None, 1)


# -- commands ----------------------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> int:
    from agentops_otel.backend.server import ServerExtraMissing, serve

    try:
        serve(
            args.host,
            args.port,
            args.db or Configuration.from_env().store_path,
            max_body=args.max_body_size,
            log_level=args.log_level,
            access_log=args.access_log,
        )
    except ServerExtraMissing as exc:
        raise CliError(str(exc)) from None
    return 0


def _cmd_projects(args: argparse.Namespace) -> int:
    from agentops_otel.backend.store import Store

    path = args.db or Configuration.from_env().store_path
    with Store(path) as store:
        if args.projects_command == "create":
            project_id, api_key, created = store.create_project(args.name)
            if not created:
                sys.stderr.write(f"project {args.name!r} exists: this is a new API key for it\n")
            sys.stdout.write(json.dumps({"project_id": project_id, "api_key": api_key}) + "\n")
        else:
            projects = store.list_projects()
            if args.json:
                sys.stdout.write(json.dumps({"projects": projects}, indent=2) + "\n")
            else:
                rows = [
                    (p["project_id"], p["name"], p["created"] or "-", str(p["sessions"])) for p in projects
                ]
                _table(("PROJECT", "NAME", "CREATED (UTC)", "SESSIONS"), rows, sys.stdout)
    return 0


def _cmd_sessions(args: argparse.Namespace) -> int:
    source = _source(args)
    if getattr(args, "sessions_command", None) == "show":
        session = source.get(args.session_id)
        if session is None:
            raise CliError(f"no session {args.session_id} in {source.describe()}")
        if args.json:
            sys.stdout.write(json.dumps(session, indent=2) + "\n")
        else:
            _print_session(session, sys.stdout)
        return 0
    from agentops_otel.backend.figures import normalise_end_state

    end_state = None
    if args.end_state:
        end_state = normalise_end_state(args.end_state)
        if end_state is None:
            raise CliError("--end-state must be Success, Fail or Indeterminate")
    sessions = source.list(args.tag or [], end_state, args.limit, args.offset)
    if args.json:
        sys.stdout.write(json.dumps({"sessions": sessions}, indent=2) + "\n")
    elif sessions:
        _print_sessions(sessions, sys.stdout)
    else:
        sys.stdout.write(f"no sessions in {source.describe()}\n")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from agentops_otel import demo

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
    serve.add_argument("--db", help="store file (default: AGENTOPS_DB or the default store)")
    serve.add_argument("--max-body-size", type=int, default=16 * 1024 * 1024, help="bytes (default 16 MiB)")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument("--access-log", action="store_true", help="log every request")
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
    projects.set_defaults(handler=_cmd_projects)

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
    except OSError as exc:
        sys.stderr.write(f"agentops-otel: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
