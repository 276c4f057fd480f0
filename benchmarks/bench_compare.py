"""What LLM instrumentation costs the program it watches, side by side, with the backend up and down.

    python benchmarks/bench_compare.py                 # about 15 minutes (the first run also makes venvs)
    python benchmarks/bench_compare.py --baseline main # adds "ours (main)": the same code at a git ref
    python benchmarks/bench_compare.py --quick         # a smoke run: no installs, a few minutes

Every contender runs in a process of its own, in a virtual environment of its own (made once with pip
under ``$XDG_CACHE_HOME/agentops-otel-bench``, never in the repository), on the same versions of
``openai`` and the OpenTelemetry SDK as the environment running this script:

  none          the real openai SDK on a canned transport, nothing else
  bare span     one OTel span around the call (SDK provider, BatchSpanProcessor, OTLP/HTTP exporter)
  same attrs    the same, with the attributes ours writes (at start in one mapping, the rest at end)
  ours          ``agentops_otel.init()`` pointed at the backend (session, export thread, instrumentation)
  contrib       opentelemetry-instrumentation-openai-v2 on the stock provider
  contrib + usage  the same, its streams asking for the usage event as ours do (the fair stream figure)
  OpenLLMetry   opentelemetry-instrumentation-openai (Traceloop) on the stock provider, content off
  OpenInference openinference-instrumentation-openai (Arize) on the stock provider, content hidden
  Logfire       ``logfire.configure(send_to_logfire=False)`` + ``instrument_openai()``, exporting by the
                same OTLP/HTTP exporter (it records messages: its default, which cannot be turned off)
  AgentOps 0.4  ``agentops.init()`` pointed at the backend

A contender whose environment pip cannot make, or whose process does not start, is listed at the end
with the reason, and its columns read n/a.

The provider is a canned server on 127.0.0.1 (``--transport server``, the default): the SDK connects,
sends, parses and streams over loopback TCP as it does on the network. ``--transport mock`` uses
httpx's ``MockTransport`` in each process instead (no server process competing for the two cores).
Every contender makes the same calls, so the transport's cost cancels in "added".

Calls are interleaved in lockstep: each round runs every mode (sync, stream of 10 chunks, async, a tool
call) for every contender in a fresh random order, one process at a time, so drift of the machine falls
on all of them alike. Figures are per call, "added" = the contender minus ``none`` in the same round,
as medians over rounds with the 25th..75th percentile; ratios are between medians of the same run.

Backend up: a sink process on 127.0.0.1 that answers 200 (and a token). Backend down: a process that
accepts each connection and closes it (every delivery attempt is counted). Each worker has its own.
Spans queued by a sample are flushed after it, outside its wall time but inside "CPU, all threads".
The store of ours is a temporary file: the user's real store is never written.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _compare_extras as extras
from _compare_env import Backend, CannedProvider, Worker, cache_dir, ensure_venv, source_tree, worker_env

MODES = ("sync", "stream", "async", "tool")
#: label, contender, environment kind, git ref of ours (None: the working tree)
LINEUP: list[tuple[str, str, str]] = [
    ("none", "none", "floor"),
    ("bare span", "bare", "floor"),
    ("same attrs", "same", "floor"),
    ("ours", "ours", "ours"),
    ("contrib openai-v2", "contrib", "contrib"),
    ("contrib + usage", "contrib-usage", "contrib"),
    ("OpenLLMetry", "openllmetry", "openllmetry"),
    ("OpenInference", "openinference", "openinference"),
    ("Logfire", "logfire", "logfire"),
    ("AgentOps 0.4", "agentops", "agentops"),
]
NO_TOOL = {
    "contrib",
    "contrib-usage",
    "openllmetry",
    "openinference",
}  # instrumentations of the SDK only: no decorator to compare


class Run:
    """One run's environments, workers and samples."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.log = open(tmp / "install.log", "w")  # noqa: SIM115
        self.pythons: dict[str, Path | None] = {}
        self.skipped: dict[str, str] = {}
        self.versions: dict[str, dict[str, str]] = {}
        self.lineup = list(LINEUP)
        #: the canned provider's URL (None: httpx's in-process MockTransport)
        self.provider_url: str | None = None
        if args.baseline:
            self.lineup.insert(4, (f"ours ({args.baseline})", "ours", "ours"))
        if args.only:
            keep = {"none", "bare span", "same attrs", "ours", *args.only}
            self.lineup = [x for x in self.lineup if x[0] in keep or x[1] in keep]

    def python(self, kind: str) -> Path | None:
        if kind not in self.pythons:
            if self.args.quick or self.args.no_install:
                found = Path(sys.executable) if kind in ("floor", "ours") else None
                why = "skipped (--quick: no installs)" if found is None else ""
            else:
                found, why = ensure_venv(kind, Path(self.args.venvs), self.log)
            self.pythons[kind] = found
            if found is None:
                self.skipped[kind] = why
        return self.pythons[kind]

    def tree(self, label: str) -> Path | None:
        if label.startswith("ours"):
            ref = self.args.baseline if label != "ours" else None
            return source_tree(ref, self.tmp)
        return None

    def worker(self, label: str, contender: str, kind: str, backend: str, **extra: str) -> Worker | None:
        python = self.python(kind)
        if python is None:
            return None
        if self.provider_url is not None:
            extra = {"BENCH_PROVIDER": self.provider_url, **extra}
        env = worker_env(self.tmp, contender, backend, self.tree(label), **extra)
        if contender == "agentops":
            env["AGENTOPS_LOG_LEVEL"] = "CRITICAL"
        worker = Worker(label, contender, python, env)
        why = worker.start()
        if why:
            self.skipped[label] = f"did not start: {why}"
            return None
        self.versions[label] = worker.ready.get("versions", {})
        return worker


