"""``sessions watch``: new sessions and their spans as they arrive, by polling.

Each poll reads the newest sessions (one list request) and re-reads only the sessions whose span count
or end changed since the last poll, printing the spans not printed before. Bounded: every read has the
source's timeout, a poll at most ``_WINDOW`` sessions, memory the spans of sessions still running;
``--for`` ends the watch after that many seconds, and watching one session ends when it does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from agentops_otel.cli import format as fmt
from agentops_otel.cli.render import state_of
from agentops_otel.cli.sources import LocalSource, RemoteSource
from agentops_otel.cli.spans import figures, is_work, llm_span_ids, parse_time, seconds_between
from agentops_otel.cli.term import BOLD, DIM, RED, STATE_STYLES, YELLOW, Terminal, fit_line

_WINDOW = 100  # the newest sessions each poll looks at


@dataclass
class _Seen:
    span_count: int = -1
    ended: bool = False
    spans: set[str] = field(default_factory=set)


class Watcher:
    def __init__(
        self,
        source: LocalSource | RemoteSource,
        out: TextIO,
        term: Terminal,
        *,
        as_json: bool = False,
        tags: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.out = out
        self.term = term
        self.as_json = as_json
        self.tags = list(tags)
        self.clock = clock
        self.seen: dict[str, _Seen] = {}

    # -- following -----------------------------------------------------------------------------------

    def follow_all(
        self, interval: float, until: float | None, ready: Callable[[], None] | None = None
    ) -> int:
        """Every session that starts or changes from now on; spans of sessions running now too."""
        for session in self.source.list(self.tags, None, _WINDOW, 0):
            seen = self.seen[session["session_id"]] = _Seen(ended=bool(session.get("end_time")))
            if not seen.ended:  # already running: its spans so far are history, the rest news
                full = self._full(session)
                seen.spans = {s["span_id"] for s in (full or {}).get("spans") or []}
                seen.span_count = int(session.get("span_count") or 0)
        if ready is not None:
            ready()
        while not self._sleep(interval, until):
            for session in reversed(self.source.list(self.tags, None, _WINDOW, 0)):  # oldest first
                self._update(session)
            self._forget()
        return 0

    def follow_one(self, session: dict[str, Any], interval: float, until: float | None) -> int:
        """One session's spans (those so far, then new ones) until it ends."""
        self._update(session, full=session)
        while not self.seen[session["session_id"]].ended:
            if self._sleep(interval, until):
                return 0
            current = self._full(session)
            if current is not None:
                self._update(current, full=current)
        return 0

    def _sleep(self, interval: float, until: float | None) -> bool:
        """Wait one interval; True when the time allowed is over."""
        if until is not None and self.clock() + interval > until:
            time.sleep(max(0.0, until - self.clock()))
            return True
        time.sleep(interval)
        return False

    def _full(self, session: dict[str, Any]) -> dict[str, Any] | None:
        if isinstance(self.source, LocalSource):
            return self.source.get(session["session_id"], session.get("project_id"))
        return self.source.get(session["session_id"])

    def _update(self, session: dict[str, Any], full: dict[str, Any] | None = None) -> None:
        sid = session["session_id"]
        seen = self.seen.get(sid)
        if seen is None:
            seen = self.seen[sid] = _Seen()
            self._emit_session("session_started", session)
        ended = bool(session.get("end_time"))
        count = int(session.get("span_count") or 0)
        if seen.ended or (count == seen.span_count and ended == seen.ended):
            return
        full = full or self._full(session)
        spans = [s for s in (full or {}).get("spans") or [] if is_work(s)]
        llm = llm_span_ids(spans)
        new = [s for s in spans if s["span_id"] not in seen.spans and s.get("parent_span_id")]
        for span in sorted(new, key=lambda s: (s.get("end_time") or "", s["span_id"])):
            self._emit_span(session, span, span["span_id"] in llm)
            seen.spans.add(span["span_id"])
        seen.span_count = count
        if ended:
            seen.ended, seen.spans = True, set()
            self._emit_session("session_ended", full or session)

    def _forget(self) -> None:
        if len(self.seen) > 4 * _WINDOW:  # ended sessions that left the window
            for sid in [k for k, v in self.seen.items() if v.ended][: len(self.seen) - 2 * _WINDOW]:
                del self.seen[sid]

    # -- printing ------------------------------------------------------------------------------------

    def _write(self, event: dict[str, Any], segments: list[tuple[str, str | None]]) -> None:
        if self.as_json:
            self.out.write(json.dumps(event) + "\n")
        else:
            self.out.write(fit_line(segments, self.term) + "\n")
        self.out.flush()

    def _emit_session(self, event: str, session: dict[str, Any]) -> None:
        summary = {k: v for k, v in session.items() if k != "spans"}
        moment = session.get("start_time") if event == "session_started" else session.get("end_time")
        head = [(f"{_clock(moment)}  ", DIM), (f"{fmt.short_id(session['session_id'])}  ", None)]
        if event == "session_started":
            tags = ", ".join(session.get("tags") or [])
            text = f"session started  {session.get('name') or fmt.MISSING}" + (f"  [{tags}]" if tags else "")
            self._write({"event": event, "session": summary}, [*head, (text, BOLD)])
            return
        state = state_of(session)
        details = (
            f"  {fmt.duration(session.get('duration_s'))}  {fmt.count(session.get('llm_calls'))} LLM"
            f"  {fmt.count(session.get('tool_calls'))} tools  {fmt.count(session.get('errors'))} errors"
            f"  {fmt.session_cost(session)}"
        )
        self._write(
            {"event": event, "session": summary},
            [*head, ("session ended  ", BOLD), (state, STATE_STYLES.get(state)), (details, None)],
        )

    def _emit_span(self, session: dict[str, Any], span: dict[str, Any], llm: bool) -> None:
        took = fmt.duration(seconds_between(span.get("start_time"), span.get("end_time")))
        segments: list[tuple[str, str | None]] = [
            (f"{_clock(span.get('end_time'))}  ", DIM),
            (f"{fmt.short_id(session['session_id'])}    ", None),
            (f"{span.get('kind') or 'span'}  {span.get('name')}  {took}", None),
        ]
        numbers = figures(span, llm)
        if llm:
            total = (numbers["input_tokens"] or 0) + (numbers["output_tokens"] or 0)
            cost = fmt.span_cost(numbers)
            segments += [
                (f"  {fmt.tokens(total)} tokens  ", None),
                (cost, YELLOW if cost == fmt.UNKNOWN else None),
            ]
        if span.get("status") == "ERROR":
            segments.append((f"  ERROR: {span.get('status_message') or ''}".rstrip(": "), RED))
        event = {"event": "span", "session_id": session["session_id"], "span": span}
        self._write(event, segments)


def _clock(value: str | None) -> str:
    moment = parse_time(value)
    return moment.strftime("%H:%M:%S") if moment else "--:--:--"
