"""One contender of ``bench_compare.py``: run in its own virtual environment and process.

It imports only what its contender needs (the real ``openai`` SDK and, for a contender, its
instrumentation), builds the clients on an in-process canned transport, sets its contender up, prints
one JSON line ``{"ready": ...}``, then answers commands, one JSON object per line on stdin:

    {"op": "run", "mode": "sync"|"stream"|"async"|"tool", "calls": N}  -> wall, caller CPU, process CPU
    {"op": "settle"}   flush what the contender queued (backend up only; untimed)
    {"op": "probe"}    the attributes of the last LLM span, at its start and at its end (ours only)
    {"op": "rss"}      resident memory now and at its peak
    {"op": "spans", "count": N}  make N spans (decorated tool calls for ours) as fast as possible
    {"op": "quit"}     leave through the interpreter's normal exit (exit hooks run, as in a program)

Environment: BENCH_CONTENDER, BENCH_BACKEND (the sink's URL), BENCH_SAME_ATTRIBUTES (a JSON file, for
the same-attributes floor). No connection leaves 127.0.0.1: names other than loopback do not resolve.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

# -- no network but loopback -------------------------------------------------------------------------

_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect


def _loopback(host: object) -> bool:
    return not isinstance(host, str) or host in ("localhost", "::1", "") or host.startswith("127.")


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _loopback(host):
        raise socket.gaierror(f"bench: no name resolution off this machine ({host!r})")
    return _getaddrinfo(host, *args, **kwargs)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        raise OSError(f"bench: no connection off this machine ({address!r})")
    return _connect(self, address)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect  # type: ignore[method-assign]

# -- the canned provider -------------------------------------------------------------------------------

try:  # openai >= 3 uses the httpx2 fork
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs
    import httpx  # type: ignore[no-redef]

import openai  # noqa: E402
from _compare_bodies import BODIES as _BODIES  # noqa: E402
from _compare_bodies import MESSAGES, MODEL  # noqa: E402

_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream"}


def _answer(request: Any, body: bytes) -> Any:
    if b'"stream":true' not in body.replace(b" ", b""):
        return httpx.Response(200, content=_BODIES["json"], headers=_JSON)
    usage = b'"include_usage":true' in body.replace(b" ", b"")
    return httpx.Response(200, content=_BODIES["stream+usage" if usage else "stream"], headers=_SSE)


def _handle(request: Any) -> Any:
    return _answer(request, request.read())


async def _handle_async(request: Any) -> Any:
    return _answer(request, await request.aread())


def clients() -> tuple[Any, Any]:
    """Clients on the canned server at BENCH_PROVIDER (over loopback TCP, keep-alive), or on httpx's
    in-process ``MockTransport`` when it is not set."""
    served = os.environ.get("BENCH_PROVIDER")
    if served:
        return (
            openai.OpenAI(api_key="sk-bench", base_url=served + "/v1", max_retries=0),
            openai.AsyncOpenAI(api_key="sk-bench", base_url=served + "/v1", max_retries=0),
        )
    base = "http://127.0.0.1:9/v1"
    sync = openai.OpenAI(
        api_key="sk-bench",
        base_url=base,
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(_handle)),
    )
    aio = openai.AsyncOpenAI(
        api_key="sk-bench",
        base_url=base,
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(_handle_async)),
    )
    return sync, aio


# -- contenders ----------------------------------------------------------------------------------------

BACKEND = os.environ.get("BENCH_BACKEND", "http://127.0.0.1:9")
CONTENDER = os.environ.get("BENCH_CONTENDER", "none")


def otel_provider() -> Any:
    """The stock setup a user of a contrib instrumentation has: an SDK provider, a BatchSpanProcessor and
    the OTLP/HTTP exporter, sending to the same backend as ours."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=BACKEND + "/v1/traces")))
    trace.set_tracer_provider(provider)
    return provider


