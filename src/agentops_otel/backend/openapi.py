"""The OpenAPI 3.0 description of the backend's HTTP API (SPEC.md section 5), served at
``/openapi.json``: for clients, and for the tests that fuzz the API against it (schemathesis)."""

from __future__ import annotations

from typing import Any

from agentops_otel.backend.limits import MAX_OFFSET, MAX_TAG_FILTERS, MAX_TOKEN_BODY
from agentops_otel.backend.rest import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT
from agentops_otel.version import __version__

_REF = "#/components/schemas/"


def _nullable(kind: str, **more: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **more}


def _int(**more: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, **more}


def _error(description: str, schema: str = "Error") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _REF + schema}}}}


def _otlp_error(description: str) -> dict[str, Any]:
    return {
        "description": description + " (a google.rpc.Status, in the request's encoding)",
        "content": {
            "application/json": {"schema": {"$ref": _REF + "Status"}},
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        },
    }


_SESSION_FIELDS: dict[str, Any] = {
    "session_id": {"type": "string"},
    "project_id": {"type": "string"},
    "name": _nullable("string"),
    "start_time": _nullable("string", format="date-time"),
    "end_time": _nullable("string", format="date-time"),
    "duration_s": {"type": "number"},
    "end_state": {"type": "string", "enum": ["Success", "Fail", "Indeterminate"]},
    "end_state_reason": _nullable("string"),
    "tags": {"type": "array", "items": {"type": "string"}},
    "host_env": {"type": "object"},
    "video": _nullable("string"),
    "span_count": _int(),
    "llm_calls": _int(),
    "tool_calls": _int(),
    "actions": _int(),
    "errors": _int(),
    "prompt_tokens": _int(),
    "completion_tokens": _int(),
    "total_tokens": _int(),
    "cost_usd": {"type": "number"},
}

_SPAN_FIELDS: dict[str, Any] = {
    "span_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
    "parent_span_id": _nullable("string", pattern="^[0-9a-f]{16}$"),
    "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "name": {"type": "string"},
    "kind": _nullable("string"),
    "start_time": _nullable("string", format="date-time"),
    "end_time": _nullable("string", format="date-time"),
    "status": {"type": "string", "enum": ["UNSET", "OK", "ERROR"]},
    "status_message": _nullable("string"),
    "attributes": {"type": "object"},
    "events": {"type": "array", "items": {"type": "object"}},
}

_SCHEMAS: dict[str, Any] = {
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
    "SessionWithSpans": {
        "allOf": [
            {"$ref": _REF + "Session"},
            {
                "type": "object",
                "required": ["spans"],
                "properties": {"spans": {"type": "array", "items": {"$ref": _REF + "Span"}}},
            },
        ]
    },
    "Span": {
        "type": "object",
        "required": ["span_id", "parent_span_id", "name", "kind", "start_time", "status", "attributes"],
        "properties": _SPAN_FIELDS,
    },
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

_AUTH_FAILED = _error("no valid token or API key in Authorization: Bearer")
_BUSY = {"description": "the store is busy, full or read-only: retry after Retry-After seconds"}


def _paths() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "/v3/auth/token": {
            "post": {
                "summary": "A token for a project's API key",
                "requestBody": {
                    "required": True,
                    "description": f"at most {MAX_TOKEN_BODY} bytes",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["api_key"],
                                "properties": {"api_key": {"type": "string", "minLength": 1}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "a token",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["token", "project_id"],
                                    "properties": {
                                        "token": {"type": "string"},
                                        "project_id": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("not a JSON object with an api_key"),
                    "401": _error("unknown or revoked API key"),
                    "408": _error("the body did not arrive in time"),
                    "413": _error("body too large"),
                    "415": _error("not application/json"),
                    "503": _BUSY,
                },
            }
        },
        "/v1/traces": {
            "post": {
                "summary": "OTLP/HTTP trace export",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": _REF + "ExportTraceServiceRequest"}},
                        "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "responses": {
                    "200": {
                        "description": "stored; partialSuccess counts the spans refused alone",
                        "content": {
                            "application/json": {"schema": {"$ref": _REF + "ExportTraceServiceResponse"}},
                            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "400": _otlp_error("not an OTLP trace export; nothing stored"),
                    "401": _otlp_error("no valid token or API key"),
                    "408": _otlp_error("the body did not arrive in time"),
                    "413": _otlp_error("body too large, compressed or not"),
                    "415": _otlp_error("unsupported Content-Type or Content-Encoding"),
                    "503": _otlp_error("overloaded, or the store is busy, full or read-only"),
                },
            }
        },
        "/api/sessions": {
            "get": {
                "summary": "The project's sessions, newest first",
                "security": bearer,
                "parameters": [
                    {
                        "name": "tag",
                        "in": "query",
                        "style": "form",
                        "explode": True,
                        "schema": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_TAG_FILTERS},
                    },
                    {
                        "name": "end_state",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["Success", "Fail", "Indeterminate"]},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_LIST_LIMIT,
                            "default": DEFAULT_LIST_LIMIT,
                        },
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "sessions",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["sessions"],
                                    "properties": {
                                        "sessions": {"type": "array", "items": {"$ref": _REF + "Session"}}
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("a filter out of range"),
                    "401": _AUTH_FAILED,
                    "503": _BUSY,
                },
            }
        },
        "/api/sessions/{session_id}": {
            "get": {
                "summary": "One session and all of its spans",
                "security": bearer,
                "parameters": [
                    {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "the session",
                        "content": {"application/json": {"schema": {"$ref": _REF + "SessionWithSpans"}}},
                    },
                    "401": _AUTH_FAILED,
                    "404": _error("no such session in the caller's project"),
                    "503": _BUSY,
                },
            }
        },
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "agentops-otel local backend",
            "version": __version__,
            "description": "SPEC.md section 5. Every refusal is a 4xx with a message; 400 also for a Host"
            " not allowed (serve --allowed-host).",
        },
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from POST /v3/auth/token, or the project's API key",
                }
            },
        },
    }
