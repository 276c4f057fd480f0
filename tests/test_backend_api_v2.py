"""The REST API additions (docs/backend.md, "REST API"): list filters, sorts and keyset pages, a session's
spans in pages with an ETag, one span, and the overview, through a real ``agentops-otel serve`` over HTTP
on each store (a SQLite file and a real PostgreSQL database).

The data set is sent as OTLP/JSON with chosen times, models, costs, tags and failures, so that every
answer can be checked against what was sent (and against the other routes' answers).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend_fixtures import BackendServer, create_project
from store_fixtures import postgres_or_skip

DAY = 86_400 * 10**9
HOUR = 3_600 * 10**9
#: Sessions start an hour apart from here: 2026-11-01T00:00:00Z.
T0 = int(dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc).timestamp()) * 10**9
N = 30
NEEDLE = "zebra-quartz-needle"
MODELS = ("gpt-4o-mini", "claude-3-5-haiku")


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


def _attrs(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in attributes.items()]


class Spans:
    """OTLP/JSON spans of one session (its trace id is the session id's hex, as the SDK makes them)."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.trace = uuid.UUID(session_id).hex
        self.spans: list[dict[str, Any]] = []
        self.next_id = 1

    def add(
        self,
        name: str,
        start: int,
        end: int,
        attributes: dict[str, Any],
        *,
        parent: str | None = "0000000000000001",
        error: str | None = None,
    ) -> str:
        span_id = f"{self.next_id:016x}"
        self.next_id += 1
        span: dict[str, Any] = {
            "traceId": self.trace,
            "spanId": span_id,
            "name": name,
            "kind": 1,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end),
            "attributes": _attrs({"session.id": self.session_id, **attributes}),
            "status": {"code": 1},
        }
        if parent:
            span["parentSpanId"] = parent
        if error:
            span["status"] = {"code": 2, "message": error}
            span["events"] = [
                {
                    "name": "exception",
                    "timeUnixNano": str(end),
                    "attributes": _attrs({"exception.type": "ValueError", "exception.message": error}),
                }
            ]
        self.spans.append(span)
        return span_id


