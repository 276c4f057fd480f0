"""How the CLI shows sessions: tables, one session, its span tree."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any, TextIO

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


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    for line in (headers, *rows):
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")


def print_sessions(sessions: list[dict[str, Any]], out: TextIO) -> None:
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
    table(headers, rows, out)


def print_session(session: dict[str, Any], out: TextIO) -> None:
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
    print_tree(spans, out)


def print_tree(spans: list[dict[str, Any]], out: TextIO) -> None:
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
