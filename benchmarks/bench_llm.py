"""Time the LLM instrumentation adds per call, against the same call uninstrumented and inside one bare span.

All in one run, against an in-process MockTransport (no network): sync non-streamed chat, a streamed
chat (4 chunks) and async non-streamed chat. Spans go to an SDK TracerProvider with a
SimpleSpanProcessor and a no-op exporter, so what is measured is span work, not export.

    python benchmarks/bench_llm.py [calls per sample] [rounds]
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from agentops_otel.instrumentation.openai import OpenAIInstrumentor
from llm_fixtures import (
    CHAT_CHUNKS,
    CHAT_COMPLETION,
    USAGE_CHUNK,
    Server,
    json_response,
    openai_client,
    sse,
    sse_response,
)

MESSAGES = [{"role": "user", "content": "hi"}]


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    for _ in range(20):
        fn()
    gc.collect()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def main(calls: int, rounds: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NullExporter()))
    tracer = provider.get_tracer("bench")

    sync_client = openai_client(Server(json_response(CHAT_COMPLETION)))
    stream_client = openai_client(Server(sse_response(sse([*CHAT_CHUNKS, USAGE_CHUNK]))))
    loop = asyncio.new_event_loop()
    async_client = openai_client(Server(json_response(CHAT_COMPLETION)), is_async=True)

    def sync_call() -> None:
        sync_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, temperature=0.1)

    def stream_call() -> None:
        for _ in stream_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            pass

    def async_call() -> None:
        loop.run_until_complete(async_client.chat.completions.create(model="gpt-4o", messages=MESSAGES))

    def bare(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            with tracer.start_as_current_span("chat gpt-4o"):
                fn()

        return run

    cases = {"sync": sync_call, "stream": stream_call, "async": async_call}
    instrumentor = OpenAIInstrumentor()
    samples: dict[str, dict[str, list[float]]] = {n: {"plain": [], "bare": [], "ours": []} for n in cases}
    # Variants interleaved round by round, so drift on a shared machine hits all of them alike.
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name]["plain"].append(per_call_us(fn, calls))
            samples[name]["bare"].append(per_call_us(bare(fn), calls))
            instrumentor.instrument(tracer_provider=provider)
            samples[name]["ours"].append(per_call_us(fn, calls))
            instrumentor.uninstrument()
    loop.close()
    results = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in samples.items()}

    print(
        f"{calls} calls x {rounds} interleaved rounds, median us/call (MockTransport, SimpleSpanProcessor + null exporter)"
    )
    print(f"{'case':8} {'plain':>9} {'bare span':>10} {'ours':>9} {'+bare':>8} {'+ours':>8} {'ratio':>6}")
    for name, r in results.items():
        plain = r["plain"]
        added_bare = r["bare"] - plain
        added_ours = r["ours"] - plain
        ratio = added_ours / added_bare if added_bare > 0 else float("nan")
        print(
            f"{name:8} {plain:9.1f} {r['bare']:10.1f} {r['ours']:9.1f} "
            f"{added_bare:8.1f} {added_ours:8.1f} {ratio:6.2f}"
        )
    print("ratio = added by our instrumentation / added by one bare span (target <= 1.3)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 15)
