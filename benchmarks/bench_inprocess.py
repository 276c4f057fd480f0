"""What ours adds per LLM call against the floors and contrib openai-v2, variants of one process, and
``init()`` over fresh processes.

Separate processes carry offsets of their own for their whole life, which on a shared machine can be
as large as the differences between contenders (docs/performance.md, second round). ``calls`` runs the
contenders as variants of one process, switched between samples and paired per round (the variants are
described in ``_inprocess_calls.py``); ``init`` alternates fresh processes of two releases.

    python benchmarks/bench_inprocess.py calls [--rounds 20] [--backend up|down] [--transport server]
    python benchmarks/bench_inprocess.py instructions [--calls 20]   # the same cells, counted by callgrind
    python benchmarks/bench_inprocess.py bytecodes [--calls 20] [--top 25]   # bytecodes per function
    python benchmarks/bench_inprocess.py init [--runs 14] [--baseline SRC]

``init --baseline /path/to/other/checkout/src`` alternates the two releases process by process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SRC = Path(__file__).resolve().parents[1] / "src"
KEY = "00000000-0000-4000-8000-000000000000"


def _quartiles(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4)
    return f"{q[1]:7.1f} ({q[0]:.0f}..{q[2]:.0f})"


INIT_SCRIPT = f"""
import os, time
import openai
import agentops_otel
start, cpu = time.perf_counter(), time.thread_time()
agentops_otel.init(api_key="{KEY}", endpoint="http://127.0.0.1:9")
print((time.perf_counter() - start) * 1e3, (time.thread_time() - cpu) * 1e3)
os._exit(0)
"""


def init_times(runs: int, baseline: str | None) -> None:
    releases = {"this checkout": str(SRC), **({"baseline": baseline} if baseline else {})}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in releases}
    with tempfile.TemporaryDirectory(prefix="agentops-bench-init-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
        env["AGENTOPS_DB"] = str(Path(tmp) / "store.db")  # never the user's real store
        for _ in range(runs):
            for name, src in releases.items():
                out = subprocess.run(
                    [sys.executable, "-c", INIT_SCRIPT],
                    env={**env, "PYTHONPATH": src},
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=True,
                )
                wall, cpu = (float(x) for x in out.stdout.split())
                figures[name].append((wall, cpu))
    print(
        f"init() once openai is imported, {runs} fresh processes each, ms: wall median (25th..75th), caller CPU"
    )
    for name, pairs in figures.items():
        print(
            f"  {name:14} wall {_quartiles([w for w, _ in pairs])}  CPU {statistics.median(c for _, c in pairs):.2f}"
        )


def calls(args: argparse.Namespace) -> None:
    from _compare_env import Backend, CannedProvider

    tmp = tempfile.mkdtemp(prefix="agentops-bench-calls-")
    os.environ["AGENTOPS_DB"] = str(Path(tmp) / "store.db")  # spooled spans stay out of the user's store
    provider = CannedProvider() if args.transport == "server" else None
    if provider is not None:
        os.environ["BENCH_PROVIDER"] = provider.url  # read by _compare_worker.clients()
    backend = Backend(args.backend)
    try:
        import _inprocess_calls

        if args.what == "bytecodes":
            import _bytecodes

            _bytecodes.bytecodes(backend.url, KEY, args.calls, args.top, _inprocess_calls.MODES)
            return
        _inprocess_calls.calls(args.rounds, args.calls, backend.url, KEY)
    finally:
        backend.stop()
        if provider is not None:
            provider.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def instructions(args: argparse.Namespace) -> None:
    """The cells of ``calls``, each run once in one process under Valgrind's callgrind, which counts
    the instructions each cell's loop executes, per thread. Counts do not depend on what else the
    machine runs (the method CodSpeed uses in CI), so they settle differences that time cannot on a
    shared machine; they do not weigh cache misses or system calls."""
    from _compare_env import Backend, CannedProvider

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("bench_inprocess: valgrind not found (Debian: apt-get install valgrind)")
    tmp = Path(tempfile.mkdtemp(prefix="agentops-bench-instructions-"))
    env = {**os.environ, "AGENTOPS_DB": str(tmp / "store.db"), "PYTHONHASHSEED": "0"}
    provider = CannedProvider() if args.transport == "server" else None
    if provider is not None:
        env["BENCH_PROVIDER"] = provider.url
    backend = Backend(args.backend)
    cells_file = tmp / "cells.json"
    command = [
        valgrind,
        "--tool=callgrind",
        "--dump-before=os_getppid",  # the markers around each cell's loop
        "--separate-threads=yes",
        f"--callgrind-out-file={tmp / 'cg.out'}",
        sys.executable,
        str(Path(__file__).with_name("_inprocess_calls.py")),
        backend.url,
        KEY,
        str(args.calls),
        str(cells_file),
    ]
    print(f"callgrind: {args.calls} calls per cell under Valgrind, about 8 minutes", file=sys.stderr)
    try:
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=open(tmp / "log", "w"))  # noqa: SIM115
        _report_instructions(tmp, json.loads(cells_file.read_text()))
    finally:
        backend.stop()
        if provider is not None:
            provider.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _report_instructions(tmp: Path, run: dict[str, Any]) -> None:
    # cg.out.<dump>-<thread>: dump k holds what ran since marker k-1, so cell j's loop is dump 2j+2.
    # A marker dumps the thread that reaches it, the caller's (thread 1): the export thread's work is
    # not in these counts (bench_export.py measures it).
    counts: dict[int, int] = {}
    for path in tmp.glob("cg.out.*-01"):
        dump = int(path.name.removeprefix("cg.out.").split("-")[0])
        totals = next(line for line in path.read_text().splitlines() if line.startswith("totals:"))
        counts[dump] = int(totals.split()[1])
    n = run["calls"]
    per_call = {(m, v): counts.get(2 * j + 2, 0) / n for j, (m, v) in enumerate(run["cells"])}
    variants = ["bare", "same", "ours", *run["peers"]]
    print(f"instructions per call on the caller's thread (callgrind, {n} calls per cell), thousands")
    print("added over the uninstrumented call")
    print("| mode | uninstrumented | " + " | ".join(variants) + " | ours / same | ours / contrib |")
    print("|---|---:|" + "---:|" * (len(variants) + 2))
    for mode in ("sync", "stream", "async", "tool"):
        off = per_call[(mode, "off")]
        added: dict[str, float] = {}
        for v in variants:
            cell = per_call.get((mode, "contrib" if v == "contrib+u" and mode != "stream" else v))
            if cell is not None:
                added[v] = cell - off
        cells = [f"{added[v] / 1e3:,.1f}" if v in added else "n/a" for v in variants]
        for peer in ("same", "contrib+u" if mode == "stream" else "contrib"):
            ok = peer in added and added[peer] > 0
            cells.append(f"{added['ours'] / added[peer]:.2f}" if ok else "n/a")
        print(f"| {mode} | {off / 1e3:,.1f} | " + " | ".join(cells) + " |")
    no_tap = per_call.get(("stream", "no tap"))
    if no_tap is not None:
        saved = (no_tap - per_call[("stream", "ours")]) / 1e3
        print(f"the stream's usage tap saves {saved:,.1f} thousand instructions per stream")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("calls", "instructions", "bytecodes", "init"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=100, help="calls per sample")
    parser.add_argument(
        "--transport",
        choices=("mock", "server"),
        default="mock",
        help="server: bench_compare's canned provider over TCP",
    )
    parser.add_argument(
        "--backend", choices=("up", "down"), default="down", help="calls: the backend's state"
    )
    parser.add_argument("--top", type=int, default=25, help="bytecodes: functions listed per mode")
    parser.add_argument("--runs", type=int, default=14, help="fresh processes per release (init)")
    parser.add_argument("--baseline", help="init: the src directory of another release to alternate with")
    args = parser.parse_args()
    if args.what == "instructions":
        instructions(args)
        return
    if args.what in ("calls", "bytecodes"):
        calls(args)
        os._exit(0)  # no exit flush to wait for (the backend may be down)
    init_times(args.runs, args.baseline)


if __name__ == "__main__":
    main()
