"""How often ``multiprocessing.Pool.terminate()`` hangs on a worker that never ran its SIGTERM handler.

CPython can lose a call to a Python signal handler (see ``agentops_otel/_internal/signal_watch.py``);
under the default action the kernel kills the worker anyway, under a Python handler it lives on and
``terminate()`` waits for it forever. Each contender runs in a process of its own and repeats
``with Pool(2) as pool: pool.map(...)`` (fork); a cycle that has not ended within ``--stuck`` seconds
counts as a hang, and its workers are killed (SIGKILL) so that the run goes on; one that ended after
more than 1 s counts as slow:

- ``default``: no handler at all (the kernel's default action, the floor: 0 hangs);
- ``python-handler``: a plain Python SIGTERM handler that re-raises the default action, no agentops;
- ``agentops``: ``agentops_otel.init()`` (our handler, and the net under it), spans to a file.

    python benchmarks/bench_pool_terminate.py --cycles 3000

Prints hangs, slow cycles and the slowest ``terminate()`` per contender, and cycles per second. Never
fails on figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

CHILD = """
import json, multiprocessing as mp, os, signal, sys, threading, time
CONTENDER, CYCLES, STUCK = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
if CONTENDER == "python-handler":
    def handler(signum, frame):
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    signal.signal(signal.SIGTERM, handler)
elif CONTENDER == "agentops":
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    import agentops_otel
    class Discard(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS
    agentops_otel.init(exporter=Discard(), instrument_llm_calls=False)
    from agentops_otel import tool
    work = tool(name="square")(lambda x: x * x)

def square(x):
    return work(x) if CONTENDER == "agentops" else x * x

if __name__ == "__main__":
    mp.set_start_method("fork")
    hangs, slow, slowest, start = 0, 0, 0.0, time.perf_counter()
    for _ in range(CYCLES):
        pool = mp.Pool(2)
        pool.map(square, range(4))
        ender = threading.Thread(target=pool.terminate, daemon=True)
        began = time.perf_counter()
        ender.start()
        ender.join(STUCK)
        took = time.perf_counter() - began
        if not ender.is_alive():
            slowest = max(slowest, took)
            slow += took > 1.0
        else:
            hangs += 1
            for worker in pool._pool:
                if worker.exitcode is None:
                    os.kill(worker.pid, signal.SIGKILL)
            ender.join()
    seconds = time.perf_counter() - start
    print(json.dumps({"hangs": hangs, "slow": slow, "slowest": slowest, "cycles": CYCLES, "seconds": seconds}))
"""


def run(contender: str, cycles: int, stuck: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(textwrap.dedent(CHILD))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
        env.update(PYTHONPATH=SRC, AGENTOPS_ENV_DATA_OPT_OUT="true", HOME=tmp)
        out = subprocess.run(
            [sys.executable, str(script), contender, str(cycles), str(stuck)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--stuck", type=float, default=10.0, help="seconds after which a cycle is a hang")
    parser.add_argument("--contenders", default="default,python-handler,agentops")
    args = parser.parse_args()
    print(f"{'contender':<16} {'hangs':>6} {'slow':>5} {'slowest s':>10} {'cycles':>7} {'cycles/s':>9}")
    for contender in args.contenders.split(","):
        result = run(contender, args.cycles, args.stuck)
        rate = result["cycles"] / result["seconds"]
        print(
            f"{contender:<16} {result['hangs']:>6} {result['slow']:>5} {result['slowest']:>10.2f}"
            f" {result['cycles']:>7} {rate:>9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
