"""The figures of ``bench_compare.py`` beyond the per-call tables: export CPU per span against the stock
path, import and ``init()`` time, exit on a hung backend, memory after many spans with the backend down.
Each returns the target lines it checked."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

from _compare_env import HERE, Backend, source_tree, worker_env


def export_cpu(run: Any) -> list[str]:
    """``bench_export.py`` in the environment of ours: export-thread CPU per span, ours against
    BatchSpanProcessor + OTLPSpanExporter, and the delivery attempts while a batch backs off."""
    python = run.python("ours")
    if python is None:
        return []
    quick = run.args.quick
    argv = ["--spans", "512", "--rounds", "1", "--down-seconds", "1"] if quick else ["--rounds", "5"]
    env = worker_env(run.tmp, "export", "", source_tree(None, run.tmp))
    print("\nexport CPU per span (benchmarks/bench_export.py)", flush=True)
    done = subprocess.run(
        [str(python), str(HERE / "bench_export.py"), *argv],
        env=env,
        cwd=env["BENCH_HOME"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(done.stdout.rstrip() or done.stderr[-2000:])
    checks = []
    for line in done.stdout.splitlines():
        if "ratio stock/ours" in line:
            value = float(line.split("ratio stock/ours")[1].split()[0])
            checks.append(
                f"{'met   ' if value >= 2 else 'MISSED'} export CPU per span: stock / ours = {value:.2f} (target >= 2)"
            )
        if "delivery attempts" in line:
            checks.append("see   " + line.strip())
    return checks


def startup(run: Any) -> list[str]:
    """Import of the instrumentation and its setup (``init()`` for ours), each in fresh processes, with
    ``openai`` already imported as in a program that uses it; and the CLI's start."""
    times = 3 if run.args.quick else 7
    print(f"\nstart-up, median of {times} fresh processes (openai already imported), ms")
    print("| contender | import | init / instrument |")
    print("|---|---:|---:|")
    checks = []
    backend = Backend("up")
    try:
        for label, contender, kind in run.lineup:
            if contender in ("none", "same"):
                continue
            python = run.python(kind)
            if python is None:
                continue
            got: dict[str, list[float]] = {"import_s": [], "init_s": []}
            for _ in range(times):
                env = worker_env(run.tmp, contender, backend.url, run.tree(label), BENCH_STARTUP="1")
                if contender == "agentops":
                    env["AGENTOPS_LOG_LEVEL"] = "CRITICAL"
                done = subprocess.run(
                    [str(python), str(HERE / "_compare_worker.py")],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                if done.returncode != 0 or not done.stdout.strip():
                    break
                import json

                answer = json.loads(done.stdout.splitlines()[0])
                for key in got:
                    if key in answer:
                        got[key].append(answer[key] * 1000)
            if not got["init_s"]:
                continue
            imp, ini = statistics.median(got["import_s"] or [0.0]), statistics.median(got["init_s"])
            print(f"| {label} | {imp:.1f} | {ini:.1f} |")
            if label == "ours":
                checks.append(
                    f"{'met   ' if ini < 5 else 'MISSED'} init() once imported = {ini:.2f} ms (target < 5)"
                )
    finally:
        backend.stop()
    for label in [x[0] for x in run.lineup if x[1] == "ours"]:
        tree = run.tree(label)
        python = run.python("ours")
        if python is None or tree is None:
            continue
        walls = []
        for _ in range(times):
            env = worker_env(run.tmp, "cli", "", tree)
            t0 = time.perf_counter()
            subprocess.run(
                [str(python), "-m", "agentops_otel.cli", "--help"],
                env=env,
                cwd=env["BENCH_HOME"],
                capture_output=True,
                timeout=60,
            )
            walls.append(time.perf_counter() - t0)
        print(
            f"  {label}: `python -m agentops_otel.cli --help` {statistics.median(walls) * 1000:.0f} ms (whole process)"
        )
    return checks


def exit_hung(run: Any) -> list[str]:
    """Exit of a program that made 600 LLM calls while its backend accepts and never answers."""
    print(
        "\nexit with a hung backend (accepts, never answers), 600 calls made: seconds from the last line to exit"
    )
    checks = []
    for label, contender, kind in run.lineup:
        if contender in ("none", "same") or (run.args.quick and contender != "ours"):
            continue
        backend = Backend("hung")
        try:
            worker = run.worker(label, contender, kind, backend.url)
            if worker is None:
                continue
            worker.ask("run", mode="sync", calls=600)
            seconds = worker.quit(timeout=90)
            worker.kill()
            print(f"  {label:22} {seconds:6.2f} s")
            if label == "ours":
                checks.append(
                    f"{'met   ' if seconds < 4.5 else 'MISSED'} exit on a hung backend = {seconds:.2f} s (bound: shutdown_timeout 3 s + 1 s)"
                )
        finally:
            backend.stop()
    return checks


def memory(run: Any) -> list[str]:
    """Resident memory after N spans (decorated tool calls; bare spans for the stock path) with the
    backend down: the queues are bounded, so it must stay flat."""
    n = run.args.spans
    print(f"\nmemory with the backend down: RSS before and after {n:,} spans, MB")
    for label, contender, kind in run.lineup:
        if label not in ("bare span", "ours"):
            continue
        backend = Backend("down")
        try:
            worker = run.worker(label, contender, kind, backend.url)
            if worker is None:
                continue
            before = worker.ask("rss")
            after = worker.ask("spans", count=n, timeout=1800)
            worker.kill()
            print(
                f"  {label:22} {before['rss_mb']:7.1f} -> {after['rss_mb']:7.1f} (peak {after['peak_mb']:.1f}), "
                f"{after['seconds'] / n * 1e6:.1f} µs per span"
            )
        finally:
            backend.stop()
    return []


def run_all(run: Any) -> list[str]:
    checks: list[str] = []
    for step in (export_cpu, startup, exit_hung, memory):
        try:
            checks += step(run)
        except Exception as exc:  # one figure failing leaves the others
            print(f"  {step.__name__} failed: {exc!r}", file=sys.stderr)
    return checks
