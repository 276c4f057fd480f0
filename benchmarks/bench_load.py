"""Load: spans per second into 1, 2 and 4 ``agentops-otel serve`` on one PostgreSQL and into one on SQLite,
sent by the SDK's real exporter from several processes; then the session list and a session's detail at
10,000 sessions and 1,000,000 spans on each store.

- PostgreSQL is a throwaway cluster (``tests/pg_cluster.py``) with its default durability (fsync on).
- Senders are processes running ``AgentOpsSpanExporter.deliver`` (token exchange, our OTLP encoder, gzip,
  HTTP) on pre-built SDK spans (sessions of 64 spans, batches of 512), sender ``i`` to server ``i % N``
  (what a Collector's load-balancing exporter does in front of N servers). All start at one signal; the
  rate is all spans over the time until the last batch was acknowledged.
- The read store is filled in-process (``store.ingest``, the same code the server runs; ``_fill.py``,
  which times the ingest calls alone), then read through a server over HTTP.
- CPU seconds of servers, PostgreSQL and senders are summed per scenario: on this 2-core machine they
  show where growth stops.

Prints figures and ratios only: ``python benchmarks/bench_load.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import importlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _fill import fill, otlp_body, records  # noqa: E402

from agentops_otel.store import open_store  # noqa: E402
from pg_cluster import PostgresCluster, find_bindir  # noqa: E402

#: The source tree of the ``agentops_otel`` this run measures (``PYTHONPATH=<other checkout>/src`` measures
#: another release with this benchmark: the senders and servers run the same code).
_CODE = str(Path(importlib.import_module("agentops_otel").__file__ or "").resolve().parents[1])

_SENDER = textwrap.dedent(
    """
    import sys, time, uuid
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanContext, TraceFlags
    from agentops_otel._config import Configuration
    from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter

    url, key, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    with tracer.start_as_current_span("agentops.session", attributes={"agentops.span.kind": "session"}):
        with tracer.start_as_current_span("agentops.session.start", attributes={"agentops.span.kind": "session.start"}):
            pass
        for i in range(62):
            llm = {"agentops.span.kind": "llm", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                   "gen_ai.usage.input_tokens": 120 + i, "gen_ai.usage.output_tokens": 40, "agentops.usage.cost_usd": 0.00012}
            tool = {"agentops.span.kind": "tool", "tool.name": "search"}
            with tracer.start_as_current_span("chat gpt-4o-mini" if i % 3 else "search", attributes=llm if i % 3 else tool):
                pass
    template = list(memory.get_finished_spans())
    root_id = next(s.context.span_id for s in template if s.parent is None)

    def session():
        sid = uuid.uuid4()
        trace_id = sid.int
        ids = {s.context.span_id: int.from_bytes(uuid.uuid4().bytes[:8], "big") for s in template}
        for s in template:
            ctx = SpanContext(trace_id, ids[s.context.span_id], False, TraceFlags(1))
            parent = None if s.parent is None else SpanContext(trace_id, ids[s.parent.span_id], False, TraceFlags(1))
            yield ReadableSpan(name=s.name, context=ctx, parent=parent, resource=s.resource,
                               attributes={**s.attributes, "session.id": str(sid)}, events=s.events, kind=s.kind,
                               status=s.status, start_time=s.start_time, end_time=s.end_time,
                               instrumentation_scope=s.instrumentation_scope)

    spans = [span for _ in range(batches * 8) for span in session()]
    work = [spans[i:i + 512] for i in range(0, len(spans), 512)]
    exporter = AgentOpsSpanExporter.from_config(Configuration(api_key=key, endpoint=url, spool_undelivered=False))
    assert exporter.deliver(work[0][:1], 30).outcome.name == "DELIVERED"  # token exchange before the clock
    print("ready", flush=True)
    sys.stdin.readline()
    for batch in work:
        while (outcome := exporter.deliver(batch, 30).outcome.name) == "RETRY":
            time.sleep(0.05)
        assert outcome == "DELIVERED", outcome
    cpu = time.process_time()
    print(len(spans), time.time(), cpu, flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(db: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
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
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            conn.getresponse().read()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve --db {db} did not start") from None
            time.sleep(0.1)


def _stop(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _cpu(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            found[pid] = times.user + times.system
        except psutil.Error:
            pass
    return found


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings (processes that appeared in between count from zero)."""
    return sum(max(0.0, t - before.get(pid, 0.0)) for pid, t in after.items())


def _postgres_pids(cluster: PostgresCluster | None) -> list[int]:
    if cluster is None:
        return []
    pid = int(Path(cluster.base, "data", "postmaster.pid").read_text().split()[0])
    return [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]


def ingest_scenario(
    db: str, servers: int, senders: int, batches: int, cluster: PostgresCluster | None
) -> dict[str, float]:
    with open_store(db) as store:
        _, key, _ = store.create_project("load")
    running = [_start_server(db) for _ in range(servers)]
    procs = [p for p, _ in running]
    try:
        env = {**os.environ, "PYTHONPATH": _CODE}
        clients = [
            subprocess.Popen(
                [sys.executable, "-c", _SENDER, running[i % servers][1], key, str(batches)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for i in range(senders)
        ]
        for client in clients:
            assert client.stdout is not None and client.stdout.readline().strip() == "ready"
        servers_before, pg_before = _cpu([p.pid for p in procs]), _cpu(_postgres_pids(cluster))
        senders_before = _cpu([c.pid for c in clients])
        machine_before = psutil.cpu_times()
        started = time.time()
        for client in clients:
            assert client.stdin is not None
            client.stdin.write("go\n")
            client.stdin.flush()
        spans, finished, senders_cpu = 0, started, 0.0
        for client in clients:
            out, _ = client.communicate(timeout=1800)
            count, at, cpu = out.split()
            spans += int(count)
            finished = max(finished, float(at))
            senders_cpu += float(cpu) - senders_before.get(client.pid, 0.0)
        machine = psutil.cpu_times()
        busy = sum(machine) - machine.idle - (sum(machine_before) - machine_before.idle)
        wall = finished - started
        return {
            "spans": spans,
            "wall": wall,
            "rate": spans / wall,
            "cpu_servers": _spent(servers_before, _cpu([p.pid for p in procs])),
            "cpu_pg": _spent(pg_before, _cpu(_postgres_pids(cluster))),
            "cpu_senders": senders_cpu,
            "machine_busy": busy / (time.time() - started),
        }
    finally:
        _stop(procs)


def _store_bytes(db: str, cluster: PostgresCluster | None) -> int:
    """What the store takes on disk: the SQLite file and its WAL after a checkpoint, or the PostgreSQL
    database (tables, indexes, TOAST) after a VACUUM ANALYZE."""
    if cluster is None:
        import sqlite3

        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does soon after a fill: plans on statistics
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        empty = conn.execute("SELECT pg_database_size('template1')").fetchone()
    assert row is not None and empty is not None
    return int(row[0]) - int(empty[0])


def _fill(db: str, sessions: int, per_session: int) -> dict[str, Any]:
    """The store filled in-process (``store.ingest``, what the server runs), by the shared filler."""
    with open_store(db) as store:
        project, key, _ = store.create_project("reads")
        filled = fill(lambda batch: store.ingest(project, batch), sessions, per_session)
        token = store.issue_token(key)
        assert token is not None
        return {
            "fill_rate": filled.rate,
            "fill_first": filled.first,
            "fill_last": filled.last,
            "spans": store.count_spans(project),
            "token": token[0],
        }


def _timer(conn: http.client.HTTPConnection, headers: dict[str, str]) -> Any:
    def median_ms(path: str, n: int = 15) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:  # a route or parameter the measured release does not have
                return float("nan")
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    return median_ms


def _cursor_at(conn: http.client.HTTPConnection, headers: dict[str, str], depth: int) -> str | None:
    """The cursor of the page that starts ``depth`` sessions in (None: the release has no cursors)."""
    conn.request("GET", f"/api/sessions?end_state=Success&limit={depth}", headers=headers)
    response = conn.getresponse()
    cursor = json.loads(response.read()).get("next_cursor")
    return cursor if isinstance(cursor, str) else None


def read_scenario(
    db: str, sessions: int, per_session: int, cluster: PostgresCluster | None = None
) -> dict[str, float]:
    filled = _fill(db, sessions, per_session)
    spans, fill_rate = filled["spans"], filled["fill_rate"]
    token = (filled["token"],)
    size = _store_bytes(db, cluster)
    wire = len(gzip.compress(otlp_body(records(1, per_session, "bench")[0])))
    proc, url = _start_server(db)
    try:
        port = int(url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token[0]}"}
        median_ms = _timer(conn, headers)
        conn.request("GET", "/api/sessions?limit=1", headers=headers)
        sid = json.loads(conn.getresponse().read())["sessions"][0]["session_id"]
        cursor = _cursor_at(conn, headers, sessions // 2)
        nan = float("nan")
        return {
            "fill_rate": fill_rate,
            "fill_first": filled["fill_first"],
            "fill_last": filled["fill_last"],
            "spans": spans,
            "bytes_per_span": size / spans,
            "wire_per_span": wire / per_session,
            "list_page": median_ms("/api/sessions"),
            "list_1000": median_ms("/api/sessions?limit=1000"),
            "tag_filter": median_ms("/api/sessions?tag=t3"),
            "tag_no_match": median_ms("/api/sessions?tag=nothing-has-this"),
            "deep_offset": median_ms(f"/api/sessions?end_state=Success&offset={sessions // 2}"),
            "deep_cursor": median_ms(f"/api/sessions?end_state=Success&cursor={cursor}") if cursor else nan,
            "detail": median_ms(f"/api/sessions/{sid}"),
            "detail_page": median_ms(f"/api/sessions/{sid}?spans_limit=20"),
            "overview": median_ms("/api/overview"),
        }
    finally:
        _stop([proc])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes (about 3 minutes)")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batches", type=int, help="batches of 512 spans per sender (default 40, quick 8)")
    parser.add_argument(
        "--sessions", type=int, help="sessions in the read test (default 10,000, quick 1,000)"
    )
    parser.add_argument("--spans-per-session", type=int, default=100)
    parser.add_argument("--reads-only", action="store_true", help="the read test only (no ingest over HTTP)")
    parser.add_argument(
        "--big-session", type=int, metavar="N", help="only: one session of N spans, its detail"
    )
    args = parser.parse_args()
    batches = args.batches or (8 if args.quick else 40)
    sessions = args.sessions or (1_000 if args.quick else 10_000)
    bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL not found (apt-get install postgresql, or set AGENTOPS_TEST_PG_BINDIR)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the cluster and servers are stopped
    cluster = PostgresCluster(bindir, durable=True).start()
    tmp = tempfile.mkdtemp(prefix="bench-load-")
    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; PostgreSQL {bindir}")
    print(f"{args.senders} sender processes x {batches} batches of 512 spans (sessions of 64 spans)\n")
    try:
        if args.big_session:
            big_session_report(args.big_session, tmp)
            return
        if not args.reads_only:
            ingest_report(args, batches, cluster, tmp)
        reads_report(args, sessions, cluster, tmp)
    finally:
        cluster.stop()


def ingest_report(args: argparse.Namespace, batches: int, cluster: PostgresCluster, tmp: str) -> None:
    results: dict[str, dict[str, float]] = {}
    results["SQLite, 1 server"] = ingest_scenario(
        os.path.join(tmp, "load.db"), 1, args.senders, batches, None
    )
    for n in (1, 2, 4):
        db = cluster.new_database(migrated=False)
        results[f"PostgreSQL, {n} server{'s' if n > 1 else ''}"] = ingest_scenario(
            db, n, args.senders, batches, cluster
        )
    base_pg = results["PostgreSQL, 1 server"]["rate"]
    base_sqlite = results["SQLite, 1 server"]["rate"]
    print("ingest (POST /v1/traces through the SDK's exporter):")
    for name, r in results.items():
        ours = (r["cpu_servers"] + r["cpu_pg"] + r["cpu_senders"]) / r["wall"]
        per_span = {k: r[f"cpu_{k}"] / r["spans"] * 1e6 for k in ("servers", "pg", "senders")}
        print(
            f"  {name:<22} {r['rate']:>8,.0f} spans/s  x{r['rate'] / base_pg:.2f} of 1 PG server,"
            f" x{r['rate'] / base_sqlite:.2f} of SQLite | CPU per span: servers {per_span['servers']:.0f} us,"
            f" postgres {per_span['pg']:.0f} us, senders {per_span['senders']:.0f} us | ours {ours:.2f} cores,"
            f" machine {r['machine_busy']:.2f} of {os.cpu_count()} busy"
        )
    pg1 = results["PostgreSQL, 1 server"]
    cost = (pg1["cpu_servers"] + pg1["cpu_pg"]) / pg1["spans"]
    print(
        f"  => backend CPU per span on PostgreSQL: {cost * 1e6:.0f} us (server + database), so"
        f" {os.cpu_count()} free cores would take at most {(os.cpu_count() or 1) / cost:,.0f} spans/s"
        f" with enough servers; the database's share alone caps it at"
        f" {(os.cpu_count() or 1) * pg1['spans'] / max(pg1['cpu_pg'], 1e-9):,.0f} spans/s"
    )


def big_session_report(spans: int, tmp: str) -> None:
    """One session of ``spans`` spans on SQLite: its detail in full, and a page of 100 of its spans."""
    db = os.path.join(tmp, "big.db")
    filled = _fill(db, 1, spans)
    proc, url = _start_server(db)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=120)
        headers = {"Authorization": f"Bearer {filled['token']}"}
        median_ms = _timer(conn, headers)
        conn.request("GET", "/api/sessions?limit=1", headers=headers)
        sid = json.loads(conn.getresponse().read())["sessions"][0]["session_id"]
        print(f"\none session of {spans:,} spans (SQLite):")
        for label, path in (
            ("all spans", f"/api/sessions/{sid}"),
            ("spans_limit=100", f"/api/sessions/{sid}?spans_limit=100"),
        ):
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            size = len(response.read())
            ms = median_ms(path, 7) if response.status == 200 else float("nan")
            print(
                f"  {label:<16} {size / 1e6 if response.status == 200 else float('nan'):6.2f} MB  {ms:8.1f} ms"
            )
    finally:
        _stop([proc])


def reads_report(args: argparse.Namespace, sessions: int, cluster: PostgresCluster, tmp: str) -> None:
    print(f"\nreads at {sessions:,} sessions x {args.spans_per_session} spans (median ms, keep-alive):")
    reads = {
        "SQLite": read_scenario(os.path.join(tmp, "reads.db"), sessions, args.spans_per_session),
        "PostgreSQL": read_scenario(
            cluster.new_database(migrated=False), sessions, args.spans_per_session, cluster
        ),
    }
    for name, r in reads.items():
        print(
            f"  {name:<11} {r['spans']:,.0f} spans, filled in-process at {r['fill_rate']:,.0f} spans/s"
            f" (first tenth {r['fill_first']:,.0f}, last tenth {r['fill_last']:,.0f});"
            f" {r['bytes_per_span']:,.0f} bytes per span on disk, {r['wire_per_span']:,.0f} on the wire"
            f" (x{r['bytes_per_span'] / r['wire_per_span']:.1f})"
        )
    for key, label in (
        ("list_page", "GET /api/sessions (100)"),
        ("list_1000", "GET /api/sessions?limit=1000"),
        ("tag_filter", "tag filter (100)"),
        ("tag_no_match", "tag filter, no match"),
        ("deep_offset", "end_state + offset half-way"),
        ("deep_cursor", "end_state + cursor half-way"),
        ("detail", f"GET /api/sessions/{{id}} ({args.spans_per_session})"),
        ("detail_page", "GET /api/sessions/{id}?spans_limit=20"),
        ("overview", "GET /api/overview (7 days)"),
    ):
        s, p = reads["SQLite"][key], reads["PostgreSQL"][key]
        print(f"  {label:<38} SQLite {s:8.1f}   PostgreSQL {p:8.1f}   PG/SQLite x{p / s:.2f}")


if __name__ == "__main__":
    main()