class Contender:
    """How one contender wraps a call: ``around`` (floors) or nothing (instrumentations patch the SDK)."""

    name = "none"
    provider: Any = None
    timings: dict[str, float] = {}
    stream_request: dict[str, Any] = {}  # more arguments of a streamed call

    def __init__(self) -> None:
        self.sync, self.aio = clients()

    def setup(self) -> None:
        pass

    def around(self, mode: str, call: Callable[[], Any]) -> Any:
        return call()

    async def around_async(self, call: Callable[[], Any]) -> Any:
        return await call()

    def tool(self) -> Callable[[int, int], int]:
        return _work

    def settle(self) -> None:
        provider = self.provider
        if provider is not None and hasattr(provider, "force_flush"):
            provider.force_flush(10_000)

    def spans(self, count: int) -> None:
        fn = self.tool()
        for i in range(count):
            fn(i, 1)


def _work(a: int, b: int) -> int:
    return a + b


class Bare(Contender):
    """One bare span around the call, current while it runs."""

    name = "bare"

    def setup(self) -> None:
        self.provider = otel_provider()
        self.tracer = self.provider.get_tracer("bench")

    def around(self, mode: str, call: Callable[[], Any]) -> Any:
        with self.tracer.start_as_current_span(f"chat {MODEL}"):
            return call()

    async def around_async(self, call: Callable[[], Any]) -> Any:
        with self.tracer.start_as_current_span(f"chat {MODEL}"):
            return await call()

    def tool(self) -> Callable[[int, int], int]:
        tracer = self.tracer

        def work(a: int, b: int) -> int:
            with tracer.start_as_current_span("execute_tool work"):
                return a + b

        return work


class Same(Bare):
    """One span with the attributes ours writes: those it had at start in one mapping, the rest in one
    ``set_attributes`` at the end; a CLIENT span, current around the call. No code of ours runs."""

    name = "same"
    # A stream's token counts come only in the usage event, which ours asks for: so does this floor.
    stream_request = {"stream_options": {"include_usage": True}}

    def setup(self) -> None:
        super().setup()
        with open(os.environ["BENCH_SAME_ATTRIBUTES"]) as f:
            self.attrs: dict[str, dict[str, Any]] = json.load(f)

    def _shape(self, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
        found = self.attrs[mode]
        return found["start"], found["end"]

    def around(self, mode: str, call: Callable[[], Any]) -> Any:
        from opentelemetry import context, trace

        start, end = self._shape(mode)
        span = self.tracer.start_span(f"chat {MODEL}", kind=trace.SpanKind.CLIENT, attributes=start)
        token = context.attach(trace.set_span_in_context(span))
        try:
            return call()
        finally:
            context.detach(token)
            span.set_attributes(end)
            span.end()

    async def around_async(self, call: Callable[[], Any]) -> Any:
        from opentelemetry import context, trace

        start, end = self._shape("async")
        span = self.tracer.start_span(f"chat {MODEL}", kind=trace.SpanKind.CLIENT, attributes=start)
        token = context.attach(trace.set_span_in_context(span))
        try:
            return await call()
        finally:
            context.detach(token)
            span.set_attributes(end)
            span.end()

    def tool(self) -> Callable[[int, int], int]:
        tracer = self.tracer
        start, end = self._shape("tool")

        def work(a: int, b: int) -> int:
            span = tracer.start_span("execute_tool work", attributes=start)
            from opentelemetry import context, trace

            token = context.attach(trace.set_span_in_context(span))
            try:
                return a + b
            finally:
                context.detach(token)
                span.set_attributes(end)
                span.end()

        return work


class Ours(Contender):
    """``agentops_otel.init()`` as a user calls it (a session, the export thread, LLM instrumentation)."""

    name = "ours"

    def setup(self) -> None:
        t0 = time.perf_counter()
        import agentops_otel

        t1 = time.perf_counter()
        self.module = agentops_otel
        agentops_otel.init(api_key="bench-key", endpoint=BACKEND)
        self.timings = {"import_s": t1 - t0, "init_s": time.perf_counter() - t1}
        from opentelemetry import trace

        self.provider = trace.get_tracer_provider()

    def tool(self) -> Callable[[int, int], int]:
        return self.module.tool(_work)  # type: ignore[no-any-return]

    def settle(self) -> None:
        self.module.get_client().flush(10)


class _PeerInstrumentor(Contender):
    """A peer's ``OpenAIInstrumentor`` from ``module`` on the stock provider and exporter."""

    module = ""

    def setup(self) -> None:
        t0 = time.perf_counter()
        instrumentor = importlib.import_module(self.module).OpenAIInstrumentor
        t1 = time.perf_counter()
        self.provider = otel_provider()
        instrumentor().instrument(tracer_provider=self.provider)
        self.timings = {"import_s": t1 - t0, "init_s": time.perf_counter() - t1}


class Contrib(_PeerInstrumentor):
    """OpenTelemetry contrib ``opentelemetry-instrumentation-openai-v2`` (content capture off: its default)."""

    name = "contrib"
    module = "opentelemetry.instrumentation.openai_v2"


class ContribUsage(Contrib):
    """contrib openai-v2 with its streams asking for the usage event, as ours and the same-attributes
    floor do: the fair comparison for streams (contrib then records the token counts too)."""

    name = "contrib-usage"
    stream_request = {"stream_options": {"include_usage": True}}


class OpenLLMetry(_PeerInstrumentor):
    """Traceloop's ``opentelemetry-instrumentation-openai`` (TRACELOOP_TRACE_CONTENT=false: content off)."""

    name = "openllmetry"
    module = "opentelemetry.instrumentation.openai"


class OpenInference(_PeerInstrumentor):
    """Arize's ``openinference-instrumentation-openai`` (OPENINFERENCE_HIDE_INPUTS/OUTPUTS: content off)."""

    name = "openinference"
    module = "openinference.instrumentation.openai"


class Logfire(Contender):
    """Pydantic's ``logfire``: ``configure`` (nothing sent to Logfire, no console, no metrics) with the
    same BatchSpanProcessor + OTLP exporter to the backend, and ``instrument_openai()`` at its defaults
    (it records the messages: its content cannot be turned off, only scrubbed)."""

    name = "logfire"

    def setup(self) -> None:
        t0 = time.perf_counter()
        import logfire  # type: ignore[import-not-found]
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        t1 = time.perf_counter()
        self.processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=BACKEND + "/v1/traces"))
        logfire.configure(
            send_to_logfire=False, console=False, metrics=False, additional_span_processors=[self.processor]
        )
        logfire.instrument_openai()
        self.timings = {"import_s": t1 - t0, "init_s": time.perf_counter() - t1}
        self.module = logfire

    def settle(self) -> None:
        self.processor.force_flush(10_000)

    def tool(self) -> Callable[[int, int], int]:
        return self.module.instrument("execute_tool work")(_work)  # type: ignore[no-any-return]