def phase(
    run: Run, mode: str, same_file: Path
) -> tuple[dict[tuple[str, str], list[dict[str, float]]], dict[str, Any]]:
    """All contenders against backends in ``mode`` ("up" or "down"), interleaved; samples per
    (label, call mode) and per-contender facts (delivery attempts, exit time)."""
    args = run.args
    backends: dict[str, Backend] = {}
    workers: dict[str, Worker] = {}
    facts: dict[str, Any] = {}
    try:
        # Ours first: its probe gives the same-attributes floor its attributes.
        for label, contender, kind in sorted(run.lineup, key=lambda x: x[0] != "ours"):
            backend = backends[label] = Backend(mode)
            extra = {"BENCH_SAME_ATTRIBUTES": str(same_file)} if contender == "same" else {}
            worker = run.worker(label, contender, kind, backend.url, **extra)
            if worker is not None:
                workers[label] = worker
            if label == "ours" and worker is not None and not same_file.exists():
                same_file.write_text(json.dumps(worker.ask("probe")))
        samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        start = time.monotonic()
        before = {label: backends[label].requests() for label in workers}
        for r in range(args.rounds):
            for call_mode in MODES:
                order = list(workers)
                random.shuffle(order)
                for label in order:
                    worker = workers[label]
                    if call_mode == "tool" and worker.contender in NO_TOOL:
                        continue
                    sample = worker.ask("run", mode=call_mode, calls=args.calls)
                    if mode == "up":
                        # What the sample queued is sent now: not in its wall time, in its CPU.
                        t0 = time.perf_counter()
                        settled = worker.ask("settle")
                        sample["settle"] = time.perf_counter() - t0
                        sample["proc"] += settled.get("proc", 0.0) / args.calls
                    samples.setdefault((label, call_mode), []).append(sample)
            print(f"  {mode}: round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
        minutes = (time.monotonic() - start) / 60
        for label, worker in workers.items():
            attempts = backends[label].requests() - before[label]
            facts[label] = {"requests_per_min": attempts / minutes, "exit_s": worker.quit()}
    finally:
        for worker in workers.values():
            worker.kill()
        for backend in backends.values():
            backend.stop()
    return samples, facts


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def added(
    samples: dict[tuple[str, str], list[dict[str, float]]], label: str, mode: str, key: str
) -> list[float]:
    """Per round: the contender's µs per call minus ``none``'s in the same round."""
    mine, base = samples.get((label, mode)), samples.get(("none", mode))
    if not mine or not base:
        return []
    return [(a[key] - b[key]) * 1e6 for a, b in zip(mine, base, strict=False)]


def table(run: Run, samples: dict[tuple[str, str], list[dict[str, float]]], key: str, title: str) -> None:
    labels = [label for label, _, _ in run.lineup if (label, "sync") in samples]
    print(f"\n{title}")
    print("| mode | none, µs/call | " + " | ".join(labels[1:]) + " |")
    print("|---|---:|" + "---:|" * (len(labels) - 1))
    for mode in MODES:
        base = samples.get(("none", mode))
        if not base:
            continue
        cells = [f"{statistics.median(s[key] for s in base) * 1e6:,.1f}"]
        for label in labels[1:]:
            values = added(samples, label, mode, key)
            cells.append(
                f"+{statistics.median(values):,.1f} ({_q(values, 0.25):,.0f}..{_q(values, 0.75):,.0f})"
                if values
                else "n/a"
            )
        print(f"| {mode} | " + " | ".join(cells) + " |")


def ratio(
    samples: dict[tuple[str, str], list[dict[str, float]]], a: str, b: str, mode: str, key: str
) -> float | None:
    """Median added cost of ``a`` over ``b``'s; None when either is missing or lost in the noise (its
    25th percentile at or below zero: on a busy machine the wall time of one call can swing more than
    the instrumentation costs, and a ratio of such medians means nothing)."""
    x, y = added(samples, a, mode, key), added(samples, b, mode, key)
    if not x or not y or _q(x, 0.25) <= 0 or _q(y, 0.25) <= 0:
        return None
    return statistics.median(x) / statistics.median(y)


def ratios(run: Run, phase_name: str, samples: dict[tuple[str, str], list[dict[str, float]]]) -> list[str]:
    """The ratio table of one phase; returns the target lines it checked."""
    pairs = [
        ("ours", "same attrs", "cpu", "ours / same attrs, caller CPU (target <= 1.15)", 1.15),
        ("ours", "contrib openai-v2", "wall", "ours / contrib, wall (target < 1)", 1.0),
        ("ours", "contrib openai-v2", "proc", "ours / contrib, CPU all threads (target < 1)", 1.0),
        ("ours", "contrib + usage", "wall", "ours / contrib + usage, wall (target < 1)", 1.0),
        ("ours", "contrib + usage", "proc", "ours / contrib + usage, CPU all threads (target < 1)", 1.0),
        ("ours", "bare span", "wall", "ours / bare span, wall", None),
        ("ours", "bare span", "proc", "ours / bare span, CPU all threads", None),
    ]
    for peer in ("OpenLLMetry", "OpenInference", "Logfire", "AgentOps 0.4"):
        pairs.append(("ours", peer, "wall", f"ours / {peer}, wall", None))
        pairs.append(("ours", peer, "proc", f"ours / {peer}, CPU all threads", None))
    if run.args.baseline:
        pairs.insert(
            0,
            ("ours", f"ours ({run.args.baseline})", "wall", f"ours / ours ({run.args.baseline}), wall", None),
        )
    checks: list[str] = []
    print(f"\nratios of added cost, backend {phase_name} (medians of the same run)")
    print("| ratio | " + " | ".join(MODES) + " |")
    print("|---|" + "---:|" * len(MODES))
    for a, b, key, text, target in pairs:
        cells = []
        for mode in MODES:
            value = ratio(samples, a, b, mode, key)
            cells.append("n/a" if value is None else f"{value:.2f}")  # n/a: not measured, or noise
            if target is not None and value is not None and not (mode == "tool" and "contrib" in b):
                ok = value <= target if target != 1.0 else value < target
                checks.append(
                    f"{'met   ' if ok else 'MISSED'} backend {phase_name}, {mode}: {text} = {value:.2f}"
                )
        print(f"| {text} | " + " | ".join(cells) + " |")
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: floors and ours only, tiny samples")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--transport",
        choices=("server", "mock"),
        default="server",
        help="server: a canned server on 127.0.0.1 over TCP (default); mock: httpx's MockTransport in-process",
    )
    parser.add_argument("--calls", type=int, default=300, help="calls per sample")
    parser.add_argument("--baseline", help="also run ours at this git ref (e.g. main)")
    parser.add_argument("--only", nargs="*", help="contenders beyond the floors and ours (labels or names)")
    parser.add_argument("--venvs", default=str(cache_dir() / "venvs"), help="where environments are kept")
    parser.add_argument("--no-install", action="store_true", help="floors and ours in this interpreter only")
    parser.add_argument("--skip-extras", action="store_true", help="only the side-by-side tables")
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans for the memory figure")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.spans = 2, 10, 5000
    with tempfile.TemporaryDirectory(prefix="agentops-bench-") as tmp_name:
        tmp = Path(tmp_name)
        run = Run(args, tmp)
        provider = CannedProvider() if args.transport == "server" else None
        run.provider_url = provider.url if provider is not None else None
        try:
            report(run, tmp / "same-attributes.json")
        finally:
            if provider is not None:
                provider.stop()


