"""Cost per span on the caller's thread: our processors against OpenTelemetry's own, same run.

    python benchmarks/bench_spans.py [--spans 20000] [--rounds 7]

Scenarios, each a fresh SDK TracerProvider, spans started as children of a session-like root:
  bare      no processors (the cost of a recording SDK span)
  bsp       + BatchSpanProcessor(null exporter): what a plain OTel setup pays
  session   + our SessionSpanProcessor only
  ours      + SessionSpanProcessor + ExportProcessor(null exporter): what agentops_otel adds
Figures are medians over interleaved rounds; ratios are to ``bare`` and to ``bsp`` of the same round.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agentops_otel._internal.context import with_session
from agentops_otel._internal.processors import ExportProcessor, SessionSpanProcessor


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def build(kind: str) -> TracerProvider:
    provider = TracerProvider()
    if kind in ("session", "ours"):
        provider.add_span_processor(SessionSpanProcessor())
    if kind == "ours":
        provider.add_span_processor(ExportProcessor(NullExporter(), max_queue_size=1 << 20))
    if kind == "bsp":
        provider.add_span_processor(BatchSpanProcessor(NullExporter(), max_queue_size=1 << 20))
    return provider


def run_round(provider: TracerProvider, n: int) -> float:
    tracer = provider.get_tracer("bench")
    root = tracer.start_span("agentops.session")
    ctx = with_session(trace.set_span_in_context(root), "6f1c3f4e-2f7b-4c3e-9a57-8d1e2f3a4b5c")
    token = otel_context.attach(ctx)
    try:
        started = time.perf_counter()
        for _ in range(n):
            with tracer.start_as_current_span("llm.call"):
                pass
        elapsed = time.perf_counter() - started
    finally:
        otel_context.detach(token)
        root.end()
    provider.force_flush()
    return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    kinds = ["bare", "bsp", "session", "ours"]
    providers = {kind: build(kind) for kind in kinds}
    results: dict[str, list[float]] = {kind: [] for kind in kinds}
    for kind in kinds:  # warm-up
        run_round(providers[kind], 2000)
    for _ in range(args.rounds):
        order = kinds[:]
        random.shuffle(order)
        for kind in order:
            results[kind].append(run_round(providers[kind], args.spans))
    bare = statistics.median(results["bare"])
    bsp = statistics.median(results["bsp"])
    print(f"{args.rounds} rounds x {args.spans} spans, median us per span (start + end, caller's thread)")
    print(f"{'scenario':10} {'us/span':>8} {'x bare':>7} {'x bsp':>6}")
    for kind in kinds:
        value = statistics.median(results[kind])
        print(f"{kind:10} {value:8.2f} {value / bare:7.2f} {value / bsp:6.2f}")
    for provider in providers.values():
        provider.shutdown()


if __name__ == "__main__":
    main()
