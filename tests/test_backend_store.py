"""The store on its own, the same tests on SQLite and on a real PostgreSQL server: figures folded at ingest
equal those rebuilt from the spans, a batch sent twice is stored once, reads and filters agree."""

from __future__ import annotations

import uuid

from agentops_otel.store.base import BaseStore
from agentops_otel.store.records import SpanRecord, from_readable_spans
from agentops_otel.store.sqlite import iso_time
from backend_fixtures import ERROR, OK, SpanMaker

LLM = (
    "chat",
    {"agentops.span.kind": "llm", "gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 1},
    None,
)


def test_incremental_figures_equal_rebuilt_figures(any_store: BaseStore) -> None:
    maker = SpanMaker()
    sid, marker, rest = maker.session(
        children=[LLM, LLM, ("t", {"agentops.span.kind": "tool"}, ERROR)], root_status=OK
    )
    records = from_readable_spans(marker + rest)
    p1, p2 = any_store.ensure_project("one"), any_store.ensure_project("two")
    # One span per batch (incremental fold) ...
    for record in records:
        assert any_store.ingest(p1, [record]) == 1
    # ... versus a batch holding every span twice (duplicates: rebuilt from the stored spans).
    assert any_store.ingest(p2, records + records) == len(records)
    a, b = any_store.get_session(sid, p1), any_store.get_session(sid, p2)
    assert a is not None and b is not None
    for session in (a, b):
        session.pop("project_id")
    assert a == b
    assert a["span_count"] == 4 and a["errors"] == 1 and a["total_tokens"] == 10
    assert a["end_state"] == "Success" and a["tags"] == ["t1", "t2"] and a["host_env"]["host.name"] == "box"
    assert [s["name"] for s in a["spans"]] == ["agentops.session", "chat", "chat", "t"]  # by start; no marker
    assert any_store.list_sessions(p1)[0] == {**any_store.get_session(sid, p1, with_spans=False)}


def test_a_batch_sent_twice_is_stored_once(any_store: BaseStore) -> None:
    project = any_store.ensure_project()
    sid, marker, rest = SpanMaker().session(children=[LLM, LLM], root_status=OK)
    records = from_readable_spans(marker + rest)
    assert any_store.ingest(project, records) == 4
    before = any_store.get_session(sid, project)
    assert any_store.ingest(project, records) == 0
    assert any_store.count_spans(project) == 4
    assert any_store.get_session(sid, project) == before


def test_sql_and_python_times_agree(any_store: BaseStore) -> None:
    project = any_store.ensure_project()
    for start in (1, 999, 1_700_000_000_123_456_789, 4_102_444_800_000_000_001):
        trace = f"{start:032x}"[-32:]
        attributes = {"session.id": str(uuid.UUID(hex=trace))}
        record = SpanRecord(
            trace, "00000000000000aa", None, "x.session", start, start + 5, "OK", "", attributes
        )
        any_store.ingest(project, [record])
        listed = any_store.list_sessions(project, limit=1000)
        assert iso_time(start) in {s["start_time"] for s in listed}
        [span] = any_store.get_session(attributes["session.id"], project)["spans"]  # type: ignore[index]
        assert span["start_time"] == iso_time(start) and span["end_time"] == iso_time(start + 5)


def test_spans_of_a_session_found_by_their_trace_id(any_store: BaseStore) -> None:
    """A span without session.id belongs to the session whose id is its trace id (a service without the
    SDK in the session's trace), whichever arrives first."""
    session_id = "01234567-89ab-cdef-0123-456789abcdef"
    trace = session_id.replace("-", "")
    project = any_store.ensure_project()
    service = SpanRecord(trace, "0000000000000002", "0000000000000001", "GET /x", 12, 18)
    any_store.ingest(project, [service])
    assert any_store.list_sessions(project) == []  # a trace, so far
    root = SpanRecord(trace, "0000000000000001", None, "agentops.session", 10, 20, "OK", "",
                      {"session.id": session_id, "agentops.span.kind": "session"})  # fmt: skip
    any_store.ingest(project, [root])
    [session] = any_store.list_sessions(project)
    assert session["session_id"] == session_id and session["span_count"] == 2
    assert session["end_state"] == "Success" and session["end_time"] is not None


def test_filters_order_and_paging(any_store: BaseStore) -> None:
    project = any_store.ensure_project()
    maker = SpanMaker()
    ids = []
    for i in range(6):
        tags = ("even",) if i % 2 == 0 else ("odd", 'x "y" ü')
        sid, marker, rest = maker.session(tags=tags, root_status=OK if i % 3 else ERROR)
        any_store.ingest(project, from_readable_spans(marker + rest))
        ids.append(sid)
    newest_first = list(reversed(ids))
    assert [s["session_id"] for s in any_store.list_sessions(project)] == newest_first
    assert [s["session_id"] for s in any_store.list_sessions(project, limit=2, offset=1)] == newest_first[1:3]
    assert {s["session_id"] for s in any_store.list_sessions(project, tags=["even"])} == set(ids[0::2])
    assert {s["session_id"] for s in any_store.list_sessions(project, tags=["odd", 'x "y" ü'])} == set(
        ids[1::2]
    )
    assert any_store.list_sessions(project, tags=['x "y"']) == []  # whole tags only
    assert any_store.list_sessions(project, tags=["odd", "even"]) == []
    failed = {s["session_id"] for s in any_store.list_sessions(project, end_state="Fail")}
    assert failed == {ids[0], ids[3]}
    assert any_store.list_sessions(project, offset=10**30) == []  # clamped, not an error
    assert any_store.list_sessions("another-project") == []
    body = any_store.list_sessions_json(project, limit=1)
    assert body.startswith(b'{"sessions":[{') and newest_first[0].encode() in body


def test_strange_strings_are_stored_the_same_way(any_store: BaseStore) -> None:
    project = any_store.ensure_project()
    attributes = {
        "session.id": "nul\x00 \ud800 id",
        "k": "v\x00w",
        "nested": '{"a": 1}',
        "quote": "'; DROP TABLE spans; --",
    }
    record = SpanRecord(
        "0123456789abcdef0123456789abcdef",
        "0000000000000001",
        None,
        "nul\x00name ünï 😀",
        10,
        20,
        "ERROR",
        "bad\x00thing",
        attributes,
    )
    any_store.ingest(project, [record])
    # Text a column cannot hold (NUL, a lone surrogate) is replaced there; the spans keep it as it was,
    # but for lone surrogates, which no UTF-8 text holds.
    [listed] = any_store.list_sessions(project)
    assert listed["session_id"] == "nul\ufffd ? id" and listed["name"] == "nul\ufffdname ünï 😀"
    [span] = any_store.get_session(listed["session_id"], project)["spans"]  # type: ignore[index]
    assert span["name"] == "nul\x00name ünï 😀" and span["status_message"] == "bad\x00thing"
    assert span["attributes"] == {**attributes, "session.id": "nul\x00 ? id"}


def test_find_sessions_by_a_prefix_of_their_id(any_store: BaseStore) -> None:
    project = any_store.ensure_project()
    maker = SpanMaker()
    sids = []
    for _ in range(3):
        sid, marker, rest = maker.session(root_status=OK)
        any_store.ingest(project, from_readable_spans(marker + rest))
        sids.append(sid)
    target = sids[1]
    assert [s["session_id"] for s in any_store.find_sessions(target[:8].upper(), project)] == [target]
    hex_id = target.replace("-", "")
    assert [s["session_id"] for s in any_store.find_sessions(hex_id[:20])] == [target]  # dashes ignored
    assert [s["session_id"] for s in any_store.find_sessions(target[:14], project)] == [target]  # with a dash
    assert any_store.find_sessions("%") == [] and any_store.find_sessions("_") == []  # no wildcards
    assert any_store.find_sessions("  ") == []
    assert len(any_store.find_sessions("", project)) == 0
    assert any_store.find_sessions(target[:8], "another-project") == []
    assert "spans" not in any_store.find_sessions(target)[0]