class AgentOps(Contender):
    """The ``agentops`` 0.4 SDK, pointed at the same backend (its token exchange and OTLP export)."""

    name = "agentops"

    def setup(self) -> None:
        t0 = time.perf_counter()
        import agentops  # type: ignore[import-not-found]

        t1 = time.perf_counter()
        self.module = agentops
        agentops.init(
            api_key="6f1c3f4e-2f7b-4c3e-9a57-8d1e2f3a4b5c",
            endpoint=BACKEND,
            exporter_endpoint=BACKEND + "/v1/traces",
            app_url=BACKEND,
            auto_start_session=True,
            instrument_llm_calls=True,
        )
        self.timings = {"import_s": t1 - t0, "init_s": time.perf_counter() - t1}
        from opentelemetry import trace

        self.provider = trace.get_tracer_provider()

    def tool(self) -> Callable[[int, int], int]:
        from agentops.sdk.decorators import tool  # type: ignore[import-not-found]

        return tool(_work)  # type: ignore[no-any-return]


CONTENDERS: dict[str, type[Contender]] = {
    c.name: c
    for c in (
        Contender,
        Bare,
        Same,
        Ours,
        Contrib,
        ContribUsage,
        OpenLLMetry,
        OpenInference,
        Logfire,
        AgentOps,
    )
}


# -- runs ------------------------------------------------------------------------------------------------


def _sync_call(c: Contender) -> Any:
    return c.sync.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0.2)


def _stream_call(c: Contender) -> Any:
    n = 0
    request = c.stream_request
    for _ in c.sync.chat.completions.create(
        model=MODEL, messages=MESSAGES, temperature=0.2, stream=True, **request
    ):
        n += 1
    return n


