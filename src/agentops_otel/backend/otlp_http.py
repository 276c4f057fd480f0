"""``POST /v1/traces``: the OTLP/HTTP receiver (protobuf or JSON, gzip or deflate).

In this order: the credential (a token or the project's API key), the content type and encoding, the
whole body within the size limit and the body timeout, and only then an ingest slot: a client that
sends slowly holds a connection, never a slot. Decoding and storing run on a worker thread.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from agentops_otel.backend.errors import Refused, otlp_error
from agentops_otel.backend.ingest import Ingested, decode, store_export
from agentops_otel.backend.limits import inflate, read_body

if TYPE_CHECKING:
    from agentops_otel.backend.state import Backend

PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
JSON_TYPES = frozenset({"application/json"})
_ENCODINGS = frozenset({"", "identity", "gzip", "deflate"})


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def success(result: Ingested, protobuf: bool) -> Response:
    """An ``ExportTraceServiceResponse``: empty on full success, ``partial_success`` set otherwise."""
    if protobuf:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        answer = ExportTraceServiceResponse()
        if result.rejected:
            answer.partial_success.rejected_spans = result.rejected
            answer.partial_success.error_message = result.message
        return Response(answer.SerializeToString(), media_type="application/x-protobuf")
    doc: dict[str, object] = {}
    if result.rejected:  # int64 is a string in protobuf's JSON mapping
        doc["partialSuccess"] = {"rejectedSpans": str(result.rejected), "errorMessage": result.message}
    return Response(json.dumps(doc).encode(), media_type="application/json")


async def export_traces(backend: Backend, request: Request) -> Response:
    kind = media_type(request)
    protobuf = kind in PROTOBUF_TYPES
    try:
        project_id = await backend.project_of(request)
        if not protobuf and kind not in JSON_TYPES:
            raise Refused(415, "Content-Type must be application/x-protobuf or application/json (OTLP/HTTP)")
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in _ENCODINGS:
            raise Refused(415, f"unsupported Content-Encoding {encoding[:40]!r} (use gzip, deflate or none)")
        limits = backend.limits
        body = await read_body(request, limits.max_body, limits.body_timeout, backend.budget)
        try:
            result = await backend.in_slot(
                run_in_threadpool, ingest_body, backend, project_id, body, encoding, protobuf
            )
        finally:
            backend.budget.give(len(body))
    except Refused as refused:
        return otlp_error(refused, protobuf)
    return success(result, protobuf)


def ingest_body(backend: Backend, project_id: str, body: bytes, encoding: str, protobuf: bool) -> Ingested:
    """Decompress, decode and store one body (on a worker thread)."""
    if encoding in ("gzip", "deflate"):
        body = inflate(body, encoding, backend.limits.max_body)
    refused: list[str] = []
    records = decode(body, protobuf, refused)
    return store_export(backend.store, project_id, records, refused)