def report(run: Run, same_file: Path) -> None:
    """Both phases, the extras, the versions and skips, the targets: printed as they come."""
    args = run.args
    print(
        f"bench_compare: {args.rounds} interleaved rounds x {args.calls} calls per cell, transport "
        f"{args.transport}; µs per call, added over 'none' (median, 25th..75th percentile)"
    )
    checks: list[str] = []
    facts: dict[str, dict[str, Any]] = {}
    for mode in ("up", "down"):
        samples, facts[mode] = phase(run, mode, same_file)
        table(run, samples, "wall", f"backend {mode}: wall time per call")
        table(run, samples, "cpu", f"backend {mode}: CPU of the caller's thread per call")
        table(run, samples, "proc", f"backend {mode}: CPU of all threads per call (export included)")
        checks += ratios(run, mode, samples)
    print("\nbackend down: delivery attempts per minute (connections the backend saw), and exit time")
    for label, fact in facts["down"].items():
        print(f"  {label:22} {fact['requests_per_min']:8.1f} attempts/min   exit {fact['exit_s']:.2f} s")
    if not args.skip_extras:
        checks += extras.run_all(run)
    print("\nversions: " + json.dumps(run.versions.get("ours", {})))
    for label, versions in run.versions.items():
        if label != "ours":
            print(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("not measured:" if run.skipped else "not measured: none (every contender installed and started)")
    for what, why in run.skipped.items():
        print(f"  {what}: {why}")
    print("\ntargets (figures only: a benchmark never fails on timing)")
    for line in checks:
        print("  " + line)


if __name__ == "__main__":
    main()
