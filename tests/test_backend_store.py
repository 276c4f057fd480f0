"""The SQLite store on its own: session figures folded at ingest equal those rebuilt from the spans."""

from __future__ import annotations

from pathlib import Path

from agentops_otel.store.records import SpanRecord, from_readable_spans
from agentops_otel.store.sqlite import Store, iso_time
from backend_fixtures import ERROR, OK, SpanMaker

LLM = (
    "chat",
    {"agentops.span.kind": "llm", "gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 1},
    None,
)


def test_incremental_figures_equal_rebuilt_figures(tmp_path: Path) -> None:
    maker = SpanMaker()
    sid, marker, rest = maker.session(
        children=[LLM, LLM, ("t", {"agentops.span.kind": "tool"}, ERROR)], root_status=OK
    )
    records = from_readable_spans(marker + rest)
    with Store(str(tmp_path / "a.db")) as one, Store(str(tmp_path / "b.db")) as other:
        p1, p2 = one.ensure_project(), other.ensure_project()
        # One span per batch (incremental fold) ...
        for record in records:
            assert one.ingest(p1, [record]) == 1
        # ... versus a batch holding every span twice (duplicates: rebuilt from the stored spans).
        assert other.ingest(p2, records + records) == len(records)
        a, b = one.get_session(sid, p1), other.get_session(sid, p2)
        assert a is not None and b is not None
        for session in (a, b):
            session.pop("project_id")
        assert a == b
        assert a["span_count"] == 4 and a["errors"] == 1 and a["total_tokens"] == 10
        assert (
            one.list_sessions(p1)[0] == {**one.get_session(sid, p1, with_spans=False), "project_id": p1} | {}
        )


def test_sql_and_python_times_agree(tmp_path: Path) -> None:
    with Store(str(tmp_path / "t.db")) as store:
        project = store.ensure_project()
        for start in (1, 999, 1_700_000_000_123_456_789, 4_102_444_800_000_000_001):
            record = SpanRecord(
                f"{start:032x}"[-32:], "00000000000000aa", None, "x.session", start, start + 5
            )
            store.ingest(project, [record])
            listed = store.list_sessions(project, limit=1000)
            assert iso_time(start) in {s["start_time"] for s in listed}


def test_session_without_session_id_uses_the_trace_id(tmp_path: Path) -> None:
    record = SpanRecord("0123456789abcdef0123456789abcdef", "0000000000000001", None, "job", 10, 20)
    with Store(str(tmp_path / "u.db")) as store:
        project = store.ensure_project()
        store.ingest(project, [record])
        [session] = store.list_sessions(project)
        assert session["session_id"] == "01234567-89ab-cdef-0123-456789abcdef"
        assert session["end_state"] == "Indeterminate" and session["end_time"] is not None