def body(spans: list[dict[str, Any]]) -> bytes:
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs({"service.name": "api-v2-tests"})},
                "scopeSpans": [{"scope": {"name": "tests.v2", "version": "1"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(doc).encode()


def session_spans(i: int) -> Spans:
    """Session ``i`` of the data set: figures that differ from one session to the next."""
    session = Spans(str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)))
    start = T0 + i * HOUR
    fail = i % 7 == 0
    root_attrs: dict[str, Any] = {
        "agentops.span.kind": "session",
        "agentops.session.tags": ["all", f"m{i % 3}"] + (["solo"] if i == 4 else []),
        "agentops.session.name": ("Alpha job " if i % 5 == 1 else "job ") + str(i),
        "agentops.session.end_state": "Fail" if fail else "Success",
    }
    session.add("agentops.session", start, start + (i + 1) * 10**9, root_attrs, parent=None)
    model = MODELS[i % 2]
    for call in range(i % 4):
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": 10 * (i + 1),
            "gen_ai.usage.output_tokens": i + call,
        }
        if i % 5 != 0:
            attributes["agentops.usage.cost_usd"] = 0.001 * (i % 5)
        if i == 9 and call == 0:
            attributes["gen_ai.input.messages"] = json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": f"say {NEEDLE} " + "x" * 3000}]}]
            )
        session.add(f"chat {model}", start + (call + 1) * 10**6, start + (call + 2) * 10**6, attributes)
    session.add("search", start + 9 * 10**6, start + 10 * 10**6, {"gen_ai.operation.name": "execute_tool"})
    if i % 6 == 0:
        session.add(
            "lookup",
            start + 11 * 10**6,
            start + 12 * 10**6,
            {"gen_ai.operation.name": "execute_tool"},
            error="no such row",
        )
    return session


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
        return requests.get(
            self.url + path, params=params, headers={**self.headers, **(headers or {})}, timeout=30
        )

    def ok(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, spans: list[dict[str, Any]]) -> None:
        response = requests.post(
            self.url + "/v1/traces",
            data=body(spans),
            headers={**self.headers, "Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200 and not response.json().get("partialSuccess"), response.text

    def everything(self, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.ok("/api/sessions", limit=10_000, **params)["sessions"]
        return found


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def v2(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A backend on each store, with one project holding the data set (sessions sent in two batches,
    the second half of each session's spans after the first, as a live SDK sends them)."""
    if request.param == "sqlite":
        db = str(Path(tmp_path_factory.mktemp("v2")) / "store.db")
    else:
        db = postgres_or_skip().new_database()
    project = create_project(db)
    server = BackendServer(db).start()
    try:
        token = requests.post(
            server.url + "/v3/auth/token", json={"api_key": project["api_key"]}, timeout=10
        ).json()["token"]
        api = Api(server.url, token)
        everything = [session_spans(i).spans for i in range(N)]
        api.post([s for spans in everything for s in spans[len(spans) // 2 :]])
        api.post([s for spans in everything for s in spans[: len(spans) // 2]])
        yield api
    finally:
        server.stop()


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the list --------------------------------------------------------------------------------------------


def test_the_data_set_is_listed_with_the_new_fields(v2: Api) -> None:
    answer = v2.ok("/api/sessions", limit=5)
    assert answer["total"] == N and len(answer["sessions"]) == 5 and answer["next_cursor"]
    by_name = {s["name"]: s for s in v2.everything()}
    assert len(by_name) == N
    priced, unpriced = by_name["job 3"], by_name["job 10"]
    assert priced["models"] == [MODELS[1]] and priced["llm_calls"] == 3 and priced["unpriced_llm_calls"] == 0
    assert unpriced["models"] == [MODELS[0]] and unpriced["unpriced_llm_calls"] == 2
    assert by_name["job 0"]["errors"] == 1 and by_name["job 0"]["end_state"] == "Fail"  # one failure, once
    assert by_name["job 7"]["errors"] == 1  # Fail with no failed span: the failure that ended it
    assert by_name["job 5"]["errors"] == 0 and by_name["job 2"]["tool_calls"] == 1


SORT_FIELDS = {
    "start_time": "start_time",
    "end_time": "end_time",
    "duration_s": "duration_s",
    "name": "name",
    "span_count": "span_count",
    "llm_calls": "llm_calls",
    "tool_calls": "tool_calls",
    "errors": "errors",
    "total_tokens": "total_tokens",
    "cost_usd": "cost_usd",
}


@pytest.mark.parametrize("key", sorted(SORT_FIELDS))
def test_every_sort_orders_by_its_field_then_by_id(v2: Api, key: str) -> None:
    for sort in (key, f"-{key}"):
        listed = v2.everything(sort=sort)
        field = SORT_FIELDS[key]
        pairs = [(s[field], s["session_id"]) for s in listed]
        assert pairs == sorted(pairs, reverse=sort.startswith("-")), sort
        assert len(listed) == N


def test_the_default_order_is_newest_first(v2: Api) -> None:
    starts = [s["start_time"] for s in v2.everything()]
    assert starts == sorted(starts, reverse=True) and starts[0] == _iso(T0 + (N - 1) * HOUR)[:-1] + ".000000Z"


def _walk(v2: Api, limit: int, **params: Any) -> tuple[list[str], set[int]]:
    ids: list[str] = []
    totals = set()
    cursor = None
    for _ in range(N + 2):
        page = v2.ok("/api/sessions", limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        ids += [s["session_id"] for s in page["sessions"]]
        totals.add(page["total"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids, totals
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sort": "name"},
        {"sort": "-cost_usd"},
        {"sort": "errors"},
        {"sort": "-total_tokens", "tag": "all"},
        {"tag": "m1"},
        {"tag": ["all", "m2"], "sort": "start_time"},
        {"model": MODELS[0], "sort": "-duration_s"},
        {"end_state": "Success", "sort": "end_time"},
    ],
)
def test_cursor_pages_equal_offset_pages(v2: Api, params: dict[str, Any]) -> None:
    full = [s["session_id"] for s in v2.everything(**params)]
    by_cursor, totals = _walk(v2, 4, **params)
    by_offset = []
    for offset in range(0, len(full) + 4, 4):
        by_offset += [
            s["session_id"] for s in v2.ok("/api/sessions", limit=4, offset=offset, **params)["sessions"]
        ]
    assert by_cursor == by_offset == full and len(set(full)) == len(full) > 0
    assert totals == {len(full)}


def test_a_cursor_is_checked(v2: Api) -> None:
    cursor = v2.ok("/api/sessions", limit=2)["next_cursor"]
    for params, words in (
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": cursor, "sort": "name"}, "sort"),
        ({"cursor": cursor, "offset": 3}, "not both"),
        ({"sort": "price"}, "sort must be one of"),
        ({"since": "yesterday"}, "since"),
        ({"min_cost": "cheap"}, "min_cost"),
        ({"min_errors": "-1"}, "min_errors"),
        ({"limit": "10001"}, "limit"),
    ):
        response = v2.get("/api/sessions", **params)
        assert response.status_code == 400, (params, response.text)
        assert words in response.json()["error"], (params, response.text)


def test_q_matches_id_prefix_name_tag_and_content(v2: Api) -> None:
    listed = v2.everything(sort="start_time")
    target = listed[12]["session_id"]
    prefix = target.replace("-", "")[:10].upper()
    assert [s["session_id"] for s in v2.everything(q=prefix)] == [target]
    assert [s["session_id"] for s in v2.everything(q=target[:13])] == [target]  # with its dash
    alpha = sorted(s["name"] for s in v2.everything(q="alpha JOB"))
    assert alpha == sorted(f"Alpha job {i}" for i in range(N) if i % 5 == 1)
    assert [s["name"] for s in v2.everything(q="SOLO")] == ["job 4"]
    assert [s["name"] for s in v2.everything(q=NEEDLE.upper())] == ["job 9"]  # in a prompt
    assert v2.ok("/api/sessions", q="no-such-thing-anywhere")["total"] == 0
    # Combined with other filters, all must hold.
    assert v2.everything(q=NEEDLE, tag="m1") == []


def test_since_and_until_bound_the_start_time(v2: Api) -> None:
    since, until = T0 + 5 * HOUR, T0 + 9 * HOUR
    by_iso = v2.everything(since=_iso(since), until=_iso(until))
    by_epoch = v2.everything(since=str(since // 10**9), until=str(until // 10**9))
    names = sorted(s["name"] for s in by_iso)
    assert by_iso == by_epoch
    assert names == sorted(s["name"] for s in v2.everything() if s["name"].endswith((" 5", " 6", " 7", " 8")))
    assert len(by_iso) == 4  # since inclusive, until exclusive
    assert len(v2.everything(since="2026-11-01T05:00:00+00:00")) == N - 5


def test_model_cost_and_error_filters(v2: Api) -> None:
    listed = v2.everything()
    for model in MODELS:
        expected = {s["session_id"] for s in listed if model in s["models"]}
        assert {s["session_id"] for s in v2.everything(model=model)} == expected and expected
    assert v2.everything(model="gpt-5-nonexistent") == []
    cases = [
        ({"min_cost": "0.004"}, lambda s: s["cost_usd"] >= 0.004),
        ({"max_cost": "0.002"}, lambda s: s["cost_usd"] <= 0.002),
        ({"min_cost": "0.001", "max_cost": "0.006"}, lambda s: 0.001 <= s["cost_usd"] <= 0.006),
        ({"min_errors": "1"}, lambda s: s["errors"] >= 1),
        ({"min_errors": "1", "model": MODELS[0]}, lambda s: s["errors"] >= 1 and MODELS[0] in s["models"]),
    ]
    for params, keep in cases:
        expected_ids = {s["session_id"] for s in listed if keep(s)}
        found = v2.everything(**params)
        assert {s["session_id"] for s in found} == expected_ids, params
        assert 0 < len(found) < N, params


# -- one session, its spans in pages, one span ------------------------------------------------------------


def _named(v2: Api, name: str) -> dict[str, Any]:
    [found] = [s for s in v2.everything() if s["name"] == name]
    return found


def test_spans_in_pages_equal_all_spans(v2: Api) -> None:
    session_id = _named(v2, "job 18")["session_id"]
    full = v2.ok(f"/api/sessions/{session_id}")
    assert "spans_next_cursor" not in full
    order = [s["span_id"] for s in full["spans"]]
    assert len(order) == full["span_count"] == 5
    paged: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"spans_limit": 2, **({"spans_cursor": cursor} if cursor else {})}
        page = v2.ok(f"/api/sessions/{session_id}", **params)
        assert {k: page[k] for k in ("session_id", "span_count", "errors", "cost_usd")} == {
            k: full[k] for k in ("session_id", "span_count", "errors", "cost_usd")
        }
        assert len(page["spans"]) <= 2
        paged += [s["span_id"] for s in page["spans"]]
        for span in page["spans"]:
            assert str(span["resource_id"]) in page["resources"]
            assert page["resources"][str(span["resource_id"])] == {"service.name": "api-v2-tests"}
        cursor = page["spans_next_cursor"]
        if cursor is None:
            break
    assert paged == order
    bad = v2.get(f"/api/sessions/{session_id}", spans_cursor="x")
    assert bad.status_code == 400 and "spans_limit" in bad.json()["error"]
    too_many = v2.get(f"/api/sessions/{session_id}", spans_limit=10_001)
    assert too_many.status_code == 400


def test_the_compact_form_leaves_large_values_to_the_span_route(v2: Api) -> None:
    session_id = _named(v2, "job 9")["session_id"]
    full = v2.ok(f"/api/sessions/{session_id}")
    [with_prompt] = [s for s in full["spans"] if "gen_ai.input.messages" in s["attributes"]]
    assert NEEDLE in with_prompt["attributes"]["gen_ai.input.messages"]
    page = v2.ok(f"/api/sessions/{session_id}", spans_limit=100)
    [compact] = [s for s in page["spans"] if s["span_id"] == with_prompt["span_id"]]
    assert "gen_ai.input.messages" not in compact["attributes"]
    assert compact["attributes_omitted"] == ["gen_ai.input.messages"]
    one = v2.ok(f"/api/sessions/{session_id}/spans/{with_prompt['span_id']}")
    assert one == with_prompt
    assert one["scope"] == {"name": "tests.v2", "version": "1"} or one["scope"]["name"] == "tests.v2"
    assert one["resource"] == {"service.name": "api-v2-tests"}


def test_the_span_route(v2: Api) -> None:
    session = v2.ok(f"/api/sessions/{_named(v2, 'job 12')['session_id']}")
    for span in session["spans"]:
        assert v2.ok(f"/api/sessions/{session['session_id']}/spans/{span['span_id'].upper()}") == span
    [failed] = [s for s in session["spans"] if s["name"] == "lookup"]
    assert failed["status"] == "ERROR" and failed["events"][0]["name"] == "exception"
    for path in (
        f"/api/sessions/{session['session_id']}/spans/00000000000000ff",
        f"/api/sessions/{session['session_id']}/spans/nothex",
        f"/api/sessions/{uuid.uuid4()}/spans/0000000000000001",
    ):
        response = v2.get(path)
        assert response.status_code == 404 and "no span" in response.json()["error"]


def test_etag_answers_304_until_a_late_span_arrives(v2: Api) -> None:
    i = 17
    session_id = _named(v2, f"job {i}")["session_id"]
    path = f"/api/sessions/{session_id}"
    first = v2.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"')
    again = v2.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert v2.get(path, headers={"If-None-Match": '"other", ' + etag}).status_code == 304
    paged = v2.get(path, spans_limit=2)
    assert paged.headers["ETag"] != etag  # another page, another answer
    assert v2.get(path, headers={"If-None-Match": paged.headers["ETag"]}, spans_limit=2).status_code == 304
    late = Spans(session_id)
    late.next_id = 100
    start = T0 + i * HOUR + 50 * 10**6
    late.add("late tool", start, start + 10**6, {"gen_ai.operation.name": "execute_tool"})
    v2.post(late.spans)
    changed = v2.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["tool_calls"] == first.json()["tool_calls"] + 1
    assert v2.get(f"/api/sessions/{uuid.uuid4()}", headers={"If-None-Match": etag}).status_code == 404


# -- the overview ------------------------------------------------------------------------------------------


def _sum(sessions: list[dict[str, Any]], field: str) -> Any:
    return sum(s[field] for s in sessions)


@pytest.mark.parametrize("tags", [[], ["m1"], ["all", "m0"]])
def test_overview_totals_equal_the_sum_of_the_sessions(v2: Api, tags: list[str]) -> None:
    since, until = _iso(T0 + 3 * HOUR), _iso(T0 + 27 * HOUR)
    params: dict[str, Any] = {"since": since, "until": until, "tag": tags}
    listed = v2.everything(**params)
    overview = v2.ok("/api/overview", **params)
    assert overview["bucket"] == "hour" and overview["since"].startswith(since[:-1])
    # The shape the dashboard is built against (/work/notes/api_v2.md), exactly, with the unpriced
    # calls of the totals and of each tag (schema 0005).
    assert set(overview) == {"since", "until", "bucket", "totals", "series", "by_model", "by_tag"}
    assert set(overview["totals"]) == {"sessions", "failed", "fail_rate", "llm_calls", "tool_calls",
                                       "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "errors",
                                       "unpriced_llm_calls"}  # fmt: skip
    assert {frozenset(b) for b in overview["series"]} == {
        frozenset({"start", "sessions", "failed", "llm_calls", "total_tokens", "cost_usd", "errors"})
    }
    assert {frozenset(m) for m in overview["by_model"]} == {
        frozenset(
            {"model", "llm_calls", "prompt_tokens", "completion_tokens", "cost_usd", "unpriced_llm_calls"}
        )
    }
    assert {frozenset(t) for t in overview["by_tag"]} == {
        frozenset(
            {"tag", "sessions", "failed", "cost_usd", "total_tokens", "llm_calls", "unpriced_llm_calls"}
        )
    }
    totals = overview["totals"]
    assert totals["sessions"] == len(listed) > 0
    assert totals["failed"] == sum(1 for s in listed if s["end_state"] == "Fail")
    figures = ("llm_calls", "tool_calls", "prompt_tokens", "completion_tokens", "total_tokens", "errors")
    for field in (*figures, "unpriced_llm_calls"):
        assert totals[field] == _sum(listed, field), field
    assert totals["unpriced_llm_calls"] > 0  # sessions 0, 5, 10, ... have calls with no cost
    assert totals["cost_usd"] == pytest.approx(_sum(listed, "cost_usd"))
    assert totals["fail_rate"] == pytest.approx(totals["failed"] / totals["sessions"], abs=1e-6)
    series = overview["series"]
    assert len(series) == 24 and series[0]["start"].startswith(since[:-1])
    for field in ("sessions", "failed", "llm_calls", "total_tokens", "errors"):
        assert sum(b[field] for b in series) == totals[field], field
    by_model = {m["model"]: m for m in overview["by_model"]}
    for model in MODELS:
        with_model = [s for s in listed if model in s["models"]]
        if not with_model:
            continue
        assert by_model[model]["llm_calls"] == _sum(with_model, "llm_calls")
        assert by_model[model]["unpriced_llm_calls"] == _sum(with_model, "unpriced_llm_calls")
        assert by_model[model]["cost_usd"] == pytest.approx(_sum(with_model, "cost_usd"))
    assert sum(m["llm_calls"] for m in overview["by_model"]) == totals["llm_calls"]
    by_tag = {t["tag"]: t for t in overview["by_tag"]}
    for tag in ("all", "m0", "m1", "m2"):
        with_tag = [s for s in listed if tag in s["tags"]]
        if with_tag:
            assert by_tag[tag]["sessions"] == len(with_tag)
            assert by_tag[tag]["cost_usd"] == pytest.approx(_sum(with_tag, "cost_usd"))
            assert by_tag[tag]["failed"] == sum(s["end_state"] == "Fail" for s in with_tag)
            for field in ("total_tokens", "llm_calls", "unpriced_llm_calls"):
                assert by_tag[tag][field] == _sum(with_tag, field), (tag, field)
        else:
            assert tag not in by_tag


def test_overview_by_day_and_its_limits(v2: Api) -> None:
    overview = v2.ok("/api/overview", since=_iso(T0 - DAY), until=_iso(T0 + 3 * DAY))
    assert overview["bucket"] == "day" and len(overview["series"]) == 4
    assert [b["sessions"] for b in overview["series"]] == [0, 24, N - 24, 0]
    assert overview["totals"]["sessions"] == N
    # The default range is the last 7 days: the data set is older.
    assert v2.ok("/api/overview")["totals"]["sessions"] == 0
    for params, words in (
        ({"bucket": "week"}, "bucket"),
        ({"since": _iso(T0), "until": _iso(T0 - HOUR)}, "before"),
        ({"since": "1970-01-01T00:00:00Z", "until": _iso(T0), "bucket": "hour"}, "buckets"),
    ):
        response = v2.get("/api/overview", **params)
        assert response.status_code == 400 and words in response.json()["error"], response.text


def test_the_new_routes_need_a_token(v2: Api) -> None:
    for path in ("/api/overview", f"/api/sessions/{uuid.uuid4()}/spans/0000000000000001"):
        response = v2.get(path, headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401, path


# -- a bad span costs only itself, on each store ----------------------------------------------------------


def test_a_bad_span_is_refused_alone_on_each_store(v2: Api) -> None:
    """Values a store cannot keep, in one batch with good spans: each bad span is refused alone (with its
    reason in ``partialSuccess``), the text a column cannot hold is cleaned, the rest is stored."""
    session = Spans(str(uuid.uuid4()))
    start = T0 + 40 * DAY
    long_tag = "t" * 3000  # past what a PostgreSQL index entry holds
    session.add(
        "agentops.session",
        start,
        start + 10**9,
        {"agentops.span.kind": "session", "agentops.session.tags": ["ok", long_tag, "nul\x00tag"]},
        parent=None,
    )
    llm = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "m\x00odel",
        "gen_ai.usage.output_tokens": 1,
    }
    session.add("chat one", start + 1, start + 2, {**llm, "gen_ai.usage.input_tokens": 2**62})
    session.add("chat two", start + 3, start + 4, {**llm, "gen_ai.usage.input_tokens": 2**62})  # sum > int64
    session.add("late", 10_413_792_000 * 10**9, 10_413_792_000 * 10**9 + 1, {})  # year 2300
    session.add("named \x00 with NUL", start + 5, start + 6, {"gen_ai.operation.name": "execute_tool"})
    far = Spans(str(uuid.uuid4()))
    far.add("far", start, start + 1, {"session.id": "s" * 2000}, parent=None)
    response = requests.post(
        v2.url + "/v1/traces",
        data=body(session.spans + far.spans),
        headers={**v2.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 3, partial
    for words in ("'chat two'", "2^63 - 1", "'late'", "2262", "'far'", "1024 bytes"):
        assert words in partial["errorMessage"], (words, partial)
    stored = v2.ok(f"/api/sessions/{session.session_id}")
    assert sorted(s["name"] for s in stored["spans"]) == [
        "agentops.session",
        "chat one",
        "named \x00 with NUL",
    ]
    assert stored["llm_calls"] == 1 and stored["prompt_tokens"] == 2**62 and stored["tool_calls"] == 1
    assert stored["tags"] == ["ok", long_tag, "nul\x00tag"]
    assert [s["session_id"] for s in v2.everything(tag="ok", since=_iso(start))] == [session.session_id]
    assert [s["session_id"] for s in v2.everything(tag="nul\ufffdtag", since=_iso(start))] == [
        session.session_id
    ]
    assert v2.everything(model="m\ufffdodel", since=_iso(start))[0]["session_id"] == session.session_id
