"""The schemas (``components.schemas``) of the OpenAPI description (:mod:`.openapi`): the objects the
API answers with, SPEC.md section 5 and its additions (docs/backend.md)."""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/"


def nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **more}


def count(**more: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, **more}


_TIME = nullable("string", format="date-time")
_HEX16 = {"type": "string", "pattern": "^[0-9a-f]{16}$"}
_HEX32 = {"type": "string", "pattern": "^[0-9a-f]{32}$"}

#: The figures a session and a trace share.
_FIGURES: dict[str, Any] = {
    "span_count": count(),
    "llm_calls": count(),
    "tool_calls": count(),
    "actions": count(),
    "agents": count(),
    "errors": count(),
    "prompt_tokens": count(),
    "completion_tokens": count(),
    "total_tokens": count(),
    "cost_usd": {"type": "number"},
    "unpriced_llm_calls": count(description="LLM calls with no known price: show the cost as unknown"),
    "models": {"type": "array", "items": {"type": "string"}, "description": "request and response models"},
}

_SESSION_FIELDS: dict[str, Any] = {
    "session_id": {"type": "string"},
    "project_id": {"type": "string"},
    "name": nullable("string"),
    "start_time": _TIME,
    "end_time": _TIME,
    "duration_s": {"type": "number"},
    "end_state": {"type": "string", "enum": ["Success", "Fail", "Indeterminate"]},
    "end_state_reason": nullable("string"),
    "tags": {"type": "array", "items": {"type": "string"}},
    "host_env": {"type": "object"},
    "video": nullable("string"),
    **_FIGURES,
    "trace_id": nullable("string"),
}

_TRACE_FIELDS: dict[str, Any] = {
    "trace_id": _HEX32,
    "project_id": {"type": "string"},
    "name": nullable("string", description="the root span's name; null until the root arrives"),
    "start_time": _TIME,
    "end_time": _TIME,
    "duration_s": {"type": "number"},
    "status": {"type": "string", "enum": ["UNSET", "OK", "ERROR"], "description": "the root span's"},
    "status_message": nullable("string"),
    **_FIGURES,
}

_SPAN_FIELDS: dict[str, Any] = {
    "span_id": _HEX16,
    "parent_span_id": nullable("string", pattern="^[0-9a-f]{16}$"),
    "trace_id": _HEX32,
    "name": {"type": "string"},
    "kind": nullable("string", description="agentops.span.kind"),
    "span_kind": nullable(
        "string",
        enum=["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER", None],
        description="OTel SpanKind",
    ),
    "start_time": _TIME,
    "end_time": _TIME,
    "status": {"type": "string", "enum": ["UNSET", "OK", "ERROR"]},
    "status_message": nullable("string"),
    "attributes": {"type": "object"},
    "events": {"type": "array", "items": {"type": "object"}},
    "links": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["trace_id", "span_id", "attributes"],
            "properties": {
                "trace_id": {"type": "string"},
                "span_id": {"type": "string"},
                "trace_state": {"type": "string"},
                "attributes": {"type": "object"},
            },
        },
    },
    "trace_state": {"type": "string"},
    "scope": {"$ref": REF + "Scope"},
    "resource": {"type": "object", "description": "the resource's attributes (full form)"},
    "scope_id": nullable("integer", description="compact form: the key of the page's scopes"),
    "resource_id": nullable("integer", description="compact form: the key of the page's resources"),
    "attributes_omitted": {
        "type": "array",
        "items": {"type": "string"},
        "description": "compact form: attributes left out (content, long values); GET the span for them",
    },
}


def _with_spans(base: str) -> dict[str, Any]:
    return {
        "allOf": [
            {"$ref": REF + base},
            {
                "type": "object",
                "required": ["spans"],
                "properties": {
                    "spans": {"type": "array", "items": {"$ref": REF + "Span"}},
                    "spans_next_cursor": nullable("string", description="with spans_limit: the next page"),
                    "resources": {
                        "type": "object",
                        "description": "with spans_limit: resource_id -> attributes",
                    },
                    "scopes": {"type": "object", "description": "with spans_limit: scope_id -> scope"},
                },
            },
        ]
    }


