"""What ours adds per LLM call, variants compared within one process, and ``init()`` over fresh processes.

Separate processes carry offsets of their own for their whole life, which on a shared machine can be
as large as the differences between contenders (docs/performance.md, second round). Here the variants
share one process: the real ``openai`` client on httpx's ``MockTransport``, ``init()`` with the backend
down (``--transport server``: bench_compare's canned provider over loopback TCP), and the
instrumentation switched on and off between samples (``Patcher.active``); rounds are
interleaved in random order and each round's figures are paired. Caller-thread CPU per call.

    python benchmarks/bench_inprocess.py calls [--rounds 20]     # sync, async, stream; usage tap on/off
    python benchmarks/bench_inprocess.py init [--runs 14] [--baseline SRC]   # init() in fresh processes

``init --baseline /path/to/other/checkout/src`` alternates the two releases process by process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

SRC = Path(__file__).resolve().parents[1] / "src"
KEY = "00000000-0000-4000-8000-000000000000"
MESSAGES = [{"role": "user", "content": "hi"}]


def _quartiles(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4)
    return f"{q[1]:7.1f} ({q[0]:.0f}..{q[2]:.0f})"


def calls(rounds: int, per_sample: int, provider_url: str | None = None) -> None:
    import agentops_otel
    import agentops_otel.instrumentation._openai as openai_module
    from agentops_otel.instrumentation._patching import OPENAI
    from llm_fixtures import (
        CHAT_COMPLETION,
        USAGE_CHUNK,
        Server,
        chat_chunk,
        json_response,
        openai_client,
        sse,
        sse_response,
    )

    agentops_otel.init(api_key=KEY, endpoint="http://127.0.0.1:9")  # nothing listens: backend down
    if provider_url is not None:  # bench_compare's canned provider, over loopback TCP
        import openai

        sync_client = stream_client = openai.OpenAI(base_url=f"{provider_url}/v1", api_key="sk-bench")
        async_client = openai.AsyncOpenAI(base_url=f"{provider_url}/v1", api_key="sk-bench")
    else:
        chunks = [chat_chunk(f"w{i} ") for i in range(9)] + [chat_chunk(finish="stop")]
        sync_client = openai_client(Server(json_response(CHAT_COMPLETION)))
        async_client = openai_client(Server(json_response(CHAT_COMPLETION)), is_async=True)
        stream_client = openai_client(Server(sse_response(sse([*chunks, USAGE_CHUNK]))))
    loop = asyncio.new_event_loop()
    tap = openai_module._tap_usage_chunk

    async def async_calls(n: int) -> None:
        for _ in range(n):
            await async_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def stream_calls(n: int) -> None:
        for _ in range(n):
            for _chunk in stream_client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            ):
                pass

    modes: dict[str, Callable[[int], Any]] = {
        "sync": lambda n: [
            sync_client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES) for _ in range(n)
        ],
        "async": lambda n: loop.run_until_complete(async_calls(n)),
        "stream": stream_calls,
    }
    # (mode, variant): variant "off" = uninstrumented; "no tap" = a stream's usage chunk built by the SDK.
    cells = [(m, v) for m in modes for v in ("on", "off")] + [("stream", "no tap")]
    results: dict[tuple[str, str], list[float]] = {cell: [] for cell in cells}

    def sample(mode: str, variant: str, n: int) -> float:
        OPENAI.active = variant != "off"
        openai_module._tap_usage_chunk = tap if variant != "no tap" else (lambda stream: None)
        gc.collect()
        start = time.thread_time()
        modes[mode](n)
        return (time.thread_time() - start) / n * 1e6

    for cell in cells:
        sample(*cell, n=5)
    for r in range(rounds):
        order = list(cells)
        random.shuffle(order)
        for cell in order:
            results[cell].append(sample(*cell, n=per_sample))
        print(f"  round {r + 1}/{rounds}", file=sys.stderr)
    openai_module._tap_usage_chunk = tap
    OPENAI.active = True
    print(f"caller CPU per call, µs: {rounds} interleaved rounds x {per_sample} calls, median (25th..75th)")
    print("| mode | uninstrumented | ours | added, paired per round |")
    print("|---|---:|---:|---:|")
    for mode in modes:
        on, off = results[(mode, "on")], results[(mode, "off")]
        added = [a - b for a, b in zip(on, off, strict=True)]
        print(f"| {mode} | {_quartiles(off)} | {_quartiles(on)} | {_quartiles(added)} |")
    no_tap = results[("stream", "no tap")]
    paired = [a - b for a, b in zip(results[("stream", "on")], no_tap, strict=True)]
    print(
        f"stream, usage chunk built by the SDK (no tap): {_quartiles(no_tap)}; tap - no tap: {_quartiles(paired)}"
    )


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("calls", "init"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=100, help="calls per sample")
    parser.add_argument(
        "--transport",
        choices=("mock", "server"),
        default="mock",
        help="server: bench_compare's canned provider over TCP",
    )
    parser.add_argument("--runs", type=int, default=14, help="fresh processes per release (init)")
    parser.add_argument("--baseline", help="init: the src directory of another release to alternate with")
    args = parser.parse_args()
    if args.what == "calls":
        tmp = tempfile.mkdtemp(prefix="agentops-bench-calls-")
        os.environ["AGENTOPS_DB"] = str(Path(tmp) / "store.db")  # spooled spans stay out of the user's store
        if args.transport == "server":
            sys.path.insert(0, os.path.dirname(__file__))
            from _compare_env import CannedProvider

            provider = CannedProvider()
            try:
                calls(args.rounds, args.calls, provider.url)
            finally:
                provider.stop()
        else:
            calls(args.rounds, args.calls)
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(0)  # the backend is down: no exit flush to wait for
    init_times(args.runs, args.baseline)


if __name__ == "__main__":
    main()
