"""Ingest speed of ``agentops-otel serve`` and the latency of ``GET /api/sessions``.

Starts a real server on 127.0.0.1 with a temporary store, posts OTLP protobuf batches of 512 spans
over loopback (plain and gzip, one client and several at once), and compares with the bare cost of
decoding the same batches in this process (protobuf parse; parse + conversion to records) and of
storing them without HTTP. Then fills the store to 10,000 sessions and times ``GET /api/sessions``.

Prints figures only (no assertions): ``python benchmarks/bench_ingest.py [--batches N]``.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from agentops_otel.store.records import from_otlp_protobuf
from agentops_otel.store.sqlite import Store

BATCH = 512


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Maker:
    def __init__(self) -> None:
        self.memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "bench", "host.name": "box"}))
        provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = provider.get_tracer("bench")

    def sessions(self, count: int, children: int, tag: str) -> list[ReadableSpan]:
        """``count`` sessions of a marker, a root and ``children`` LLM/tool spans (2 of 3 are LLM)."""
        for _ in range(count):
            sid = str(uuid.uuid4())
            base = {"session.id": sid}
            with self.tracer.start_as_current_span(
                "agentops.session",
                attributes={**base, "agentops.span.kind": "session", "agentops.session.tags": [tag, "bench"]},
            ) as root:
                with self.tracer.start_as_current_span(
                    "agentops.session.start",
                    attributes={
                        **base,
                        "agentops.span.kind": "session.start",
                        "host.name": "box",
                        "os.type": "linux",
                    },
                ):
                    pass
                for i in range(children):
                    if i % 3:
                        attrs = {
                            **base,
                            "agentops.span.kind": "llm",
                            "gen_ai.operation.name": "chat",
                            "gen_ai.provider.name": "openai",
                            "gen_ai.request.model": "gpt-4o-mini",
                            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                            "gen_ai.response.id": f"chatcmpl-{i}",
                            "gen_ai.response.finish_reasons": ["stop"],
                            "gen_ai.usage.input_tokens": 120 + i,
                            "gen_ai.usage.output_tokens": 40,
                            "agentops.usage.cost_usd": 0.00012,
                        }
                        name = "chat gpt-4o-mini"
                    else:
                        attrs = {**base, "agentops.span.kind": "tool", "tool.name": "search"}
                        name = "search"
                    with self.tracer.start_as_current_span(name, attributes=attrs):
                        pass
                root.set_status(Status(StatusCode.OK))
        spans = list(self.memory.get_finished_spans())
        self.memory.clear()
        return spans


def _batches(spans: Sequence[ReadableSpan]) -> list[bytes]:
    return [
        encode_spans(spans[i : i + BATCH]).SerializePartialToString() for i in range(0, len(spans), BATCH)
    ]


def _time_per_batch(bodies: Sequence[bytes], work: Callable[[bytes], object]) -> float:
    started = time.perf_counter()
    for body in bodies:
        work(body)
    return time.perf_counter() - started


def _spans_in(body: bytes) -> int:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


class _Client:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.token = token

    def post(self, body: bytes, gzipped: bool) -> None:
        headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {self.token}"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        self.conn.request("POST", "/v1/traces", body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"ingest answered {response.status}")

    def get(self, path: str) -> bytes:
        try:
            self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            # The server closed the idle keep-alive connection (e.g. during a long fill): reconnect.
            self.conn.close()
            self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        return data


def _post_all(port: int, token: str, bodies: Sequence[bytes], clients: int, gzipped: bool) -> float:
    """Seconds to post ``bodies`` with ``clients`` connections at once."""
    parts = [bodies[i::clients] for i in range(clients)]
    errors: list[BaseException] = []

    def run(part: Sequence[bytes]) -> None:
        client = _Client(port, token)
        try:
            for body in part:
                client.post(body, gzipped)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in parts]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40, help="batches of 512 spans per ingest scenario")
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-ingest-")
    db = os.path.join(tmp, "store.db")
    with Store(db) as store:
        _, api_key, _ = store.create_project("bench")
        token, _ = store.issue_token(api_key) or ("", "")

    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; store {db}")
    maker = _Maker()
    t0 = time.perf_counter()
    # Sessions of 64 spans (marker + root + 62): 8 sessions per batch of 512.
    per_session = 62
    sessions_per_scenario = args.batches * BATCH // (per_session + 2)
    scenarios = {
        name: _batches(maker.sessions(sessions_per_scenario, per_session, name))
        for name in ("plain-1", "gzip-1", "plain-4", "baseline")
    }
    n_spans = {name: sum(_spans_in(b) for b in bodies) for name, bodies in scenarios.items()}
    gzipped = [gzip.compress(b, 5) for b in scenarios["gzip-1"]]
    print(
        f"prepared {sum(n_spans.values())} spans in {time.perf_counter() - t0:.1f}s;"
        f" batch of 512 = {len(scenarios['plain-1'][0]) / 1024:.0f} KiB protobuf,"
        f" {len(gzipped[0]) / 1024:.0f} KiB gzip"
    )

    # -- baselines in this process -------------------------------------------------------------------
    base = scenarios["baseline"]
    spans_base = n_spans["baseline"]

    def parse(body: bytes) -> None:
        ExportTraceServiceRequest().ParseFromString(body)

    parse_s = min(_time_per_batch(base, parse) for _ in range(3))
    decode_s = min(_time_per_batch(base, from_otlp_protobuf) for _ in range(3))
    records = [from_otlp_protobuf(b) for b in base]
    with Store(os.path.join(tmp, "direct.db")) as direct:
        project = direct.ensure_project("bench")
        started = time.perf_counter()
        for batch in records:
            direct.ingest(project, batch)
        store_s = time.perf_counter() - started
    print("\nbaseline, in this process (no HTTP):")
    print(f"  protobuf parse only            {spans_base / parse_s:>10,.0f} spans/s")
    print(f"  decode (parse + records)       {spans_base / decode_s:>10,.0f} spans/s")
    print(f"  store only (SQLite, figures)   {spans_base / store_s:>10,.0f} spans/s")
    print(f"  decode + store                 {spans_base / (decode_s + store_s):>10,.0f} spans/s")

    # -- through the server ----------------------------------------------------------------------------
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentops_otel.cli",
            "serve",
            "--port",
            str(port),
            "--db",
            db,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _Client(port, token).get("/api/sessions?limit=1")
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

        print("\nPOST /v1/traces over loopback, batches of 512 spans (decode + store + HTTP):")
        rate_plain = n_spans["plain-1"] / _post_all(port, token, scenarios["plain-1"], 1, False)
        print(f"  protobuf, 1 client             {rate_plain:>10,.0f} spans/s")
        rate_gzip = n_spans["gzip-1"] / _post_all(port, token, gzipped, 1, True)
        print(f"  protobuf+gzip, 1 client        {rate_gzip:>10,.0f} spans/s")
        rate_4 = n_spans["plain-4"] / _post_all(port, token, scenarios["plain-4"], 4, False)
        print(f"  protobuf, 4 clients at once    {rate_4:>10,.0f} spans/s")
        print(
            f"  ratio server / in-process decode+store: {rate_plain * (decode_s + store_s) / spans_base:.2f};"
            f" server / decode only: {rate_plain * decode_s / spans_base:.2f}"
        )

        # -- 10,000 sessions ---------------------------------------------------------------------------
        client = _Client(port, token)
        have = len(json.loads(client.get("/api/sessions?limit=10000"))["sessions"])
        missing = max(0, args.sessions - have)
        t0 = time.perf_counter()
        small = _batches(maker.sessions(missing, 1, "small"))  # marker + root + 1 span each
        prepared = time.perf_counter() - t0
        fill = _post_all(port, token, small, 1, False)
        total = len(json.loads(client.get("/api/sessions?limit=10000"))["sessions"])
        print(
            f"\nfilled to {total} sessions: {missing} sessions of 3 spans in {fill:.1f}s"
            f" ({missing * 3 / fill:,.0f} spans/s, {missing / fill:,.0f} new sessions/s; prepared in {prepared:.1f}s)"
        )

        print(f"\nGET /api/sessions over {total} sessions (median of 30, keep-alive connection):")
        for label, path in (
            ("default page (limit 100)", "/api/sessions"),
            ("limit=1000", "/api/sessions?limit=1000"),
            ("tag filter (limit 100)", "/api/sessions?tag=plain-1"),
            ("end_state=Success, offset 5000", "/api/sessions?end_state=Success&offset=5000"),
            ("all 10,000 (limit=10000)", "/api/sessions?limit=10000"),
        ):
            times = []
            for _ in range(30):
                started = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - started) * 1000)
            print(f"  {label:<32} median {statistics.median(times):7.1f} ms   best {min(times):7.1f} ms")
        sid = json.loads(client.get("/api/sessions?limit=1&tag=plain-1"))["sessions"][0]["session_id"]
        times = []
        for _ in range(30):
            started = time.perf_counter()
            client.get(f"/api/sessions/{sid}")
            times.append((time.perf_counter() - started) * 1000)
        print(f"  {'GET /api/sessions/{id} (64 spans)':<32} median {statistics.median(times):7.1f} ms")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
