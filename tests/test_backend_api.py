"""The local backend's HTTP API over 127.0.0.1: auth, OTLP ingest, refusals, isolation, listing."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any

import pytest

from backend_fixtures import (
    ERROR,
    OK,
    TEST_MAX_BODY,
    ApiClient,
    BackendServer,
    SpanMaker,
    create_project,
    encode,
    partial_success,
    run_cli,
    status_of,
)


def _otlp_json(spans: list[Any], *, ids: str) -> bytes:
    """OTLP/JSON of ``spans`` with hex ids (the OTLP spec) or base64 ids (protobuf's JSON mapping)."""

    def _id(value: int, size: int) -> str:
        raw = value.to_bytes(size, "big")
        return raw.hex() if ids == "hex" else base64.b64encode(raw).decode()

    def _value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        if isinstance(v, float):
            return {"doubleValue": v}
        if isinstance(v, (list, tuple)):
            return {"arrayValue": {"values": [_value(x) for x in v]}}
        return {"stringValue": str(v)}

    out = []
    for s in spans:
        item: dict[str, Any] = {
            "traceId": _id(s.context.trace_id, 16),
            "spanId": _id(s.context.span_id, 8),
            "name": s.name,
            "kind": 1,
            "startTimeUnixNano": str(s.start_time),
            "endTimeUnixNano": str(s.end_time),
            "attributes": [{"key": k, "value": _value(v)} for k, v in s.attributes.items()],
            "status": {"code": s.status.status_code.value, "message": s.status.description or ""},
        }
        if s.parent is not None:
            item["parentSpanId"] = _id(s.parent.span_id, 8)
        out.append(item)
    doc = {
        "resourceSpans": [
            {"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": out}]}
        ]
    }
    return json.dumps(doc).encode()


def _llm(tokens_in: int, tokens_out: int) -> tuple[str, dict[str, Any], None]:
    return (
        "chat m",
        {
            "agentops.span.kind": "llm",
            "gen_ai.usage.input_tokens": tokens_in,
            "gen_ai.usage.output_tokens": tokens_out,
        },
        None,
    )


