"""OTLP/protobuf bytes for an ``ExportTraceServiceRequest``, written directly from SDK spans.

The official encoder (``opentelemetry.exporter.otlp.proto.common.trace_encoder``) builds a tree of
protobuf objects before serialising it: that costs 2.4-2.9x the CPU per span on the export thread,
under the GIL. This module writes the same wire format with the stdlib only; the official encoder is
the fallback for a span it cannot write (:func:`encode_batch`). The output parses, with the
official classes, to a message equal to the official encoder's (tests/test_otlp_encoding.py checks it
for many span shapes), including its choices:

- span ``flags`` carry only the "has is-remote" and "is-remote" bits of the parent (not the W3C trace
  flags), and a link's flags those of the linked context;
- a link's trace state is not sent;
- spans are grouped per resource, then per instrumentation scope, in order of first appearance;
- an attribute value the protocol cannot hold (an int beyond int64, an unknown type) is skipped with
  a log line, the rest of the span is sent.

:func:`encode_spans` is that encoder. The export path uses :func:`encode_batch`, which differs in two
ways: a timestamp outside 0..2**63-1 ns (before 1970, after 2262: a bad ``record()`` time) is
clamped into that range, so one such span neither fails the batch nor overflows a backend's int64
column (the spans clamped are counted); and a span that cannot be encoded at all is left out and
counted, so it costs only itself.

Field numbers are those of opentelemetry-proto ``trace/v1/trace.proto``, ``common/v1/common.proto``
and ``resource/v1/resource.proto``.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan

from agentops_otel._internal.exporters.otlp_wire import (
    INT64_MAX,
    UINT64_MASK,
    encode_attributes,
    encode_resource,
    encode_scope,
    field,
    pack_fixed32,
    pack_fixed64,
    varint,
)

logger = logging.getLogger("agentops_otel.exporter")

# Span.flags bits (trace.proto SpanFlags).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


# -- spans -------------------------------------------------------------------------------------------


def _flags(parent: Any) -> bytes:
    flags = _HAS_IS_REMOTE
    if parent is not None and parent.is_remote:
        flags |= _IS_REMOTE
    return pack_fixed32(flags)


def _time(value: int, limit: int) -> bytes:
    """A fixed64 timestamp, at most ``limit``."""
    if not 0 <= value <= limit:
        raise _OutOfRange
    return pack_fixed64(value)


class _OutOfRange(Exception):
    """A timestamp outside 0..limit: the span is encoded again with its times clamped."""


def _clamp(value: int | None) -> int | None:
    return None if value is None else min(max(int(value), 0), INT64_MAX)


def _span(span: ReadableSpan, limit: int = UINT64_MASK) -> bytes:
    """The ``Span`` message body."""
    ctx = span.get_span_context()
    assert ctx is not None  # an SDK span always has one
    out = bytearray(b"\x0a\x10")  # trace_id (1): 16 bytes
    out += ctx.trace_id.to_bytes(16, "big")
    out += b"\x12\x08"  # span_id (2): 8 bytes
    out += ctx.span_id.to_bytes(8, "big")
    if ctx.trace_state:
        state = ",".join([f"{k}={v}" for k, v in ctx.trace_state.items()])
        if state:
            out += field(b"\x1a", state.encode("utf-8"))
    parent = span.parent
    if parent is not None:
        out += b"\x22\x08"  # parent_span_id (4)
        out += parent.span_id.to_bytes(8, "big")
    if span.name:
        out += field(b"\x2a", span.name.encode("utf-8"))
    out += b"\x30"  # kind (6): the SDK's SpanKind counts from 0 (INTERNAL), OTLP's from 1
    out += varint(span.kind.value + 1)
    if span.start_time:
        out += b"\x39"  # start_time_unix_nano (7), fixed64
        out += _time(span.start_time, limit)
    if span.end_time:
        out += b"\x41"  # end_time_unix_nano (8), fixed64
        out += _time(span.end_time, limit)
    out += encode_attributes(b"\x4a", span.attributes)  # attributes (9)
    if span.dropped_attributes:
        out += b"\x50"
        out += varint(span.dropped_attributes)
    for event in span.events:  # events (11)
        body = b""
        if event.timestamp:
            body += b"\x09" + _time(event.timestamp, limit)
        if event.name:
            body += field(b"\x12", event.name.encode("utf-8"))
        body += encode_attributes(b"\x1a", event.attributes)
        if event.dropped_attributes:
            body += b"\x20" + varint(event.dropped_attributes)
        out += field(b"\x5a", body)
    if span.dropped_events:
        out += b"\x60"
        out += varint(span.dropped_events)
    for link in span.links:  # links (13)
        linked = link.context
        body = (
            b"\x0a\x10"
            + linked.trace_id.to_bytes(16, "big")
            + b"\x12\x08"
            + linked.span_id.to_bytes(8, "big")
        )
        body += encode_attributes(b"\x22", link.attributes)
        if link.dropped_attributes:
            body += b"\x28" + varint(link.dropped_attributes)
        body += b"\x35" + _flags(linked)  # flags (6), fixed32
        out += field(b"\x6a", body)
    if span.dropped_links:
        out += b"\x70"
        out += varint(span.dropped_links)
    status = span.status
    body = b""
    if status.description:
        body += field(b"\x12", status.description.encode("utf-8"))
    if status.status_code.value:
        body += b"\x18" + varint(status.status_code.value)
    out += field(b"\x7a", body)  # status (15): always present, as in the official encoder
    out += b"\x85\x01"  # flags (16), fixed32
    out += _flags(parent)
    return bytes(out)


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialised ``ExportTraceServiceRequest`` holding ``spans``, as the official encoder writes
    it (raises for a span that cannot be encoded)."""
    return _request([(span, _span(span)) for span in spans])


