"""Export-side encoding cost per span: our OTLP encoder against the official one, same run.

    python benchmarks/bench_encode.py [--batch 512] [--rounds 15]

Shapes (real SDK spans from a TracerProvider with a Resource like ours):
  small  3 string attributes
  llm    12 attributes incl. a 2 KB prompt and a 1 KB completion (random words), 1 event
For each shape and round, the same batch is encoded by
  official  opentelemetry.exporter.otlp.proto.common.trace_encoder.encode_spans + SerializeToString
  ours      agentops_otel._internal.exporters.otlp_encoding.encode_spans
in alternating order. Figures are medians (and minima) over rounds of wall and thread-CPU time,
in microseconds per span; the ratio is official / ours. Each round also checks that both encodings
parse to equal messages, so the figures compare the same work.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official_encode
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentops_otel._internal.exporters.otlp_encoding import encode_spans as our_encode

WORDS = [
    "agent",
    "tool",
    "model",
    "prompt",
    "answer",
    "search",
    "context",
    "token",
    "latency",
    "budget",
    "plan",
    "step",
    "result",
]


def text(rng: random.Random, size: int) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def make_spans(shape: str, n: int) -> list[ReadableSpan]:
    rng = random.Random(7)
    memory = InMemorySpanExporter()
    resource = Resource.create(
        {"service.name": "bench", "host.name": "box", "os.type": "linux", "process.runtime.name": "cpython"}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("agentops_otel", "0.1.0")
    session = "6f1c3f4e-2f7b-4c3e-9a57-8d1e2f3a4b5c"
    with tracer.start_as_current_span("agentops.session"):
        for i in range(n):
            if shape == "small":
                attrs: dict[str, object] = {
                    "session.id": session,
                    "agentops.span.kind": "tool",
                    "tool.name": f"lookup-{i % 10}",
                }
                with tracer.start_as_current_span("tool.call", attributes=attrs):
                    pass
            else:
                attrs = {
                    "session.id": session,
                    "agentops.span.kind": "llm",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": rng.randint(100, 4000),
                    "gen_ai.usage.output_tokens": rng.randint(10, 800),
                    "gen_ai.request.temperature": 0.7,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "llm.cost.usd": 0.00042,
                    "gen_ai.prompt": text(rng, 2048),
                    "gen_ai.completion": text(rng, 1024),
                }
                with tracer.start_as_current_span("openai.chat", attributes=attrs) as span:
                    span.add_event("gen_ai.content.prompt", {"role": "user", "index": 0})
    spans = [s for s in memory.get_finished_spans() if s.name != "agentops.session"]
    provider.shutdown()
    return spans


def official(spans: Sequence[ReadableSpan]) -> bytes:
    return official_encode(spans).SerializeToString()


def timed(
    fn: Callable[[Sequence[ReadableSpan]], bytes], spans: Sequence[ReadableSpan]
) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn(spans)
    return time.perf_counter() - wall, time.thread_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"batch {args.batch} spans, {args.rounds} rounds; us/span (median, min); ratio = official / ours")
    print(
        f"{'shape':6} {'encoder':9} {'wall med':>9} {'wall min':>9} {'cpu med':>9} {'bytes/span':>10} {'ratio':>6}"
    )
    for shape in ("small", "llm"):
        spans = make_spans(shape, args.batch)
        ours_bytes = our_encode(spans)
        if ExportTraceServiceRequest.FromString(ours_bytes) != official_encode(spans):
            raise SystemExit(f"{shape}: our encoding differs from the official one")
        figures: dict[str, tuple[list[float], list[float]]] = {"official": ([], []), "ours": ([], [])}
        encoders = {"official": official, "ours": our_encode}
        for round_ in range(args.rounds):
            order = ["official", "ours"] if round_ % 2 == 0 else ["ours", "official"]
            for name in order:
                wall, cpu = timed(encoders[name], spans)
                figures[name][0].append(wall)
                figures[name][1].append(cpu)
        per_span = 1e6 / len(spans)
        medians = {name: statistics.median(walls) * per_span for name, (walls, _) in figures.items()}
        for name, (walls, cpus) in figures.items():
            ratio = medians["official"] / medians[name]
            print(
                f"{shape:6} {name:9} {medians[name]:9.2f} {min(walls) * per_span:9.2f} "
                f"{statistics.median(cpus) * per_span:9.2f} {len(ours_bytes) / len(spans):10.0f} {ratio:6.2f}"
            )


if __name__ == "__main__":
    main()