def test_token_exchange(api: ApiClient, project: dict[str, str]) -> None:
    import requests

    ok = requests.post(api.url + "/v3/auth/token", json={"api_key": project["api_key"]}, timeout=10)
    assert ok.status_code == 200
    assert ok.json()["project_id"] == project["project_id"]
    assert ok.json()["token"]
    unknown = requests.post(api.url + "/v3/auth/token", json={"api_key": str(uuid.uuid4())}, timeout=10)
    assert unknown.status_code == 401
    json_type = {"Content-Type": "application/json"}
    malformed = requests.post(api.url + "/v3/auth/token", data=b"{", headers=json_type, timeout=10)
    assert malformed.status_code == 400 and "api_key" in malformed.json()["error"]
    # Not JSON: what a web page could send cross-site without a preflight.
    form = requests.post(api.url + "/v3/auth/token", data={"api_key": project["api_key"]}, timeout=10)
    assert form.status_code == 415
    plain = requests.post(
        api.url + "/v3/auth/token",
        data=json.dumps({"api_key": project["api_key"]}),
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert plain.status_code == 415
    big = json.dumps({"api_key": project["api_key"], "pad": "x" * 5000})
    too_big = requests.post(api.url + "/v3/auth/token", data=big, headers=json_type, timeout=10)
    assert too_big.status_code == 413


@pytest.mark.parametrize("form", ["protobuf", "protobuf+gzip", "json-hex", "json-base64"])
def test_ingest_forms(api: ApiClient, project: dict[str, str], form: str) -> None:
    token = api.token(project["api_key"])
    maker = SpanMaker()
    session_id, marker, rest = maker.session(children=[_llm(3, 4)], root_status=OK)
    spans = marker + rest
    if form.startswith("protobuf"):
        body, content_type, headers = encode(spans), "application/x-protobuf", {}
        if form.endswith("gzip"):
            body, headers = gzip.compress(body), {"Content-Encoding": "gzip"}
    else:
        body, content_type, headers = _otlp_json(spans, ids=form.split("-")[1]), "application/json", {}
    response = api.post_traces(token, body, content_type, headers)
    assert response.status_code == 200, response.text
    assert response.content == (b"{}" if form.startswith("json") else b"")

    session = api.session(token, session_id)
    assert session is not None
    assert session["span_count"] == 2  # root + llm; the start marker is not a span
    assert session["llm_calls"] == 1 and session["total_tokens"] == 7
    assert session["end_state"] == "Success"
    root = next(s for s in session["spans"] if s["kind"] == "session")
    assert root["parent_span_id"] is None
    assert root["span_id"] == format(rest[-1].context.span_id, "016x")
    llm = next(s for s in session["spans"] if s["kind"] == "llm")
    assert llm["parent_span_id"] == root["span_id"]
    assert llm["attributes"]["gen_ai.usage.input_tokens"] == 3


def _bomb() -> bytes:
    return gzip.compress(b"\0" * (TEST_MAX_BODY * 4))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no-token", 401),
        ("forged-token", 401),
        ("revoked-api-key", 401),
        ("unknown-api-key", 401),
        ("bad-protobuf", 400),
        ("bad-json", 400),
        ("json-not-otlp", 400),
        ("json-bad-id", 400),
        ("json-string-as-bool", 400),
        ("bad-gzip", 400),
        ("wrong-type", 415),
        ("too-big", 413),
        ("gzip-bomb", 413),
    ],
)
def test_bad_input_refused_and_nothing_stored(
    api: ApiClient, backend: BackendServer, project: dict[str, str], case: str, expected: int
) -> None:
    token = api.token(project["api_key"])
    maker = SpanMaker()
    _, marker, rest = maker.session(children=[_llm(1, 1)])
    good = encode(marker + rest)
    bearer: str | None = token
    content_type = "application/x-protobuf"
    headers: dict[str, str] = {}
    body = good
    if case == "no-token":
        bearer = None
    elif case == "forged-token":
        bearer = token[:-4] + "AAAA"
    elif case == "revoked-api-key":  # a valid key is a bearer too (SPEC.md section 5), a revoked one not
        other = create_project(backend.db)
        assert run_cli("projects", "revoke", other["api_key"], "--db", backend.db).returncode == 0
        bearer = other["api_key"]
    elif case == "unknown-api-key":
        bearer = str(uuid.uuid4())
    elif case == "bad-protobuf":
        body = b"\xff\xff\xff\xff not protobuf"
    elif case == "bad-json":
        body, content_type = b'{"resourceSpans": [', "application/json"
    elif case == "json-not-otlp":
        body, content_type = b'{"resourceSpans": [{"scopeSpans": {"spans": []}}]}', "application/json"
    elif case == "json-bad-id":
        body = _otlp_json(marker + rest, ids="hex").replace(b'"traceId": "', b'"traceId": "#!', 1)
        content_type = "application/json"
    elif case == "json-string-as-bool":
        body = _otlp_json(marker + rest, ids="hex").replace(
            b'"attributes": [', b'"attributes": [{"key": "b", "value": {"boolValue": "no"}}, ', 1
        )
        content_type = "application/json"
    elif case == "bad-gzip":
        body, headers = b"\x1f\x8b not really gzip", {"Content-Encoding": "gzip"}
    elif case == "wrong-type":
        content_type = "text/plain"
    elif case == "too-big":
        body = good + b"\0" * TEST_MAX_BODY
    elif case == "gzip-bomb":
        body, headers = _bomb(), {"Content-Encoding": "gzip"}
    response = api.post_traces(bearer, body, content_type, headers)
    assert response.status_code == expected, response.text
    # google.rpc.Status, in the request's encoding (JSON for a request that is neither).
    code, message = status_of(response)
    assert message and code in (3, 8, 16)
    assert response.headers["content-type"].startswith(
        "application/x-protobuf" if content_type == "application/x-protobuf" else "application/json"
    )
    assert api.sessions(token) == []