def run(c: Contender, loop: asyncio.AbstractEventLoop, mode: str, calls: int) -> dict[str, float]:
    gc.collect()
    if mode == "async":

        async def many() -> None:
            create = c.aio.chat.completions.create
            for _ in range(calls):
                await c.around_async(lambda: create(model=MODEL, messages=MESSAGES, temperature=0.2))

        t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
        loop.run_until_complete(many())
    else:
        if mode == "tool":
            fn = c.tool()
            t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            for i in range(calls):
                fn(i, 1)
        else:
            one = _sync_call if mode == "sync" else _stream_call
            around = c.around
            t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
            for _ in range(calls):
                around(mode, lambda: one(c))
    t1, c1, p1 = time.perf_counter(), time.thread_time(), time.process_time()
    return {"wall": (t1 - t0) / calls, "cpu": (c1 - c0) / calls, "proc": (p1 - p0) / calls}


def attribute_shapes(
    provider: Any, run_one: Callable[[str], Any], modes: tuple[str, ...] = ("sync", "stream", "async", "tool")
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Ours' span of each mode: its attributes once every ``on_start`` ran, and those its end added
    (what the same-attributes floor gives at start and sets at end). ``run_one(mode)`` makes one call.
    The recorder is taken out of ``provider`` again, so later samples do not pay for it."""
    from opentelemetry.sdk.trace import Span, SpanProcessor

    started: dict[str, Any] = {}
    ended: dict[str, Any] = {}

    class Recorder(SpanProcessor):
        def on_end(self, span: Any) -> None:
            ended.clear()
            ended.update(span.attributes or {})

    original = Span.start

    def start(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        started.clear()
        started.update(self.attributes or {})
        return out

    processors = provider._active_span_processor  # benchmark only: restored below
    before = processors._span_processors
    provider.add_span_processor(Recorder())
    Span.start = start  # type: ignore[method-assign]
    shapes = {}
    try:
        for mode in modes:
            run_one(mode)
            shapes[mode] = (
                dict(started),
                {k: v for k, v in ended.items() if k not in started or started[k] != v},
            )
    finally:
        Span.start = original  # type: ignore[method-assign]
        processors._span_processors = before
    return shapes


def probe(c: Contender, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """Ours only: which attributes its span of each mode has at start (after every on_start) and at end."""
    shapes = attribute_shapes(c.provider, lambda mode: run(c, loop, mode, 1))
    return {mode: {"start": start, "end": end} for mode, (start, end) in shapes.items()}


def rss() -> dict[str, float]:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return {
        "rss_mb": pages * os.sysconf("SC_PAGE_SIZE") / 2**20,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    t0 = time.perf_counter()
    contender = CONTENDERS[CONTENDER]()
    contender.setup()
    setup_s = time.perf_counter() - t0
    if os.environ.get("BENCH_STARTUP"):  # only the cost of starting: no calls
        print(json.dumps({"ready": contender.name, "setup_s": setup_s, **contender.timings}), flush=True)
        return
    loop = asyncio.new_event_loop()
    for mode in ("sync", "stream", "async", "tool"):  # warm up: imports, caches, the first export
        run(contender, loop, mode, 20)
    versions = {}
    for dist in ("openai", "opentelemetry-sdk", "agentops-opentelemetry", "agentops", "wrapt"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            pass
    for name in (
        "opentelemetry-instrumentation-openai-v2",
        "opentelemetry-instrumentation-openai",
        "openinference-instrumentation-openai",
        "logfire",
    ):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            pass
    print(json.dumps({"ready": contender.name, "setup_s": setup_s, "versions": versions}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "run":
            out: Any = run(contender, loop, cmd["mode"], int(cmd["calls"]))
        elif op == "settle":
            p0 = time.process_time()
            contender.settle()
            out = {"proc": time.process_time() - p0}
        elif op == "probe":
            out = probe(contender, loop)
        elif op == "rss":
            out = rss()
        elif op == "spans":
            t = time.perf_counter()
            contender.spans(int(cmd["count"]))
            out = {"seconds": time.perf_counter() - t, **rss()}
        elif op == "quit":
            print(json.dumps({"bye": time.perf_counter()}), flush=True)
            break
        else:
            out = {"error": f"unknown op {op!r}"}
        print(json.dumps(out), flush=True)
    loop.close()


if __name__ == "__main__":
    main()
