"""The OpenAPI 3.0 description of the backend's HTTP API (SPEC.md section 5 and the additions of
docs/backend.md), served at ``/openapi.json``: for clients, and for the tests that fuzz the API against
it (schemathesis). The schemas are in :mod:`.openapi_schemas`."""

from __future__ import annotations

from typing import Any

from agentops_otel.backend.limits import MAX_OFFSET, MAX_TAG_FILTERS, MAX_TAG_LENGTH, MAX_TOKEN_BODY
from agentops_otel.backend.openapi_schemas import REF as _REF
from agentops_otel.backend.openapi_schemas import SCHEMAS
from agentops_otel.backend.rest_params import MAX_CURSOR, MAX_TEXT
from agentops_otel.store.listing import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, SORT_KEYS
from agentops_otel.store.reads import MAX_SPANS_LIMIT
from agentops_otel.version import __version__


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


_AUTH_FAILED = _error("no valid token or API key in Authorization: Bearer")
_BUSY = {"description": "the store is busy, full or read-only: retry after Retry-After seconds"}


def _write_paths() -> dict[str, Any]:
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
    }


def _read_paths() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "/api/sessions": {
            "get": {
                "summary": "The project's sessions: filtered, sorted (newest first by default), in pages",
                "security": bearer,
                "parameters": [_TAGS, _END_STATE, *_LIST],
                "responses": _answers(_json("sessions, and the count of all that match", "SessionPage")),
            }
        },
        "/api/sessions/{session_id}": {
            "get": {
                "summary": "One session and its spans: all, or a page (spans_limit) in the compact form",
                "security": bearer,
                "parameters": [_path("session_id"), *_SPAN_PAGE, _IF_NONE_MATCH],
                "responses": _answers(
                    _json("the session", "SessionWithSpans", etag=True),
                    {"304": {"description": "not changed since the ETag given in If-None-Match"}},
                    {"404": _error("no such session in the caller's project")},
                ),
            }
        },
        "/api/sessions/{session_id}/spans/{span_id}": {
            "get": {
                "summary": "One span with all its attributes and events",
                "security": bearer,
                "parameters": [_path("session_id"), _path("span_id")],
                "responses": _answers(
                    _json("the span", "Span"), {"404": _error("no such span in the session")}
                ),
            }
        },
        "/api/traces": {
            "get": {
                "summary": "Traces that carry no session (spans without session.id), newest first",
                "security": bearer,
                "parameters": _LIST,
                "responses": _answers(_json("traces", "TracePage")),
            }
        },
        "/api/traces/{trace_id}": {
            "get": {
                "summary": "One trace that carries no session, and its spans",
                "security": bearer,
                "parameters": [_path("trace_id"), *_SPAN_PAGE, _IF_NONE_MATCH],
                "responses": _answers(
                    _json("the trace", "TraceWithSpans", etag=True),
                    {"304": {"description": "not changed since the ETag given in If-None-Match"}},
                    {"404": _error("no such trace (or it is a session's trace) in the caller's project")},
                ),
            }
        },
        "/api/overview": {
            "get": {
                "summary": "The project's sessions over a time range: totals, series, by model, by tag",
                "security": bearer,
                "parameters": [
                    _query("since", _TIME_PARAM, "default: 7 days before until"),
                    _query("until", _TIME_PARAM, "default: now"),
                    _query("bucket", {"type": "string", "enum": ["hour", "day"]}, "default: by the range"),
                    _TAGS,
                ],
                "responses": _answers(_json("the overview", "Overview")),
            }
        },
    }


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "in": "query", "schema": schema}
    if description:
        found["description"] = description
    return found


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _json(description: str, schema: str, *, etag: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
    }
    if etag:
        answer["headers"] = {"ETag": {"schema": {"type": "string"}}}
    return {"200": answer}


def _answers(*parts: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in parts:
        found.update(part)
    return {**found, "400": _error("a parameter out of range"), "401": _AUTH_FAILED, "503": _BUSY}


_TIME_PARAM = {"type": "string", "description": "ISO 8601 (UTC unless an offset is given) or epoch seconds"}
_TEXT = {"type": "string", "maxLength": MAX_TEXT}
_TAGS = _query(
    "tag",
    {"type": "array", "items": {"type": "string", "maxLength": MAX_TAG_LENGTH}, "maxItems": MAX_TAG_FILTERS},
    "every one must match",
)
_TAGS.update({"style": "form", "explode": True})
_END_STATE = _query("end_state", {"type": "string", "enum": ["Success", "Fail", "Indeterminate"]})
_SORTS = [*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS)]
_LIST = [
    _query(
        "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT, "default": DEFAULT_LIST_LIMIT}
    ),
    _query(
        "offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "not with cursor"
    ),
    _query("cursor", {"type": "string", "maxLength": MAX_CURSOR}, "next_cursor of the page before"),
    _query("q", _TEXT, "id prefix, name, tag or recorded content"),
    _query("since", _TIME_PARAM, "start_time from (inclusive)"),
    _query("until", _TIME_PARAM, "start_time before (exclusive)"),
    _query("sort", {"type": "string", "enum": _SORTS, "default": "-start_time"}),
    _query("model", _TEXT, "an LLM call's request or response model"),
    _query("min_cost", {"type": "number"}, "USD"),
    _query("max_cost", {"type": "number"}, "USD"),
    _query("min_errors", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}),
]
_SPAN_PAGE = [
    _query("spans_limit", {"type": "integer", "minimum": 1, "maximum": MAX_SPANS_LIMIT}, "a page of spans"),
    _query(
        "spans_cursor", {"type": "string", "maxLength": MAX_CURSOR}, "spans_next_cursor of the page before"
    ),
]
_IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "agentops-otel local backend",
            "version": __version__,
            "description": "SPEC.md section 5. Every refusal is a 4xx with a message; 400 also for a Host"
            " not allowed (serve --allowed-host).",
        },
        "paths": {**_write_paths(), **_read_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from POST /v3/auth/token, or the project's API key",
                }
            },
        },
    }
