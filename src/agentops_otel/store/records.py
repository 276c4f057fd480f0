"""A normalised span record, and converters from OTLP protobuf and from SDK spans (OTLP/JSON:
:mod:`agentops_otel.store.otlp_json`).

The store and the session figures work on :class:`SpanRecord` only, so whichever way a span arrived
(over HTTP as protobuf or JSON, or straight from the SDK into the embedded store) it is counted the
same way. Conversion is on the ingest hot path: plain loops, no per-value dispatch tables.
"""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from agentops_otel import semconv

if TYPE_CHECKING:  # protobuf is imported only where OTLP protobuf is decoded (the server), so that the
    # SDK's local-store exporter never imports it: a protobuf import at interpreter exit resets
    # CPython's record of an unhandled KeyboardInterrupt and so changes the exit code.
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

STATUS_NAMES = ("UNSET", "OK", "ERROR")
#: OTLP's ``Span.SpanKind`` numbers, by name (0: unspecified). The SDK's ``SpanKind`` is one less.
SPAN_KIND_NAMES = (None, "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
#: The latest time a span may have: the store keeps int64 nanoseconds (2262-04-11T23:47:16Z). OTLP's
#: fixed64 goes further; a span beyond is refused alone (:func:`refusal`).
MAX_TIME_NS = 2**63 - 1
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


#: The SDK's bookkeeping spans: they tell the backend about a session but are not spans of it.
_BOOKKEEPING = (semconv.KIND_SESSION_START, semconv.KIND_SESSION_HEARTBEAT)


class MalformedSpans(ValueError):
    """The request body is not a valid OTLP trace export (the whole request is refused)."""


class SpanRecord:
    """One span, as the store keeps it. Ids are lowercase hex; times are Unix nanoseconds."""

    __slots__ = (
        "attributes",
        "end_ns",
        "events",
        "kind",
        "links",
        "name",
        "parent_span_id",
        "resource",
        "scope",
        "span_id",
        "span_kind",
        "start_ns",
        "status",
        "status_message",
        "trace_id",
        "trace_state",
    )

    def __init__(
        self,
        trace_id: str,
        span_id: str,
        parent_span_id: str | None,
        name: str,
        start_ns: int,
        end_ns: int,
        status: str = "UNSET",
        status_message: str = "",
        attributes: dict[str, Any] | None = None,
        resource: dict[str, Any] | None = None,
        events: list[dict[str, Any]] | None = None,
        *,
        span_kind: int = 0,
        links: list[dict[str, Any]] | None = None,
        scope: dict[str, Any] | None = None,
        trace_state: str = "",
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.name = name
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.status = status
        self.status_message = status_message
        self.attributes = attributes if attributes is not None else {}
        self.resource = resource if resource is not None else {}
        self.events = events
        self.span_kind = span_kind  # OTLP's number: 0 unspecified, 1 INTERNAL ... 5 CONSUMER
        self.links = links  # [{"trace_id", "span_id", "trace_state", "attributes"}]
        self.scope = scope  # {"name", "version", "attributes"}: the instrumentation scope
        self.trace_state = trace_state
        kind = self.attributes.get(semconv.SPAN_KIND)
        self.kind: str | None = kind if isinstance(kind, str) else None

    @property
    def session_id(self) -> str:
        """``session.id``, else the trace id written as a UUID (SPEC section 3: they are equal)."""
        value = self.attributes.get(semconv.SESSION_ID)
        if isinstance(value, str) and value:
            return value
        return str(uuid.UUID(hex=self.trace_id))

    @property
    def has_session_id(self) -> bool:
        """Whether the span names its session; a trace none of whose spans do is a trace, not a session."""
        value = self.attributes.get(semconv.SESSION_ID)
        return isinstance(value, str) and bool(value)

    @property
    def is_root(self) -> bool:
        # Our roots say so; a parentless span of another tracer roots its own trace-session.
        kind = self.kind
        return kind == semconv.KIND_SESSION or (not self.parent_span_id and kind not in _BOOKKEEPING)

    @property
    def is_start_marker(self) -> bool:
        return self.kind == semconv.KIND_SESSION_START

    @property
    def is_heartbeat(self) -> bool:
        return self.kind == semconv.KIND_SESSION_HEARTBEAT

    def __repr__(self) -> str:
        return f"SpanRecord({self.name!r}, trace={self.trace_id}, span={self.span_id}, kind={self.kind})"


# -- values ------------------------------------------------------------------------------------------


def safe_float(value: float) -> float | str:
    """A float as stored: JSON has no NaN or Infinity, so those are kept as readable text."""
    return value if math.isfinite(value) else str(value)


_safe_float = safe_float


def _pb_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "bool_value":
        return value.bool_value
    if which == "double_value":
        return _safe_float(value.double_value)
    if which == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def _sdk_value(value: Any) -> Any:
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return _safe_float(value)
    if isinstance(value, (tuple, list)):
        return [_sdk_value(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def sdk_attributes(values: Mapping[str, Any] | None) -> dict[str, Any]:
    if not values:
        return {}
    return {k: _sdk_value(v) for k, v in values.items()}


# -- OTLP protobuf -----------------------------------------------------------------------------------


def _shown_id(raw: bytes) -> str:
    text = raw[:20].hex() + ("..." if len(raw) > 20 else "")
    return text or "empty"


def refusal(name: str, trace_id: bytes, span_id: bytes, parent: bytes, start: int, end: int) -> str | None:
    """Why a decoded span cannot be stored, or None: ids of the wrong length or all zeros (invalid in
    W3C Trace Context and OTLP), or a time past :data:`MAX_TIME_NS`. Such a span is refused alone."""
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        problem = f"invalid trace id ({_shown_id(trace_id)}): it must be 16 bytes, not all zero"
    elif len(span_id) != 8 or span_id == _ZERO_SPAN:
        problem = f"invalid span id ({_shown_id(span_id)}): it must be 8 bytes, not all zero"
    elif len(parent) not in (0, 8):
        problem = f"invalid parent span id ({_shown_id(parent)}): it must be 8 bytes or none"
    elif start > MAX_TIME_NS or end > MAX_TIME_NS:
        problem = f"a time ({max(start, end)} ns) after 2262-04-11, the latest the store keeps"
    else:
        return None
    return f"span {name[:80]!r} has {problem}"


def from_otlp_protobuf(body: bytes, refused: list[str] | None = None) -> list[SpanRecord]:
    """Records of an ``ExportTraceServiceRequest``; :class:`MalformedSpans` if it is not one. A span that
    cannot be stored (:func:`refusal`) raises too, unless ``refused`` is given: then it is left out and
    its reason appended there."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # DecodeError, or upb's RuntimeError-like errors
        raise MalformedSpans(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    return from_otlp_message(request, refused)


def from_otlp_message(
    request: ExportTraceServiceRequest, refused: list[str] | None = None
) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    append = records.append
    for resource_spans in request.resource_spans:
        resource = {kv.key: _pb_value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            scope = _pb_scope(scope_spans.scope)
            for span in scope_spans.spans:
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or len(parent) not in (0, 8)
                    or start > MAX_TIME_NS
                    or end > MAX_TIME_NS
                    or trace_id == _ZERO_TRACE
                    or span_id == _ZERO_SPAN
                ):
                    reason = refusal(span.name, trace_id, span_id, parent, start, end)
                    if reason is not None:
                        if refused is None:
                            raise MalformedSpans(reason)
                        refused.append(reason)
                        continue
                events = None
                if span.events:
                    events = [
                        {
                            "name": ev.name,
                            "time_ns": ev.time_unix_nano,
                            "attributes": {kv.key: _pb_value(kv.value) for kv in ev.attributes},
                        }
                        for ev in span.events
                    ]
                links = None
                if span.links:
                    links = [
                        link_dict(
                            link.trace_id.hex(),
                            link.span_id.hex(),
                            link.trace_state,
                            {kv.key: _pb_value(kv.value) for kv in link.attributes},
                        )
                        for link in span.links
                    ]
                code = span.status.code
                kind = span.kind
                append(
                    SpanRecord(
                        trace_id.hex(),
                        span_id.hex(),
                        parent.hex() if parent and parent != _ZERO_SPAN else None,
                        span.name,
                        start,
                        end,
                        STATUS_NAMES[code] if 0 <= code <= 2 else "UNSET",
                        span.status.message,
                        {kv.key: _pb_value(kv.value) for kv in span.attributes},
                        resource,
                        events,
                        span_kind=kind if 0 <= kind <= 5 else 0,
                        links=links,
                        scope=scope,
                        trace_state=span.trace_state,
                    )
                )
    return records


def link_dict(trace_id: str, span_id: str, trace_state: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """A link as stored and returned: the linked span's ids (hex), its trace state, the attributes."""
    link: dict[str, Any] = {"trace_id": trace_id, "span_id": span_id}
    if trace_state:
        link["trace_state"] = trace_state
    link["attributes"] = attributes
    return link


def scope_dict(name: str, version: str, attributes: dict[str, Any]) -> dict[str, Any] | None:
    """An instrumentation scope as stored and returned; None when it says nothing."""
    if not name and not version and not attributes:
        return None
    scope: dict[str, Any] = {"name": name, "version": version or None}
    if attributes:
        scope["attributes"] = attributes
    return scope


def _pb_scope(scope: Any) -> dict[str, Any] | None:
    return scope_dict(scope.name, scope.version, {kv.key: _pb_value(kv.value) for kv in scope.attributes})


# -- SDK spans (embedded store) ----------------------------------------------------------------------

_MISSING: Any = object()
_SDK_STATUS = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


def from_readable_spans(spans: Iterable[ReadableSpan]) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    resources: dict[int, dict[str, Any]] = {}
    scopes: dict[int, dict[str, Any] | None] = {}
    for span in spans:
        ctx = span.context
        if ctx is None:
            continue
        res = span.resource
        resource = resources.get(id(res))
        if resource is None:
            resource = resources[id(res)] = sdk_attributes(res.attributes if res is not None else None)
        events: list[dict[str, Any]] | None = None
        if span.events:
            events = [
                {"name": ev.name, "time_ns": ev.timestamp, "attributes": sdk_attributes(ev.attributes)}
                for ev in span.events
            ]
        links: list[dict[str, Any]] | None = None
        if span.links:
            links = [
                link_dict(
                    format(link.context.trace_id, "032x"),
                    format(link.context.span_id, "016x"),
                    link.context.trace_state.to_header() if link.context.trace_state else "",
                    sdk_attributes(link.attributes),
                )
                for link in span.links
            ]
        info = span.instrumentation_scope
        scope = scopes.get(id(info), _MISSING)
        if scope is _MISSING:
            scope = scopes[id(info)] = (
                None
                if info is None
                else scope_dict(
                    info.name, info.version or "", sdk_attributes(getattr(info, "attributes", None))
                )
            )
        status = span.status
        start = span.start_time or 0
        records.append(
            SpanRecord(
                format(ctx.trace_id, "032x"),
                format(ctx.span_id, "016x"),
                format(span.parent.span_id, "016x") if span.parent is not None else None,
                span.name,
                start,
                span.end_time or start,
                _SDK_STATUS.get(status.status_code, "UNSET"),
                status.description or "",
                sdk_attributes(span.attributes),
                resource,
                events,
                span_kind=span.kind.value + 1,
                links=links,
                scope=scope,
                trace_state=ctx.trace_state.to_header() if ctx.trace_state else "",
            )
        )
    return records
