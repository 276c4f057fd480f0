"""A normalised span record, and converters from OTLP (protobuf, OTLP/JSON) and from SDK spans.

The store and the session figures work on :class:`SpanRecord` only, so whichever way a span arrived
(over HTTP as protobuf or JSON, or straight from the SDK into the embedded store) it is counted the
same way. Conversion is on the ingest hot path: plain loops, no per-value dispatch tables.
"""

from __future__ import annotations

import base64
import json
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
_JSON_STATUS = {
    "STATUS_CODE_UNSET": "UNSET",
    "STATUS_CODE_OK": "OK",
    "STATUS_CODE_ERROR": "ERROR",
    "UNSET": "UNSET",
    "OK": "OK",
    "ERROR": "ERROR",
}


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
        "name",
        "parent_span_id",
        "resource",
        "span_id",
        "start_ns",
        "status",
        "status_message",
        "trace_id",
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


def _safe_float(value: float) -> float | str:
    # JSON has no NaN/Infinity: keep them readable rather than producing invalid JSON.
    return value if math.isfinite(value) else str(value)


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


def from_otlp_protobuf(body: bytes) -> list[SpanRecord]:
    """Records of an ``ExportTraceServiceRequest``; :class:`MalformedSpans` if it is not one."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:  # DecodeError, or upb's RuntimeError-like errors
        raise MalformedSpans(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    return from_otlp_message(request)


def from_otlp_message(request: ExportTraceServiceRequest) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    append = records.append
    for resource_spans in request.resource_spans:
        resource = {kv.key: _pb_value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                trace_id = span.trace_id
                span_id = span.span_id
                parent = span.parent_span_id
                if len(trace_id) != 16 or len(span_id) != 8 or len(parent) not in (0, 8):
                    raise MalformedSpans(f"span {span.name!r} has an invalid trace, span or parent id")
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
                code = span.status.code
                append(
                    SpanRecord(
                        trace_id.hex(),
                        span_id.hex(),
                        parent.hex() if parent else None,
                        span.name,
                        span.start_time_unix_nano,
                        span.end_time_unix_nano,
                        STATUS_NAMES[code] if 0 <= code <= 2 else "UNSET",
                        span.status.message,
                        {kv.key: _pb_value(kv.value) for kv in span.attributes},
                        resource,
                        events,
                    )
                )
    return records


# -- OTLP/JSON ---------------------------------------------------------------------------------------


def _json_id(value: Any, size: int, what: str, *, optional: bool = False) -> str | None:
    """An id of ``size`` bytes as hex. OTLP/JSON says hex; protobuf's JSON mapping says base64."""
    if value in (None, ""):
        if optional:
            return None
        raise MalformedSpans(f"missing {what}")
    if not isinstance(value, str):
        raise MalformedSpans(f"{what} must be a string")
    if len(value) == size * 2:
        try:
            bytes.fromhex(value)
        except ValueError:
            pass
        else:
            return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise MalformedSpans(f"{what} {value!r} is neither {size * 2} hex digits nor base64 of {size} bytes")
    return raw.hex()


def _get(obj: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    # OTLP/JSON uses lowerCamelCase; protobuf's JSON parsers also accept the field names.
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake, default)
    return value


def _json_value(value: Any) -> Any:
    if not isinstance(value, dict):
        raise MalformedSpans("attribute value must be an object")
    for key, item in value.items():
        if key == "stringValue" or key == "string_value":
            return str(item)
        if key == "intValue" or key == "int_value":
            return int(item)  # int64 travels as a string in OTLP/JSON
        if key == "boolValue" or key == "bool_value":
            return bool(item)
        if key == "doubleValue" or key == "double_value":
            return _safe_float(float(item))
        if key == "arrayValue" or key == "array_value":
            return [_json_value(v) for v in (item or {}).get("values", [])]
        if key == "kvlistValue" or key == "kvlist_value":
            return _json_attributes((item or {}).get("values", []))
        if key == "bytesValue" or key == "bytes_value":
            return str(item)  # already base64
    return None


def _json_attributes(items: Any) -> dict[str, Any]:
    if not items:
        return {}
    if not isinstance(items, list):
        raise MalformedSpans("attributes must be a list")
    return {str(kv["key"]): _json_value(kv.get("value", {})) for kv in items}


def _json_status(status: Any) -> tuple[str, str]:
    if not status:
        return "UNSET", ""
    code = status.get("code", 0)
    if isinstance(code, int):
        name = STATUS_NAMES[code] if 0 <= code <= 2 else "UNSET"
    else:
        name = _JSON_STATUS.get(str(code).upper(), "UNSET")
    return name, str(status.get("message") or "")


def from_otlp_json(body: bytes | str) -> list[SpanRecord]:
    """Records of an OTLP/JSON ``ExportTraceServiceRequest``; :class:`MalformedSpans` if it is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedSpans(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedSpans("the body must be a JSON object")
    try:
        return _from_json_doc(doc)
    except MalformedSpans:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedSpans(f"not an OTLP/JSON trace export: {type(exc).__name__}: {exc}") from None


def _from_json_doc(doc: Mapping[str, Any]) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    for resource_spans in _get(doc, "resourceSpans", "resource_spans", []) or []:
        resource = _json_attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in _get(resource_spans, "scopeSpans", "scope_spans", []) or []:
            for span in scope_spans.get("spans", []) or []:
                status, message = _json_status(span.get("status"))
                events = None
                if span.get("events"):
                    events = [
                        {
                            "name": str(ev.get("name", "")),
                            "time_ns": int(_get(ev, "timeUnixNano", "time_unix_nano", 0)),
                            "attributes": _json_attributes(ev.get("attributes")),
                        }
                        for ev in span["events"]
                    ]
                records.append(
                    SpanRecord(
                        _json_id(_get(span, "traceId", "trace_id"), 16, "traceId") or "",
                        _json_id(_get(span, "spanId", "span_id"), 8, "spanId") or "",
                        _json_id(
                            _get(span, "parentSpanId", "parent_span_id"), 8, "parentSpanId", optional=True
                        ),
                        str(span.get("name", "")),
                        int(_get(span, "startTimeUnixNano", "start_time_unix_nano", 0)),
                        int(_get(span, "endTimeUnixNano", "end_time_unix_nano", 0)),
                        status,
                        message,
                        _json_attributes(span.get("attributes")),
                        resource,
                        events,
                    )
                )
    return records


# -- SDK spans (embedded store) ----------------------------------------------------------------------

_SDK_STATUS = {StatusCode.UNSET: "UNSET", StatusCode.OK: "OK", StatusCode.ERROR: "ERROR"}


def from_readable_spans(spans: Iterable[ReadableSpan]) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    resources: dict[int, dict[str, Any]] = {}
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
            )
        )
    return records
