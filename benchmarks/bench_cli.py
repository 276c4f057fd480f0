"""Cost of the CLI's rendering: the session table and a big session's span tree, on a pipe and fitted
to a 120-column colour terminal, against ``json.dumps`` of the same objects (what ``--json`` prints).

    python benchmarks/bench_cli.py [--sessions 2000] [--spans 5000] [--rounds 5]

The objects are shaped like the REST API's (SPEC.md section 5), a tenth of the names CJK and emoji.
Prints the median wall time of each variant and its ratio to ``json.dumps``, all from the same run,
interleaved round by round.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from agentops_otel.cli.render import print_session, print_sessions
from agentops_otel.cli.term import Terminal


def _session(i: int) -> dict[str, Any]:
    name = f"翻译代理 🤖 agent {i}" if i % 10 == 0 else f"support-agent-{i}"
    return {
        "session_id": str(uuid.uuid4()),
        "project_id": "p1",
        "name": name,
        "start_time": "2026-12-01T08:30:43.000000Z",
        "end_time": "2026-12-01T08:31:58.200000Z",
        "duration_s": 75.2,
        "end_state": ("Success", "Fail", "Indeterminate")[i % 3],
        "llm_calls": 3,
        "tool_calls": 5,
        "errors": i % 2,
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "cost_usd": 0.00036 * (i % 4),
    }


def _big_session(spans: int) -> dict[str, Any]:
    session = _session(1)
    root = {"span_id": "a" * 16, "parent_span_id": None, "name": "agent.session", "kind": "session"}
    items = [root]
    for i in range(spans):
        kind = ("llm", "tool", "agent")[i % 3]
        attributes = (
            {"gen_ai.usage.input_tokens": 100, "agentops.usage.cost_usd": 0.0001} if kind == "llm" else {}
        )
        items.append(
            {
                "span_id": f"{i:016x}",
                "parent_span_id": "a" * 16,
                "name": f"step {i}",
                "kind": kind,
                "status": "ERROR" if i % 50 == 0 else "UNSET",
                "status_message": "boom" if i % 50 == 0 else None,
                "attributes": attributes,
            }
        )
    for span in items:
        span.update(start_time="2026-12-01T08:30:43.000000Z", end_time="2026-12-01T08:30:44.250000Z")
    session["spans"] = items
    return session


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--spans", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sessions = [_session(i) for i in range(args.sessions)]
    big = _big_session(args.spans)
    pipe, terminal = Terminal(None, False), Terminal(120, True)
    variants: dict[str, Callable[[], object]] = {
        "list json.dumps": lambda: json.dumps({"sessions": sessions}, indent=2),
        "list table, pipe": lambda: print_sessions(sessions, io.StringIO(), pipe, projects={"p1": "local"}),
        "list table, 120-col tty": lambda: print_sessions(
            sessions, io.StringIO(), terminal, projects={"p1": "x"}
        ),
        "show json.dumps": lambda: json.dumps(big, indent=2),
        "show tree, pipe": lambda: print_session(big, io.StringIO(), pipe),
        "show tree, 120-col tty": lambda: print_session(big, io.StringIO(), terminal),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, work in variants.items():
            times[name].append(_timed(work))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.sessions} sessions, a session of {args.spans} spans; median of {args.rounds} rounds")
    for name, value in medians.items():
        baseline = medians["list json.dumps" if name.startswith("list") else "show json.dumps"]
        print(f"  {name:26} {value * 1000:8.1f} ms   x{value / baseline:5.2f} of json.dumps")


if __name__ == "__main__":
    main()