def encode_batch(spans: Sequence[ReadableSpan]) -> tuple[bytes, list[ReadableSpan], int]:
    """``(request body, spans in it, spans of them clamped)``: a span that neither encoder can write
    is left out (the caller counts ``len(spans) - len(kept)``), so it costs only itself."""
    bodies: list[tuple[ReadableSpan, bytes]] = []
    clamped = 0
    for span in spans:
        try:
            body, was_clamped = _span_clamping(span)
        except Exception:
            fallback = _official_span(span)
            if fallback is None:
                continue
            body, was_clamped = fallback, False
        clamped += was_clamped
        bodies.append((span, body))
    return _request(bodies), [span for span, _ in bodies], clamped


def _span_clamping(span: ReadableSpan) -> tuple[bytes, bool]:
    try:
        return _span(span, INT64_MAX), False
    except _OutOfRange:
        pass
    _log_once(
        "clamped", "agentops_otel: span %r has a timestamp out of range; sent with it clamped", span.name
    )
    events = [
        Event(e.name, e.attributes, _clamp(e.timestamp)) if e.timestamp is not None else e
        for e in span.events
    ]
    fixed = ReadableSpan(
        name=span.name,
        context=span.get_span_context(),
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=_clamp(span.start_time),
        end_time=_clamp(span.end_time),
        instrumentation_scope=span.instrumentation_scope,
    )
    return _span(fixed, INT64_MAX), True


def _official_span(span: ReadableSpan) -> bytes | None:
    """The span's body from the official encoder (the fallback), or None if that fails too."""
    try:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as official

        request = official([span])
        return bytes(request.resource_spans[0].scope_spans[0].spans[0].SerializeToString())
    except Exception as exc:
        _log_once(
            f"encode-{type(exc).__name__}", "agentops_otel: a span cannot be encoded, not sent: %r", exc
        )
        return None


_logged: set[str] = set()


def _log_once(key: str, message: str, *args: Any) -> None:
    if key not in _logged:
        _logged.add(key)
        logger.warning(message, *args)


def _request(bodies: Sequence[tuple[ReadableSpan, bytes]]) -> bytes:
    # resource key -> (resource body, schema url, {scope key -> (scope body, schema url, [span bodies])})
    groups: dict[Any, tuple[bytes, str, dict[Any, tuple[bytes, str, list[bytes]]]]] = {}
    for span, span_body in bodies:
        resource = span.resource
        resource_body = encode_resource(resource)
        resource_key = (resource_body, resource.schema_url)
        group = groups.get(resource_key)
        if group is None:
            group = groups[resource_key] = (resource_body, resource.schema_url or "", {})
        scope = span.instrumentation_scope
        scope_body = encode_scope(scope)
        schema = (scope.schema_url if scope is not None else "") or ""
        scope_key = (scope_body, schema)
        scoped = group[2].get(scope_key)
        if scoped is None:
            scoped = group[2][scope_key] = (scope_body, schema, [])
        scoped[2].append(span_body)

    out = bytearray()
    for resource_body, resource_schema, scopes in groups.values():
        resource_spans = bytearray(field(b"\x0a", resource_body))  # resource (1)
        for scope_body, scope_schema, span_bodies in scopes.values():
            scope_spans = bytearray(field(b"\x0a", scope_body))  # scope (1)
            for body in span_bodies:
                scope_spans += b"\x12"  # spans (2)
                scope_spans += varint(len(body))
                scope_spans += body
            if scope_schema:
                scope_spans += field(b"\x1a", scope_schema.encode("utf-8"))
            resource_spans += field(b"\x12", scope_spans)  # scope_spans (2)
        if resource_schema:
            resource_spans += field(b"\x1a", resource_schema.encode("utf-8"))
        out += field(b"\x0a", resource_spans)  # ExportTraceServiceRequest.resource_spans (1)
    return bytes(out)


def compress(body: bytes, compression: str) -> bytes:
    """``body`` for ``Content-Encoding: compression`` ("gzip", "deflate" or "" for none)."""
    # Level 1: on LLM-like spans it costs a quarter of level 5-6's CPU (11 vs 30-40 us per 3.6 KB
    # span, benchmarks/bench_export.py) for bodies some 1.5-2x larger; the export thread shares the
    # GIL with the program, the network rarely minds.
    if compression == "gzip":
        # zlib with wbits=31 writes the gzip format (gzip.py would be one more import).
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
        return compressor.compress(body) + compressor.flush()
    if compression == "deflate":
        return zlib.compress(body, 1)
    return body
