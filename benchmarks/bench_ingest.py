"""Ingest speed of ``agentops-otel serve`` and the latency of ``GET /api/sessions``.

Starts a real server on 127.0.0.1 with a temporary store (a SQLite file, or with ``--store postgresql``
a database of a throwaway PostgreSQL cluster, fsync on), posts OTLP protobuf batches of 512 spans over
loopback (plain and gzip, one client and several at once), and compares with the bare cost of decoding
the same batches in this process (protobuf parse; parse + conversion to records) and of storing them
without HTTP. Then fills the store through the server (``_fill.py``, the filler ``bench_load.py``
uses) to ``--sessions`` sessions or ``--spans`` spans, with the rate over the first and the last tenth
of the fill, and times ``GET /api/sessions``.

Prints figures only (no assertions): ``python benchmarks/bench_ingest.py [--batches N] [--store
postgresql] [--spans 1000000 --spans-per-session 100]``.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _fill import fill, otlp_body
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from agentops_otel.store import open_store
from agentops_otel.store.records import from_otlp_protobuf

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


def _start(db: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "agentops_otel.cli", "serve", "--port", str(port), "--db", db,
         "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return server, port


def _wait_ready(port: int, token: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            _Client(port, token).get("/api/sessions?limit=1")
            return
        except (OSError, RuntimeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _baselines(base: Sequence[bytes], spans_base: int, location: str, engine: str) -> tuple[float, float]:
    """Decode and store in this process (no HTTP); returns the seconds of decode and of store."""

    def parse(body: bytes) -> None:
        ExportTraceServiceRequest().ParseFromString(body)

    parse_s = min(_time_per_batch(base, parse) for _ in range(3))
    decode_s = min(_time_per_batch(base, from_otlp_protobuf) for _ in range(3))
    records = [from_otlp_protobuf(b) for b in base]
    with open_store(location) as direct:
        project = direct.ensure_project("bench")
        started = time.perf_counter()
        for batch in records:
            direct.ingest(project, batch)
        store_s = time.perf_counter() - started
    print("\nbaseline, in this process (no HTTP):")
    print(f"  protobuf parse only            {spans_base / parse_s:>10,.0f} spans/s")
    print(f"  decode (parse + records)       {spans_base / decode_s:>10,.0f} spans/s")
    print(f"  store only ({engine}, figures) {spans_base / store_s:>10,.0f} spans/s")
    print(f"  decode + store                 {spans_base / (decode_s + store_s):>10,.0f} spans/s")
    return decode_s, store_s


def _fill_to(client: _Client, args: argparse.Namespace, stored_spans: int) -> None:
    """Fill the server's store (``--sessions`` sessions, or ``--spans`` spans) with the shared filler's
    sessions over one connection; the rate of the sends over the first and last tenth."""
    have = json.loads(client.get("/api/sessions?limit=1"))["total"]
    per_session = args.spans_per_session
    if args.spans:
        missing = -(-max(0, args.spans - stored_spans) // per_session)
    else:
        missing = max(0, args.sessions - have)
    load = os.getloadavg()[0]
    filled = fill(lambda body: client.post(body, False), missing, per_session, prepare=otlp_body, tag="small")
    total = json.loads(client.get("/api/sessions?limit=1"))["total"]
    print(
        f"\nfilled to {total:,} sessions and {stored_spans + filled.spans:,} spans: {missing:,} sessions of"
        f" {per_session} spans, POST /v1/traces in batches of 512 over 1 connection, {filled.seconds:.1f} s"
        f" of sends: {filled.rate:,.0f} spans/s (first tenth {filled.first:,.0f}, last tenth"
        f" {filled.last:,.0f}); load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print("  spans/s over each tenth of the fill: " + ", ".join(f"{r:,.0f}" for r in filled.tenths))


def _reads(client: _Client) -> None:
    total = json.loads(client.get("/api/sessions?limit=1"))["total"]
    print(f"\nGET /api/sessions over {total:,} sessions (median of 30, keep-alive connection):")
    for label, path in (
        ("default page (limit 100)", "/api/sessions"),
        ("limit=1000", "/api/sessions?limit=1000"),
        ("tag filter (limit 100)", "/api/sessions?tag=plain-1"),
        ("end_state=Success, offset 5000", "/api/sessions?end_state=Success&offset=5000"),
        ("limit=10000", "/api/sessions?limit=10000"),
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40, help="batches of 512 spans per ingest scenario")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the store: a SQLite file, or a throwaway PostgreSQL cluster (fsync on)")  # fmt: skip
    parser.add_argument("--sessions", type=int, default=10_000, help="fill the store to this many sessions")
    parser.add_argument("--spans", type=int, help="fill the store to this many spans instead")
    parser.add_argument("--spans-per-session", type=int, default=3, help="sessions of the fill (default 3)")
    args = parser.parse_args()
    cluster = None
    if args.store == "postgresql":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pg_cluster import PostgresCluster, find_bindir

        bindir = find_bindir()
        if bindir is None:
            sys.exit("PostgreSQL not found (apt-get install postgresql, or set AGENTOPS_TEST_PG_BINDIR)")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the cluster is stopped
        cluster = PostgresCluster(bindir, durable=True).start()
    try:
        _run(args, cluster)
    finally:
        if cluster is not None:
            cluster.stop()


def _run(args: argparse.Namespace, cluster: Any) -> None:
    tmp = tempfile.mkdtemp(prefix="bench-ingest-")

    def new(name: str) -> str:
        return str(cluster.new_database(migrated=False)) if cluster is not None else os.path.join(tmp, name)

    db = new("store.db")
    with open_store(db) as store:
        _, api_key, _ = store.create_project("bench")
        token, _ = store.issue_token(api_key) or ("", "")

    engine = "SQLite" if cluster is None else "PostgreSQL"
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; python"
          f" {sys.version.split()[0]}; store {engine}")  # fmt: skip
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
    spans_base = n_spans["baseline"]
    decode_s, store_s = _baselines(scenarios["baseline"], spans_base, new("direct.db"), engine)

    server, port = _start(db)
    try:
        _wait_ready(port, token)
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
        client = _Client(port, token)
        _fill_to(client, args, n_spans["plain-1"] + n_spans["gzip-1"] + n_spans["plain-4"])
        _reads(client)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
