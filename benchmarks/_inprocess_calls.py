"""``bench_inprocess.py calls``: ours, the floors and contrib openai-v2 as variants of one process.

Every variant makes the same call through the same ``openai`` client (bench_compare's canned answers:
on httpx's ``MockTransport``, or its canned provider over loopback TCP); between samples the variant is
switched: our instrumentation on or off (``Patcher.active``), contrib's instrumentor instrumented or
not, the floor's span around the call or not. Rounds run every (mode, variant) cell in a fresh random
order, and each round's figures are paired with its uninstrumented sample. Caller-thread CPU per call.

Variants, per mode (sync, a stream of 10 chunks, async, a decorated tool call):
  off         nothing (our wrappers in place, passing through)
  bare        one span around the call on a stock provider (BatchSpanProcessor + OTLP/HTTP exporter)
  same        the same with the attributes ours writes: those it has at start in one mapping, the rest
              in one ``set_attributes`` at the end; its streams ask for usage as ours do
  ours        ``agentops_otel.init()`` (session, export thread, instrumentation)
  contrib     opentelemetry-instrumentation-openai-v2 on the stock provider (when installed)
  contrib+u   the same, its streams asking for the usage event (the fair stream comparison)
  no tap      ours, with the stream's usage chunk built by the SDK (the tap of the second round off)
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import _compare_worker as worker  # loopback-only sockets; the canned answers and clients
from opentelemetry import context, trace

MODES = ("sync", "stream", "async", "tool")
USAGE = {"stream_options": {"include_usage": True}}


def _quartiles(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4)
    return f"{q[1]:7.1f} ({q[0]:.0f}..{q[2]:.0f})"


def _stock_provider(backend: str) -> Any:
    """A contrib user's setup, not made global: ours holds the global provider in this process."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    # A queue no run fills: once full, the stock processor logs a warning for every span it drops,
    # and with the backend down the floors and contrib would be measuring that logging.
    exporter = OTLPSpanExporter(endpoint=backend + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=1_000_000))
    return provider