def test_projects_are_isolated(api: ApiClient, backend: BackendServer) -> None:
    a, b = create_project(backend.db), create_project(backend.db)
    token_a, token_b = api.token(a["api_key"]), api.token(b["api_key"])
    maker = SpanMaker()
    session_id, marker, rest = maker.session(children=[_llm(5, 5)], root_status=OK)
    assert api.post_traces(token_a, encode(marker + rest)).status_code == 200

    # B can neither read A's session ...
    assert api.session(token_b, session_id) is None
    assert api.get(f"/api/sessions/{session_id}", token_b).status_code == 404
    assert api.sessions(token_b) == []
    # ... nor write into it: B's spans claiming A's project and session land in B's project.
    _, _, intruder = maker.session(
        session_id=session_id,
        root_attrs={"agentops.project.id": a["project_id"]},
        children=[_llm(100, 100), ("bad", {"agentops.span.kind": "error"}, ERROR)],
    )
    assert api.post_traces(token_b, encode(intruder)).status_code == 200
    seen_by_a = api.session(token_a, session_id)
    assert seen_by_a is not None
    assert seen_by_a["total_tokens"] == 10 and seen_by_a["errors"] == 0 and seen_by_a["span_count"] == 2
    seen_by_b = api.session(token_b, session_id)
    assert seen_by_b is not None and seen_by_b["project_id"] == b["project_id"]
    assert seen_by_b["total_tokens"] == 200
    # The API key itself is accepted as a bearer for reads.
    assert [s["session_id"] for s in api.sessions(a["api_key"])] == [session_id]


def test_reading_needs_a_valid_bearer(api: ApiClient) -> None:
    assert api.get("/api/sessions", None).status_code == 401
    assert api.get("/api/sessions", "forged").status_code == 401
    assert api.get(f"/api/sessions/{uuid.uuid4()}", "forged").status_code == 401


def test_list_filters_and_order(api: ApiClient, project: dict[str, str]) -> None:
    token = api.token(project["api_key"])
    maker = SpanMaker()
    ids = []
    for i, (tags, status) in enumerate([(["a"], OK), (["a", "b"], ERROR), (["b"], None)]):
        sid, marker, rest = maker.session(tags=tags, root_status=status, children=[_llm(i, i)])
        assert api.post_traces(token, encode(marker + rest)).status_code == 200
        ids.append(sid)
    newest_first = list(reversed(ids))
    assert [s["session_id"] for s in api.sessions(token)] == newest_first
    assert [s["session_id"] for s in api.sessions(token, tag="a")] == [ids[1], ids[0]]
    assert [s["session_id"] for s in api.sessions(token, tag=["a", "b"])] == [ids[1]]
    assert [s["session_id"] for s in api.sessions(token, end_state="Fail")] == [ids[1]]
    assert [s["session_id"] for s in api.sessions(token, end_state="Indeterminate")] == [ids[2]]
    assert [s["session_id"] for s in api.sessions(token, limit=1, offset=1)] == [ids[1]]
    assert api.get("/api/sessions", token, params={"end_state": "Maybe"}).status_code == 400
    assert api.get("/api/sessions", token, params={"limit": "x"}).status_code == 400


def test_key_created_while_serving_is_accepted_at_once(api: ApiClient, backend: BackendServer) -> None:
    # The store is held open by the running server; the CLI writes a new key into it.
    created = create_project(backend.db)
    token = api.token(created["api_key"])
    assert api.sessions(token) == []


