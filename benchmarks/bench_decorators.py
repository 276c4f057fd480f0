"""Cost of a decorated call (@tool, @agent), with no session active and with one, against a bare OTel span.

    python benchmarks/bench_decorators.py [--calls 20000] [--rounds 7]

Every variant runs on the same SDK TracerProvider (the core's SessionSpanProcessor plus a processor
that drops spans, so export cost is left out) in the same run, interleaved round by round. Prints the
median wall time per call in microseconds and the ratios to the bare span of the same setting
("bare span+attrs" is the bare span given the four static attributes @tool sets).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from agentops_otel import _config, _runtime
from agentops_otel._internal import context as ao_context
from agentops_otel._internal.decorators import agent, tool
from agentops_otel._internal.processors import SessionSpanProcessor


class DropProcessor(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        pass


def work(a: int, b: int) -> int:
    return a + b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    opts = parser.parse_args()

    provider = TracerProvider()
    provider.add_span_processor(SessionSpanProcessor())
    provider.add_span_processor(DropProcessor())
    _runtime.set_provider(provider)
    _runtime.set_config(_config.Configuration())  # content capture off, as by default
    tracer = provider.get_tracer("bench")

    decorated = tool(work)
    as_agent = agent(work)
    same_attributes = {
        "agentops.span.kind": "tool",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "work",
        "gen_ai.tool.type": "function",
    }

    def bare_span(a: int, b: int) -> int:
        with tracer.start_as_current_span("execute_tool work"):
            return work(a, b)

    def bare_span_attributes(a: int, b: int) -> int:
        with tracer.start_as_current_span("execute_tool work", attributes=same_attributes):
            return work(a, b)

    variants: dict[str, Callable[[int, int], int]] = {
        "plain function": work,
        "bare OTel span": bare_span,
        "bare span+attrs": bare_span_attributes,
        "@tool": decorated,
        "@agent": as_agent,
    }

    def run(fn: Callable[[int, int], int]) -> float:
        start = time.perf_counter()
        for i in range(opts.calls):
            fn(i, 1)
        return (time.perf_counter() - start) / opts.calls * 1e6

    def measure(label: str) -> dict[str, float]:
        for fn in variants.values():  # warm up
            run(fn)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(opts.rounds):
            for name, fn in variants.items():
                samples[name].append(run(fn))
        medians = {name: statistics.median(values) for name, values in samples.items()}
        print(f"\n{label} ({opts.calls} calls x {opts.rounds} rounds, median us/call)")
        for name, value in medians.items():
            print(f"  {name:<16} {value:8.2f} us   x{value / medians['bare OTel span']:.2f} of bare span")
        return medians

    measure("no session active")

    sid = str(uuid.uuid4())
    root = tracer.start_span("agentops.session", context=otel_context.Context())
    token = otel_context.attach(ao_context.with_session(trace.set_span_in_context(root), sid))
    try:
        measure("inside a session")
    finally:
        otel_context.detach(token)
        root.end()
    _runtime.set_provider(None)


if __name__ == "__main__":
    main()