class _Contrib:
    """contrib openai-v2's instrumentor on the stock provider, instrumented only for its samples."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        self.instrumentor = OpenAIInstrumentor()
        self.provider = provider
        self.on = False

    def switch(self, on: bool) -> None:
        if on and not self.on:
            self.instrumentor.instrument(tracer_provider=self.provider)
        elif self.on and not on:
            self.instrumentor.uninstrument()
        self.on = on


class _Floors:
    """The bare and same-attributes spans around a call, on the stock provider."""

    def __init__(self, provider: Any, shapes: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
        self.tracer = provider.get_tracer("bench")
        self.shapes = shapes

    def span(self, variant: str, mode: str) -> tuple[Any, Any, dict[str, Any]]:
        if variant == "bare":
            span = self.tracer.start_span(f"chat {worker.MODEL}")
            end: dict[str, Any] = {}
        else:
            start, end = self.shapes[mode]
            kind = trace.SpanKind.INTERNAL if mode == "tool" else trace.SpanKind.CLIENT
            span = self.tracer.start_span(f"chat {worker.MODEL}", kind=kind, attributes=start)
        return span, context.attach(trace.set_span_in_context(span)), end

    @staticmethod
    def close(span: Any, token: Any, end: dict[str, Any]) -> None:
        context.detach(token)
        if end:
            span.set_attributes(end)
        span.end()

    def around(self, variant: str, mode: str, call: Callable[[], Any]) -> Any:
        span, token, end = self.span(variant, mode)
        try:
            return call()
        finally:
            self.close(span, token, end)

    async def around_async(self, variant: str, call: Callable[[], Any]) -> Any:
        span, token, end = self.span(variant, "async")
        try:
            return await call()
        finally:
            self.close(span, token, end)

    def tool(self, variant: str) -> Callable[[int, int], int]:
        def work(a: int, b: int) -> int:
            span, token, end = self.span(variant, "tool")
            try:
                return a + b
            finally:
                self.close(span, token, end)

        return work


class _Lab:
    """One process with every contender in it, and the variant switched between samples."""

    def __init__(self, backend: str, key: str) -> None:
        import agentops_otel
        import agentops_otel.instrumentation._openai as openai_module
        from agentops_otel.instrumentation._patching import OPENAI

        agentops_otel.init(api_key=key, endpoint=backend)
        self.patcher, self.openai_module = OPENAI, openai_module
        self.tap = openai_module._tap_usage_chunk
        self.stock = _stock_provider(backend)
        try:
            self.contrib: _Contrib | None = _Contrib(self.stock)
        except ImportError as exc:
            print(f"contrib openai-v2 not measured: {exc}", file=sys.stderr)
            self.contrib = None
        self.sync_client, self.async_client = worker.clients()
        self.loop = asyncio.new_event_loop()
        self.ours_tool = agentops_otel.tool(worker._work)
        self.marking = False  # callgrind's markers around the measured loops, not the warm-up
        # Ours' own spans give the same-attributes floor its attributes (ours first: the first call
        # made with our instrumentation off would leave a lazily imported SDK module unpatched).
        self.floors = _Floors(
            self.stock,
            worker.attribute_shapes(
                trace.get_tracer_provider(), lambda mode: self.sample(mode, "ours", 1), MODES
            ),
        )
        self.peers = ["contrib", "contrib+u"] if self.contrib is not None else []
        self.cells = [(m, v) for m in MODES for v in ("off", "bare", "same", "ours")]
        self.cells += [
            (m, p) for m in ("sync", "async", "stream") for p in self.peers if p == "contrib" or m == "stream"
        ]
        self.cells.append(("stream", "no tap"))

    def switch(self, variant: str) -> None:
        self.patcher.active = variant in ("ours", "no tap")
        self.openai_module._tap_usage_chunk = self.tap if variant != "no tap" else (lambda stream: None)
        if self.contrib is not None:
            self.contrib.switch(variant.startswith("contrib"))

    def sample(self, mode: str, variant: str, n: int) -> float:
        """Caller CPU per call of ``n`` calls of one cell, in µs."""
        self.switch(variant)
        gc.collect()
        if self.marking:
            os.getppid()  # a marker: callgrind dumps its counts here
        start = time.thread_time()
        if mode == "tool":
            self.tools(variant, n)
        elif mode == "async":
            self.loop.run_until_complete(self.async_calls(variant, n))
        else:
            self.sync_calls(mode, variant, n)
        if self.marking:
            os.getppid()
        return (time.thread_time() - start) / n * 1e6

    def tools(self, variant: str, n: int) -> None:
        fn = {"ours": self.ours_tool, "off": worker._work}.get(variant) or self.floors.tool(variant)
        for i in range(n):
            fn(i, 1)

    async def async_calls(self, variant: str, n: int) -> None:
        create = self.async_client.chat.completions.create
        for _ in range(n):
            if variant in ("bare", "same"):
                await self.floors.around_async(
                    variant, lambda: create(model=worker.MODEL, messages=worker.MESSAGES)
                )
            else:
                await create(model=worker.MODEL, messages=worker.MESSAGES)

    def sync_calls(self, mode: str, variant: str, n: int) -> None:
        extra = USAGE if variant in ("same", "contrib+u") else {}
        create = self.sync_client.chat.completions.create

        def one() -> Any:
            if mode == "sync":
                return create(model=worker.MODEL, messages=worker.MESSAGES)
            return sum(1 for _ in create(model=worker.MODEL, messages=worker.MESSAGES, stream=True, **extra))

        for _ in range(n):
            if variant in ("bare", "same"):
                self.floors.around(variant, mode, one)
            else:
                one()


def calls(rounds: int, per_sample: int, backend: str, key: str, segments: str | None = None) -> None:
    """Interleaved rounds of every cell, reported as CPU time; or, with ``segments`` (a file to write
    the cells' order to), each cell once, its loop between two ``os.getppid()`` calls: the markers at
    which ``bench_inprocess.py instructions`` has callgrind count instructions."""
    lab = _Lab(backend, key)
    for cell in lab.cells:
        lab.sample(*cell, n=5)
    if segments is not None:
        with open(segments, "w") as f:
            json.dump({"cells": lab.cells, "calls": per_sample, "peers": lab.peers}, f)
        lab.marking = True
        for cell in lab.cells:
            lab.sample(*cell, n=per_sample)
        return
    results: dict[tuple[str, str], list[float]] = {cell: [] for cell in lab.cells}
    for r in range(rounds):
        order = list(lab.cells)
        random.shuffle(order)
        for cell in order:
            results[cell].append(lab.sample(*cell, n=per_sample))
        print(f"  round {r + 1}/{rounds}", file=sys.stderr)
    lab.switch("ours")
    _report(results, rounds, per_sample, lab.peers)


def _report(
    results: dict[tuple[str, str], list[float]], rounds: int, per_sample: int, peers: list[str]
) -> None:
    def added(mode: str, variant: str) -> list[float] | None:
        on = results.get((mode, variant))
        if on is None:
            return None
        return [a - b for a, b in zip(on, results[(mode, "off")], strict=True)]

    variants = ["bare", "same", "ours", *peers]
    print(f"caller CPU per call, µs: {rounds} interleaved rounds x {per_sample} calls, median (25th..75th)")
    print("added over the uninstrumented call, paired per round")
    print("| mode | uninstrumented | " + " | ".join(variants) + " |")
    print("|---|---:|" + "---:|" * len(variants))
    for mode in MODES:
        cells = []
        for v in variants:
            xs = added(mode, "contrib" if v == "contrib+u" and mode != "stream" else v)
            cells.append("n/a" if xs is None else _quartiles(xs))
        print(f"| {mode} | {_quartiles(results[(mode, 'off')])} | " + " | ".join(cells) + " |")
    print("\nratios of the medians of added cost (targets: ours / same <= 1.15; ours / contrib < 1)")
    for mode in MODES:
        ours = statistics.median(added(mode, "ours") or [0.0])
        parts = []
        for v in ("same", *peers):
            xs = added(mode, "contrib" if v == "contrib+u" and mode != "stream" else v)
            if xs is not None and statistics.median(xs) > 0:
                parts.append(f"ours / {v} = {ours / statistics.median(xs):.2f}")
        print(f"  {mode}: " + ", ".join(parts))
    no_tap = added("stream", "no tap")
    if no_tap is not None:
        paired = [
            a - b for a, b in zip(results[("stream", "ours")], results[("stream", "no tap")], strict=True)
        ]
        print(f"stream without the usage tap: added {_quartiles(no_tap)}; tap - no tap: {_quartiles(paired)}")


if __name__ == "__main__":  # bench_inprocess.py instructions: this process runs under callgrind
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    backend_url, api_key, per_cell, cells_file = sys.argv[1:5]
    calls(1, int(per_cell), backend_url, api_key, segments=cells_file)
    os._exit(0)