def test_busy_store_answers_503_with_retry_after(tmp_path: Any) -> None:
    """The app on a real uvicorn in a thread, over a store another process holds locked."""
    import sqlite3
    import threading

    import uvicorn

    from agentops_otel.backend.api import create_app
    from agentops_otel.store.sqlite import Store
    from backend_fixtures import free_port

    path = str(tmp_path / "busy.db")
    store = Store(path, busy_timeout=0.2)
    _, api_key, _ = store.create_project("p")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        client = ApiClient(f"http://127.0.0.1:{port}")
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)
        token = client.token(api_key)
        _, marker, rest = SpanMaker().session()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the file
        try:
            busy = client.post_traces(token, encode(marker + rest))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "1"
        assert client.sessions(token) == []
        assert client.post_traces(token, encode(marker + rest)).status_code == 200
        assert len(client.sessions(token)) == 1
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


# -- what is refused, and what alone (docs/backend.md, "What is refused") ------------------------------


def _with_poison(maker: SpanMaker, form: str) -> tuple[str, bytes, str, int]:
    """A session whose one tool span is in year 2300 (past int64 nanoseconds), as protobuf or JSON;
    ``(session_id, body, content type, spans sent)``."""
    session_id, marker, rest = maker.session(
        children=[_llm(2, 3), ("tool", {"agentops.span.kind": "tool"}, None)]
    )
    spans = marker + rest
    year_2300 = 10_413_792_000 * 10**9
    if form == "protobuf":
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        request = ExportTraceServiceRequest()
        request.ParseFromString(encode(spans))
        for span in request.resource_spans[0].scope_spans[0].spans:
            if span.name == "tool":
                span.start_time_unix_nano = span.end_time_unix_nano = year_2300
        return session_id, request.SerializeToString(), "application/x-protobuf", len(spans)
    doc = json.loads(_otlp_json(spans, ids="hex"))
    for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        if span["name"] == "tool":
            span["startTimeUnixNano"] = span["endTimeUnixNano"] = str(year_2300)
    return session_id, json.dumps(doc).encode(), "application/json", len(spans)


@pytest.mark.parametrize("form", ["protobuf", "json"])
def test_a_span_out_of_range_is_refused_alone(api: ApiClient, project: dict[str, str], form: str) -> None:
    """The poison span of the field tests: one span in year 2300 lost its whole session (500)."""
    token = api.token(project["api_key"])
    session_id, body, content_type, sent = _with_poison(SpanMaker(), form)
    response = api.post_traces(token, body, content_type)
    rejected, message = partial_success(response)
    assert rejected == 1 and "'tool'" in message and "2262" in message
    session = api.session(token, session_id)
    assert session is not None
    assert [s["name"] for s in session["spans"]] == ["agentops.session", "chat m"]
    assert session["llm_calls"] == 1 and session["total_tokens"] == 5 and session["tool_calls"] == 0
    # Sent again: nothing new, the same span refused again.
    again = api.post_traces(token, body, content_type)
    assert partial_success(again)[0] == 1
    assert api.session(token, session_id)["span_count"] == 2  # type: ignore[index]
    assert sent == 4


def test_invalid_ids_are_refused_alone_and_zero_parent_is_a_root(
    api: ApiClient, project: dict[str, str]
) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    token = api.token(project["api_key"])
    session_id, marker, rest = SpanMaker().session(children=[_llm(1, 1), _llm(1, 1), _llm(1, 1)])
    request = ExportTraceServiceRequest()
    request.ParseFromString(encode(marker + rest))
    spans = request.resource_spans[0].scope_spans[0].spans
    llms = [s for s in spans if s.name == "chat m"]
    llms[0].trace_id = bytes(16)  # all zero: invalid
    llms[1].span_id = b"\x01" * 7  # 7 bytes
    llms[2].parent_span_id = bytes(8)  # all zero parent: a root of its own
    response = api.post_traces(token, request.SerializeToString())
    rejected, message = partial_success(response)
    assert rejected == 2 and "trace id" in message and "span id" in message
    session = api.session(token, session_id)
    assert session is not None and session["llm_calls"] == 1
    llm = next(s for s in session["spans"] if s["name"] == "chat m")
    assert llm["parent_span_id"] is None