def _page(name: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [name, "total", "next_cursor"],
        "properties": {
            name: {"type": "array", "items": {"$ref": REF + item}},
            "total": count(description="all that match the filters"),
            "next_cursor": nullable(
                "string", description="pass back as cursor for the next page; null: last"
            ),
        },
    }


_OVERVIEW_TOTALS = {
    k: count() if k not in ("fail_rate", "cost_usd") else {"type": "number"}
    for k in (
        "sessions", "failed", "fail_rate", "llm_calls", "tool_calls", "prompt_tokens", "completion_tokens",
        "total_tokens", "cost_usd", "errors", "unpriced_llm_calls",
    )
}  # fmt: skip


def _obj(fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(fields), "properties": fields}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Status": {
        "type": "object",
        "description": "google.rpc.Status in protobuf's JSON mapping",
        "required": ["message"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
    },
    "Session": {
        "type": "object",
        "required": [k for k in _SESSION_FIELDS if k not in ("video",)],
        "properties": _SESSION_FIELDS,
    },
    "SessionWithSpans": _with_spans("Session"),
    "SessionPage": _page("sessions", "Session"),
    "Trace": {"type": "object", "required": list(_TRACE_FIELDS), "properties": _TRACE_FIELDS},
    "TraceWithSpans": _with_spans("Trace"),
    "TracePage": _page("traces", "Trace"),
    "Span": {
        "type": "object",
        "required": [
            "span_id",
            "parent_span_id",
            "name",
            "kind",
            "span_kind",
            "start_time",
            "status",
            "attributes",
        ],
        "properties": _SPAN_FIELDS,
    },
    "Scope": {
        "type": "object",
        "nullable": True,
        "properties": {
            "name": {"type": "string"},
            "version": nullable("string"),
            "attributes": {"type": "object"},
        },
    },
    "Overview": _obj(
        {
            "since": {"type": "string", "format": "date-time"},
            "until": {"type": "string", "format": "date-time"},
            "bucket": {"type": "string", "enum": ["hour", "day"]},
            "totals": _obj(_OVERVIEW_TOTALS),
            "series": {
                "type": "array",
                "items": _obj(
                    {
                        "start": {"type": "string", "format": "date-time"},
                        "sessions": count(),
                        "failed": count(),
                        "llm_calls": count(),
                        "total_tokens": count(),
                        "cost_usd": {"type": "number"},
                        "errors": count(),
                    }
                ),
            },
            "by_model": {
                "type": "array",
                "items": _obj(
                    {
                        "model": {"type": "string"},
                        "llm_calls": count(),
                        "prompt_tokens": count(),
                        "completion_tokens": count(),
                        "cost_usd": {"type": "number"},
                        "unpriced_llm_calls": count(),
                    }
                ),
            },
            "by_tag": {
                "type": "array",
                "items": _obj(
                    {
                        "tag": {"type": "string"},
                        "sessions": count(),
                        "failed": count(),
                        "cost_usd": {"type": "number"},
                        "total_tokens": count(),
                        "llm_calls": count(),
                        "unpriced_llm_calls": count(
                            description="LLM calls with no known price: cost_usd is the priced part"
                        ),
                    }
                ),
            },
        }
    ),
    "ExportTraceServiceRequest": {
        "type": "object",
        "description": "OTLP/JSON (opentelemetry-proto), ids in hex",
        "properties": {"resourceSpans": {"type": "array", "items": {"type": "object"}}},
    },
    "ExportTraceServiceResponse": {
        "type": "object",
        "properties": {
            "partialSuccess": {
                "type": "object",
                "properties": {"rejectedSpans": {"type": "string"}, "errorMessage": {"type": "string"}},
            }
        },
    },
}
