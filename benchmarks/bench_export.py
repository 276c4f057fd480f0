"""Export-side cost per span: our export path against the stock OpenTelemetry one, same run.

    python benchmarks/bench_export.py [--spans 4096] [--rounds 5] [--down-seconds 5]

1. CPU of the export thread per span, backend up: LLM-like spans (12 attributes, a 2 KB prompt, a
   1 KB completion, one event) made on the main thread, then flushed;
     stock  BatchSpanProcessor + OTLPSpanExporter (protobuf, requests)
     ours   ExportProcessor + AgentOpsSpanExporter (our encoder, urllib3)
   both POST to the same sink, a separate process on 127.0.0.1 that answers 200. The figure is the
   export thread's own CPU clock (pthread_getcpuclockid), plus the main thread's CPU in the final
   flush (the stock ``force_flush`` exports on the calling thread), per span; ratio = stock / ours.
2. Backend down (the sink answers 503 without Retry-After): spans made as fast as the main thread can
   for ``--down-seconds``; delivery attempts (requests the sink saw) and export-thread CPU per span.
   Before this change every span end woke the worker past its backoff (7,683 attempts for 7,680
   spans); now the attempts follow the backoff.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter
from agentops_otel._internal.processors import ExportProcessor

SINK = r"""
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
status = int(sys.argv[1])
count = [0]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v3/auth/token":
            body, code = b'{"token": "t", "project_id": "p"}', 200
        else:
            count[0] += 1
            body, code = b"", status
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        body = str(count[0]).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

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
    return " ".join(rng.choice(WORDS) for _ in range(size // 6))[:size]


class Sink:
    def __init__(self, status: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SINK, str(status)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{self.process.stdout.readline().strip()}"

    def requests(self) -> int:
        import urllib.request

        with urllib.request.urlopen(self.url + "/count", timeout=5) as answer:
            return int(answer.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def thread_cpu(before: set[threading.Thread]) -> Callable[[], float]:
    """A reader of the CPU clock of the export thread: the one thread started since ``before``."""
    (thread,) = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert thread.ident is not None
    clock = time.pthread_getcpuclockid(thread.ident)
    return lambda: time.clock_gettime(clock)


def make_provider(kind: str, url: str) -> tuple[TracerProvider, SpanProcessor, set[threading.Thread]]:
    before = set(threading.enumerate())
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False)
    if kind == "stock":
        processor: SpanProcessor = BatchSpanProcessor(
            OTLPSpanExporter(endpoint=url + "/v1/traces"), max_queue_size=1 << 16, max_export_batch_size=512
        )
    else:
        processor = ExportProcessor(
            AgentOpsSpanExporter("key", api_url=url, timeout=5),
            max_queue_size=1 << 16,
            max_export_batch_size=512,
        )
        processor.start()
    provider.add_span_processor(processor)
    return provider, processor, before


def emit(provider: TracerProvider, n: int, rng: random.Random) -> None:
    tracer = provider.get_tracer("bench")
    prompt, completion = text(rng, 2048), text(rng, 1024)
    for i in range(n):
        with tracer.start_as_current_span("chat gpt-4o") as span:
            span.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.response.model": "gpt-4o-2024-08-06",
                    "gen_ai.usage.input_tokens": 512 + i % 7,
                    "gen_ai.usage.output_tokens": 128,
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.response.finish_reasons": ("stop",),
                    "gen_ai.input.messages": prompt,
                    "gen_ai.output.messages": completion,
                    "session.id": "6f1c3f4e-2f7b-4c3e-9a57-8d1e2f3a4b5c",
                    "agentops.span.kind": "llm",
                }
            )
            span.add_event("gen_ai.choice", {"index": 0})


def cpu_per_span(kind: str, url: str, n: int) -> float:
    provider, processor, threads = make_provider(kind, url)
    rng = random.Random(7)
    emit(provider, 64, rng)  # warm-up: imports, the token, the connection
    processor.force_flush(30_000)
    clock = thread_cpu(threads)
    before = clock()
    emit(provider, n, rng)
    # The stock force_flush exports on the calling thread: that CPU is export CPU too.
    flush_start = time.thread_time()
    ok = processor.force_flush(60_000)
    spent = clock() - before + (time.thread_time() - flush_start)
    provider.shutdown()
    assert ok, f"{kind}: flush failed"
    return spent / n * 1e6


def down(sink: Sink, seconds: float) -> tuple[int, int, float]:
    provider, processor, threads = make_provider("ours", sink.url)
    rng = random.Random(3)
    time.sleep(0.3)  # the exporter is built
    clock = thread_cpu(threads)
    before_requests, before_cpu = sink.requests(), clock()
    made = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        emit(provider, 16, rng)
        made += 16
        time.sleep(0.001)
    attempts, cpu = sink.requests() - before_requests, clock() - before_cpu
    processor.shutdown(0.2)
    return made, attempts, cpu / max(made, 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--down-seconds", type=float, default=5.0)
    args = parser.parse_args()
    up = Sink(200)
    try:
        results: dict[str, list[float]] = {"stock": [], "ours": []}
        for _ in range(args.rounds):
            for kind in random.sample(list(results), 2):
                results[kind].append(cpu_per_span(kind, up.url, args.spans))
    finally:
        up.stop()
    stock, ours = statistics.median(results["stock"]), statistics.median(results["ours"])
    print(
        f"backend up: {args.rounds} rounds x {args.spans} LLM-like spans; export-thread CPU, us/span (median, min)"
    )
    for kind in ("stock", "ours"):
        print(f"  {kind:6} {statistics.median(results[kind]):8.1f} {min(results[kind]):8.1f}")
    print(f"  ratio stock/ours {stock / ours:.2f} (target >= 2)")
    failing = Sink(503)
    try:
        print(
            f"backend down (503, no Retry-After) for {args.down_seconds:.0f} s, spans made as fast as possible:"
        )
        made, attempts, cpu = down(failing, args.down_seconds)
        print(f"  ours   {made} spans made, {attempts} delivery attempts, {cpu:.1f} us export CPU per span")
    finally:
        failing.stop()


if __name__ == "__main__":
    main()
