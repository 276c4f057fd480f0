"""Time the LLM instrumentation adds per call, against the same call uninstrumented and inside one bare span.

All in one run, against an in-process MockTransport (no network): sync non-streamed chat, a streamed
chat (4 chunks) and async non-streamed chat. Spans go to an SDK TracerProvider with a
SimpleSpanProcessor and a no-op exporter, so what is measured is span work, not export.

Variants, interleaved round by round: the call alone (plain), the call inside one bare span (bare),
the call instrumented (ours), and, for reference, the SDK alone doing the span work our spans need
(floor: one span started with the request attributes ours wrote, current around the call, the
response attributes set with one set_attributes, ended). Times are the thread's CPU time, so other
processes on a shared machine do not count; each round's figures are differences from that round's
plain, and the medians over rounds are printed.

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

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.util.types import Attributes

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


class LastSpan(SpanProcessor):
    """Keeps the attributes of the last span at its start and at its end (for the floor variant)."""

    def __init__(self) -> None:
        self.at_start: dict[str, Any] = {}
        self.at_end: dict[str, Any] = {}

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        self.at_start = dict(span.attributes or {})

    def on_end(self, span: ReadableSpan) -> None:
        self.at_end = dict(span.attributes or {})


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    for _ in range(20):
        fn()
    gc.collect()
    start = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - start) / calls * 1e6


def main(calls: int, rounds: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(NullExporter()))
    tracer = provider.get_tracer("bench")
    # A second provider, same setup plus the recorder, to learn which attributes ours writes.
    probe_provider = TracerProvider()
    probe_provider.add_span_processor(SimpleSpanProcessor(NullExporter()))
    last = LastSpan()
    probe_provider.add_span_processor(last)

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

    def floor(fn: Callable[[], None]) -> Callable[[], None]:
        instrumentor.instrument(tracer_provider=probe_provider)
        fn()
        instrumentor.uninstrument()
        start_attrs: Attributes = dict(last.at_start)
        end_attrs = {k: v for k, v in last.at_end.items() if k not in last.at_start}

        def run() -> None:
            span = tracer.start_span("chat gpt-4o", kind=trace.SpanKind.CLIENT, attributes=start_attrs)
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                fn()
            finally:
                otel_context.detach(token)
            span.set_attributes(end_attrs)
            span.end()

        return run

    floors: dict[str, Callable[[], None]] = {}
    counts: dict[str, tuple[int, int]] = {}
    for name, fn in cases.items():
        floors[name] = floor(fn)
        counts[name] = (len(last.at_start), len(last.at_end))
    added: dict[str, dict[str, list[float]]] = {n: {"bare": [], "ours": [], "floor": []} for n in cases}
    plains: dict[str, list[float]] = {n: [] for n in cases}
    # Variants interleaved round by round, so drift on a shared machine hits all of them alike.
    for _ in range(rounds):
        for name, fn in cases.items():
            plain = per_call_us(fn, calls)
            plains[name].append(plain)
            added[name]["bare"].append(per_call_us(bare(fn), calls) - plain)
            added[name]["floor"].append(per_call_us(floors[name], calls) - plain)
            instrumentor.instrument(tracer_provider=provider)
            added[name]["ours"].append(per_call_us(fn, calls) - plain)
            instrumentor.uninstrument()
    loop.close()

    print(
        f"{calls} calls x {rounds} interleaved rounds, thread CPU us/call, medians over rounds "
        "(MockTransport, SimpleSpanProcessor + null exporter)"
    )
    print(
        f"{'case':8} {'plain':>8} {'+bare':>7} {'+ours':>7} {'ratio':>6} {'+floor':>7} {'floor ratio':>12}  attributes"
    )
    for name in cases:
        plain = statistics.median(plains[name])
        a = {k: statistics.median(v) for k, v in added[name].items()}
        ratio = a["ours"] / a["bare"] if a["bare"] > 0 else float("nan")
        floor_ratio = a["floor"] / a["bare"] if a["bare"] > 0 else float("nan")
        n_start, n_all = counts[name]
        print(
            f"{name:8} {plain:8.1f} {a['bare']:7.1f} {a['ours']:7.1f} {ratio:6.2f} {a['floor']:7.1f} "
            f"{floor_ratio:12.2f}  {n_start} at start, {n_all - n_start} at end"
        )
    print("ratio = added by our instrumentation / added by one bare span (target <= 1.3)")
    print("floor = the SDK alone writing the same attributes on one span (no code of ours)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 15)
