"""How the CLI shows sessions: the session table, one session, its span tree, projects.

Every figure goes through :mod:`agentops_otel.cli.format`, the formats the dashboard shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from agentops_otel.cli import format as fmt
from agentops_otel.cli.spans import figures, is_work, llm_span_ids, seconds_between, utc_time
from agentops_otel.cli.term import BOLD, DIM, RED, STATE_STYLES, YELLOW, Cell, Column, Terminal, fit_line
from agentops_otel.cli.term import table as _table
from agentops_otel.store.calls import is_unpriced

_BYTES_KEYS = ("memory.total", "disk.total")


def state_of(session: Mapping[str, Any]) -> str:
    """The end state, or ``running`` while the session has no end (it runs, or died unended)."""
    if not session.get("end_time"):
        return "running"
    return str(session.get("end_state") or "Indeterminate")


def _cost_cell(text: str) -> Cell:
    return (text, YELLOW) if fmt.UNKNOWN in text else text


def print_sessions(
    sessions: list[dict[str, Any]],
    out: TextIO,
    term: Terminal | None = None,
    *,
    projects: Mapping[str, str] | None = None,
) -> None:
    """The session table; with ``projects`` (id -> name), a PROJECT column."""
    term = term or Terminal.of(out)
    columns = [
        Column("SESSION", flex=9, cut_first=True),
        Column("NAME", flex=10),
        Column("PROJECT", flex=7, drop=3),
        Column("START (UTC)"),
        Column("DURATION", right=True),
        Column("STATE"),
        Column("LLM", right=True, drop=2),
        Column("TOOLS", right=True, drop=5),
        Column("ERRORS", right=True, drop=1),
        Column("TOKENS", right=True, drop=4),
        Column("COST", right=True),
    ]
    rows: list[list[Cell]] = []
    for s in sessions:
        state = state_of(s)
        errors = int(s.get("errors") or 0)
        project = s.get("project_id") or ""
        rows.append(
            [
                s["session_id"],
                s.get("name") or fmt.MISSING,
                (projects or {}).get(project, project) or fmt.MISSING,
                utc_time(s.get("start_time")),
                fmt.duration(s.get("duration_s")),
                (state, STATE_STYLES.get(state)),
                fmt.count(s.get("llm_calls", 0)),
                fmt.count(s.get("tool_calls", 0)),
                (fmt.count(errors), RED if errors else None),
                fmt.tokens(s.get("total_tokens", 0)),
                _cost_cell(fmt.session_cost(s)),
            ]
        )
    if projects is None:
        columns.pop(2)
        for row in rows:
            row.pop(2)
    _table(columns, rows, out, term)


def print_projects(projects: list[dict[str, Any]], out: TextIO, term: Terminal | None = None) -> None:
    term = term or Terminal.of(out)
    columns = [Column("PROJECT", flex=9, cut_first=True), Column("NAME", flex=12), Column("CREATED (UTC)")]
    columns.append(Column("SESSIONS", right=True))
    rows: list[list[Cell]] = [
        [p["project_id"], p["name"], utc_time(p.get("created")), fmt.count(p.get("sessions", 0))]
        for p in projects
    ]
    _table(columns, rows, out, term)


def _host_value(key: str, value: Any) -> str:
    if key.endswith(_BYTES_KEYS) and isinstance(value, (int, float)):
        return fmt.bytes_(value)
    return str(value)


def _unpriced(span: Mapping[str, Any]) -> bool:
    f = figures(span, True)
    failed = span.get("status") == "ERROR"
    return is_unpriced(f["cost_usd"], failed, f["input_tokens"] or 0, f["output_tokens"] or 0)


def session_cost_text(session: Mapping[str, Any]) -> str:
    """The session's cost, with the LLM calls that have no price: the store's count
    (``unpriced_llm_calls``), or, from a backend that does not give it, counted from the spans."""
    if isinstance(session.get("unpriced_llm_calls"), int):
        unpriced, calls = session["unpriced_llm_calls"], int(session.get("llm_calls") or 0)
    else:
        spans = [s for s in session.get("spans") or [] if is_work(s)]
        llm = llm_span_ids(spans)
        unpriced = sum(1 for s in spans if s["span_id"] in llm and _unpriced(s))
        calls = max(int(session.get("llm_calls") or 0), len(llm))
    text = fmt.session_cost({**session, "llm_calls": calls, "unpriced_llm_calls": unpriced})
    if unpriced:
        text += f" (no price for {unpriced} of {calls} LLM calls)"
    return text


def print_session(
    session: dict[str, Any],
    out: TextIO,
    term: Terminal | None = None,
    *,
    projects: Mapping[str, str] | None = None,
) -> None:
    """One session: its figures, then its span tree; ``projects`` (id -> name) names its project."""
    term = term or Terminal.of(out)
    state = state_of(session)
    end = session.get("end_time")
    project = session.get("project_id")
    if project and (projects or {}).get(project):
        project = f"{(projects or {})[project]} ({project})"
    fields: list[tuple[str, Any, str | None]] = [
        ("session", session["session_id"], None),
        ("project", project, None),
        ("name", session.get("name"), BOLD),
        ("start (UTC)", utc_time(session.get("start_time")), None),
        ("end (UTC)", utc_time(end) if end else "(running, or its process ended without ending it)", None),
        ("duration", fmt.duration(session.get("duration_s")), None),
        ("end state", session.get("end_state") if end else state, STATE_STYLES.get(state)),
        ("reason", session.get("end_state_reason"), None),
        ("tags", ", ".join(session.get("tags") or []) or fmt.MISSING, None),
        ("spans", fmt.count(session.get("span_count")), None),
        ("llm calls", fmt.count(session.get("llm_calls")), None),
        ("tool calls", fmt.count(session.get("tool_calls")), None),
        ("actions", fmt.count(session.get("actions")), None),
        ("errors", fmt.count(session.get("errors")), RED if session.get("errors") else None),
        (
            "tokens",
            f"{fmt.tokens(session.get('total_tokens'))} (prompt {fmt.tokens(session.get('prompt_tokens'))},"
            f" completion {fmt.tokens(session.get('completion_tokens'))})",
            None,
        ),
        ("cost", session_cost_text(session), None),
        ("video", session.get("video"), None),
    ]
    host = session.get("host_env") or {}
    if host:
        fields.append(("host", ", ".join(f"{k}={_host_value(k, v)}" for k, v in sorted(host.items())), None))
    pad = max(len(k) for k, _, _ in fields)
    for key, value, style in fields:
        if value is None or value == "":
            continue
        out.write(fit_line([(f"{key.ljust(pad)}  ", None), (str(value), style)], term) + "\n")
    spans = [s for s in session.get("spans") or [] if is_work(s)]
    out.write(f"\nspans ({len(spans)}):\n")
    print_tree(spans, out, term)


def print_tree(spans: list[dict[str, Any]], out: TextIO, term: Terminal | None = None) -> None:
    """One line a span: its id's first 8 characters (``--span`` takes them), name, kind, duration,
    tokens and cost of an LLM call, and status; children indented under their parent."""
    term = term or Terminal.of(out)
    ids = {s["span_id"] for s in spans}
    llm = llm_span_ids(spans)
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span.get("parent_span_id")
        children.setdefault(parent if parent in ids else None, []).append(span)
    # Iterative, so a 5,000-span chain cannot exhaust the recursion limit.
    stack: list[tuple[dict[str, Any], int]] = [(s, 1) for s in reversed(children.get(None, []))]
    while stack:
        span, depth = stack.pop()
        out.write(fit_line(_tree_segments(span, depth, span["span_id"] in llm), term) + "\n")
        stack.extend((child, depth + 1) for child in reversed(children.get(span["span_id"], [])))


def _tree_segments(span: dict[str, Any], depth: int, llm: bool) -> Sequence[tuple[str, str | None]]:
    took = fmt.duration(seconds_between(span.get("start_time"), span.get("end_time")))
    kind = f" [{span['kind']}]" if span.get("kind") else ""
    segments: list[tuple[str, str | None]] = [
        (f"  {fmt.short_id(span['span_id'])}  ", DIM),
        (f"{'  ' * (depth - 1)}- {span['name']}{kind}", None),
        (f"  {took}", None),
    ]
    numbers = figures(span, llm)
    if llm or numbers["cost_usd"] is not None:
        total = (numbers["input_tokens"] or 0) + (numbers["output_tokens"] or 0)
        segments.append((f"  {fmt.tokens(total)} tokens", None))
        cost = fmt.span_cost(numbers)
        segments.append((f"  {cost}", YELLOW if cost == fmt.UNKNOWN else None))
    if span.get("status") not in (None, "UNSET"):
        style = RED if span["status"] == "ERROR" else None
        segments.append((f"  {span['status']}", style))
        if span.get("status_message"):
            segments.append((f": {span['status_message']}", style))
    return segments


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """A plain table (the older interface): left-aligned columns, fitted to a terminal."""
    _table([Column(h, flex=12) for h in headers], rows, out, Terminal.of(out))