def test_a_sum_the_store_cannot_hold_refuses_only_the_span_that_overflows(
    api: ApiClient, project: dict[str, str]
) -> None:
    """Each value fits int64 but their sum does not: the store refuses that span alone, says why."""
    token = api.token(project["api_key"])
    huge = 2**62
    session_id, marker, rest = SpanMaker().session(children=[_llm(huge, 1), _llm(huge, 1), _llm(3, 1)])
    response = api.post_traces(token, encode(marker + rest))
    rejected, message = partial_success(response)
    assert rejected == 1 and "past 2^63 - 1" in message
    session = api.session(token, session_id)
    assert session is not None and session["llm_calls"] == 2
    assert session["prompt_tokens"] in (huge + 3,)


def test_gzip_with_several_members_is_read_whole(api: ApiClient, project: dict[str, str]) -> None:
    token = api.token(project["api_key"])
    maker = SpanMaker()
    session_id, marker, rest = maker.session(children=[_llm(1, 1), _llm(2, 2)])
    body = gzip.compress(encode(marker)) + gzip.compress(encode(rest[:1])) + gzip.compress(encode(rest[1:]))
    response = api.post_traces(token, body, headers={"Content-Encoding": "gzip"})
    assert partial_success(response) == (0, "")
    session = api.session(token, session_id)
    assert session is not None and session["span_count"] == 3 and session["total_tokens"] == 6
    garbage = api.post_traces(
        token, gzip.compress(encode(marker)) + b"junk", headers={"Content-Encoding": "gzip"}
    )
    assert garbage.status_code == 400


def test_otlp_json_types_as_the_specification_says(api: ApiClient, project: dict[str, str]) -> None:
    token = api.token(project["api_key"])
    session_id, marker, rest = SpanMaker().session(children=[("typed", {"x": 1}, None)])
    doc = json.loads(_otlp_json(marker + rest, ids="hex"))
    typed = next(s for s in doc["resourceSpans"][0]["scopeSpans"][0]["spans"] if s["name"] == "typed")
    typed["traceId"] = typed["traceId"].upper()  # hex is case-insensitive
    typed["attributes"] = [
        {"key": "session.id", "value": {"stringValue": session_id}},
        {"key": "bool_false", "value": {"boolValue": False}},
        {"key": "bool_false_text", "value": {"boolValue": "false"}},
        {"key": "int_text", "value": {"intValue": "-9223372036854775808"}},
        {"key": "int_number", "value": {"intValue": 42}},
        {"key": "double_nan", "value": {"doubleValue": "NaN"}},
        {"key": "bytes", "value": {"bytesValue": "AAEC"}},
        {"key": "empty", "value": {}},
        {
            "key": "map",
            "value": {
                "kvlistValue": {
                    "values": [{"key": "k", "value": {"arrayValue": {"values": [{"intValue": "7"}]}}}]
                }
            },
        },
        {"key": "unknown_field", "value": {"stringValue": "s", "someFutureField": 1}},
    ]
    assert api.post_traces(token, json.dumps(doc).encode(), "application/json").status_code == 200
    session = api.session(token, session_id)
    assert session is not None
    attributes = next(s for s in session["spans"] if s["name"] == "typed")["attributes"]
    assert attributes["bool_false"] is False and attributes["bool_false_text"] is False
    assert attributes["int_text"] == -(2**63) and attributes["int_number"] == 42
    assert attributes["double_nan"] == "nan" and attributes["bytes"] == "AAEC"
    assert attributes["empty"] is None and attributes["map"] == {"k": [7]}
    assert attributes["unknown_field"] == "s"
    for wrong in (
        {"intValue": str(2**63)},
        {"intValue": "1.5"},
        {"stringValue": 5},
        {"boolValue": 1},
        {"doubleValue": "fast"},
        {"bytesValue": "not base64!"},
        {"stringValue": "a", "intValue": "1"},
    ):
        typed["attributes"] = [{"key": "k", "value": wrong}]
        response = api.post_traces(token, json.dumps(doc).encode(), "application/json")
        assert response.status_code == 400, (wrong, response.text)
        assert status_of(response)[0] == 3
    for time_value in ("-5", "1e30", str(2**64), "12:00"):
        typed["attributes"] = []
        typed["startTimeUnixNano"] = time_value
        response = api.post_traces(token, json.dumps(doc).encode(), "application/json")
        assert response.status_code == 400, (time_value, response.text)


