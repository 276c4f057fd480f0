"""Filling a store for the benchmarks, in one place: ``bench_load.py`` fills in-process (``store.ingest``),
``bench_ingest.py`` through a server (``POST /v1/traces``); both with the sessions of :func:`records`, in
batches of 512, timing the sends alone (making the spans and encoding them are not the store's work)
and the rate over the first and the last tenth of the fill (does ingest slow down as the store grows?).
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentops_otel.store.records import SpanRecord

BATCH = 512
#: Sessions made at a time (their spans are made, sent and dropped chunk by chunk: 1,000,000 spans are
#: never all in memory).
_CHUNK = 500


def records(
    n_sessions: int, per_session: int, tag: str, start_ns: int | None = None
) -> list[list[SpanRecord]]:
    """Sessions of a root, a start marker and ``per_session - 2`` LLM spans, with random span and
    response ids as real ones have (ids are what compresses least, on the wire and at rest); tags
    ``tag`` and one of ``t0``..``t9``."""
    now = time.time_ns() - 3600 * 10**9 if start_ns is None else start_ns
    out = []
    for s in range(n_sessions):
        sid = uuid.uuid4()
        trace, start = sid.hex, now + s * 1_000_000
        base = {"session.id": str(sid)}
        root_id = os.urandom(8).hex()
        recs = [
            SpanRecord(trace, root_id, None, "agentops.session", start, start + 10**9, "OK", "",
                       {**base, "agentops.span.kind": "session", "agentops.session.tags": [tag, f"t{s % 10}"]}),
            SpanRecord(trace, os.urandom(8).hex(), root_id, "agentops.session.start", start, start,
                       "UNSET", "", {**base, "agentops.span.kind": "session.start", "host.name": "box"}),
        ]  # fmt: skip
        for i in range(per_session - 2):
            attrs = {**base, "agentops.span.kind": "llm", "gen_ai.operation.name": "chat",
                     "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                     "gen_ai.response.id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                     "gen_ai.usage.input_tokens": 100 + i, "gen_ai.usage.output_tokens": 20 + i % 7,
                     "agentops.usage.cost_usd": 0.0001 + i * 1e-6}  # fmt: skip
            t = start + i * 1_000_003
            recs.append(
                SpanRecord(trace, os.urandom(8).hex(), root_id, "chat gpt-4o-mini", t, t + 5_000_017 + i * 997,
                           "OK", "", attrs, {"service.name": "bench"})
            )  # fmt: skip
        out.append(recs)
    return out


def otlp_body(batch: list[SpanRecord]) -> bytes:
    """``batch`` as an OTLP/protobuf export request (not compressed), one resource and scope."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def value(v: Any) -> AnyValue:
        if isinstance(v, bool):
            return AnyValue(bool_value=v)
        if isinstance(v, int):
            return AnyValue(int_value=v)
        if isinstance(v, float):
            return AnyValue(double_value=v)
        if isinstance(v, list):
            out = AnyValue()
            out.array_value.values.extend(value(x) for x in v)
            return out
        return AnyValue(string_value=str(v))

    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(KeyValue(key="service.name", value=value("bench")))
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "agentops_otel"
    for r in batch:
        span = scope.spans.add()
        span.trace_id, span.span_id = bytes.fromhex(r.trace_id), bytes.fromhex(r.span_id)
        if r.parent_span_id:
            span.parent_span_id = bytes.fromhex(r.parent_span_id)
        span.name, span.start_time_unix_nano, span.end_time_unix_nano = r.name, r.start_ns, r.end_ns
        span.attributes.extend(KeyValue(key=k, value=value(v)) for k, v in r.attributes.items())
    return request.SerializeToString()


@dataclass
class Filled:
    spans: int
    seconds: float  # in the sends only
    first: float  # spans/s over the first tenth of the batches
    last: float  # and over the last tenth
    tenths: list[float]  # over each tenth

    @property
    def rate(self) -> float:
        return self.spans / self.seconds if self.seconds else float("nan")


def fill(
    send: Callable[[Any], object],
    sessions: int,
    per_session: int,
    prepare: Callable[[list[SpanRecord]], Any] | None = None,
    tag: str = "bench",
) -> Filled:
    """``sessions`` sessions of :func:`records` through ``send(prepare(batch))``, batch by batch of
    :data:`BATCH` spans (sessions cut across batches, as an exporter's batches cut them)."""
    durations: list[tuple[float, int]] = []
    start_ns = time.time_ns() - 3600 * 10**9
    for chunk_start in range(0, sessions, _CHUNK):
        chunk = records(min(_CHUNK, sessions - chunk_start), per_session, tag, start_ns + chunk_start * 10**6)
        flat = [r for recs in chunk for r in recs]
        for i in range(0, len(flat), BATCH):
            batch = flat[i : i + BATCH]
            item = prepare(batch) if prepare is not None else batch
            started = time.perf_counter()
            send(item)
            durations.append((time.perf_counter() - started, len(batch)))
    tenth = max(1, len(durations) // 10)

    def rate(part: list[tuple[float, int]]) -> float:
        return sum(n for _, n in part) / sum(t for t, _ in part)

    cuts = [len(durations) * k // 10 for k in range(11)]
    return Filled(
        spans=sum(n for _, n in durations),
        seconds=sum(t for t, _ in durations),
        first=rate(durations[:tenth]),
        last=rate(durations[-tenth:]),
        tenths=[rate(durations[a:b]) for a, b in itertools.pairwise(cuts) if b > a],
    )