def test_nesting_beyond_the_limit_is_a_400(api: ApiClient, project: dict[str, str]) -> None:
    token = api.token(project["api_key"])
    session_id, marker, rest = SpanMaker().session()
    doc = json.loads(_otlp_json(marker + rest, ids="hex"))
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(100):  # 3 times the limit; deeper would be beyond json.dumps itself
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [{"key": "deep", "value": value}]
    response = api.post_traces(token, json.dumps(doc).encode(), "application/json")
    assert response.status_code == 400 and "nested" in status_of(response)[1]
    brackets = b'{"resourceSpans": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert api.post_traces(token, brackets, "application/json").status_code == 400
    assert api.session(token, session_id) is None


def test_rest_limits_are_4xx(api: ApiClient, project: dict[str, str]) -> None:
    token = api.token(project["api_key"])
    cases: list[tuple[Any, int]] = [
        ({"offset": "99999999999999999999"}, 400),
        ({"offset": "1000000000"}, 200),
        ({"offset": "-1"}, 400),
        ({"limit": "٣"}, 400),  # a digit, but not an ASCII one
        ({"limit": " 5"}, 400),
        ({"limit": "10001"}, 400),
        ([("tag", str(i)) for i in range(1200)], 400),
        ([("tag", str(i)) for i in range(50)], 200),
        ({"tag": "x" * 2000}, 400),
        ({"end_state": "success"}, 200),
    ]
    for params, expected in cases:
        response = api.get("/api/sessions", token, params=params)
        assert response.status_code == expected, (params, response.text)
        assert ("error" in response.json()) == (expected != 200)


@pytest.mark.parametrize("session_id", ["team/run 1?x=%2F", "line\nbreak", "/"])
def test_any_session_id_can_be_read(api: ApiClient, project: dict[str, str], session_id: str) -> None:
    token = api.token(project["api_key"])
    session_id, marker, rest = SpanMaker().session(session_id=session_id)
    assert api.post_traces(token, encode(marker + rest)).status_code == 200
    from urllib.parse import quote

    found = api.get("/api/sessions/" + quote(session_id, safe=""), token)
    assert found.status_code == 200 and found.json()["session_id"] == session_id


def test_unknown_routes_and_methods_answer_in_the_api_body(api: ApiClient, project: dict[str, str]) -> None:
    import requests

    missing = api.get("/api/nothing", project["api_key"])
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = requests.delete(api.url + "/api/sessions", timeout=10)
    assert wrong.status_code == 405 and wrong.headers["Allow"] and "error" in wrong.json()


def test_the_openapi_description_is_served_and_names_every_route(api: ApiClient) -> None:
    import requests

    from agentops_otel.backend import openapi

    document = requests.get(api.url + "/openapi.json", timeout=10).json()
    assert document == openapi.document()  # what the fuzz tests test against
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/v3/auth/token",
        "/v1/traces",
        "/api/sessions",
        "/api/sessions/{session_id}",
        "/api/sessions/{session_id}/spans/{span_id}",
        "/api/traces",
        "/api/traces/{trace_id}",
        "/api/overview",
    }
