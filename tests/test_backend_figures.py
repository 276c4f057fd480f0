"""Session figures as the backend computes them from spans made by a real SDK TracerProvider and sent
by our exporter to a real ``agentops-otel serve``."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Status, StatusCode

from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter
from agentops_otel._internal.exporters.base import Outcome
from backend_fixtures import ERROR, OK, ApiClient, BackendServer, SpanMaker


def _exporter(backend: BackendServer, project: dict[str, str]) -> AgentOpsSpanExporter:
    return AgentOpsSpanExporter(project["api_key"], api_url=backend.url, timeout=10)


def _iso(ns: int | None) -> str:
    assert ns is not None
    return (
        dt.datetime.fromtimestamp(ns // 1000 / 1e6, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    )


CHILDREN: list[tuple[str, dict[str, Any], Status | None]] = [
    (
        "chat gpt-4o",
        {
            "agentops.span.kind": "llm",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
            "agentops.usage.cost_usd": 0.25,
        },
        None,
    ),
    (
        "chat claude",
        {
            "agentops.span.kind": "llm",
            "gen_ai.usage.input_tokens": 7,
            "gen_ai.usage.output_tokens": 3,
            "agentops.usage.cost_usd": 0.5,
        },
        ERROR,  # an LLM call that failed: counts as an LLM call and as an error
    ),
    ("search", {"agentops.span.kind": "tool"}, None),
    ("plan", {"agentops.span.kind": "action"}, None),
    ("ValueError", {"agentops.span.kind": "error"}, ERROR),  # error kind AND error status: once
    ("helper", {"agentops.span.kind": "agent"}, None),
    ("GET", {}, None),  # a span from someone else's instrumentation
]


def test_session_figures(api: ApiClient, backend: BackendServer, project: dict[str, str]) -> None:
    token = api.token(project["api_key"])
    exporter = _exporter(backend, project)
    maker = SpanMaker()
    session_id, marker, rest = maker.session(
        tags=["prod", "v2"],
        root_attrs={
            "agentops.session.end_state": "Fail",
            "agentops.session.end_state_reason": "tool broke",
            "agentops.session.video": "file:///v.mp4",
        },
        root_status=ERROR,
        children=CHILDREN,
    )

    # The marker alone: the session shows at once, running and Indeterminate, with tags and host.
    assert exporter.deliver(marker, 10).outcome is Outcome.DELIVERED
    early = api.session(token, session_id)
    assert early is not None
    assert early["end_state"] == "Indeterminate" and early["end_time"] is None
    assert early["span_count"] == 0 and early["spans"] == []
    assert early["tags"] == ["prod", "v2"]
    assert early["host_env"]["host.name"] == "box" and early["host_env"]["cpu.count"] == 2
    assert early["start_time"] == _iso(marker[0].start_time)
    assert [s["session_id"] for s in api.sessions(token)] == [session_id]

    assert exporter.deliver(rest, 10).outcome is Outcome.DELIVERED
    session = api.session(token, session_id)
    assert session is not None
    root = rest[-1]
    assert session["name"] == "agentops"
    assert session["span_count"] == len(CHILDREN) + 1
    assert (session["llm_calls"], session["tool_calls"], session["actions"]) == (2, 1, 1)
    assert session["errors"] == 2  # the failed LLM call and the error span; never the root
    assert (session["prompt_tokens"], session["completion_tokens"], session["total_tokens"]) == (17, 8, 25)
    assert abs(session["cost_usd"] - 0.75) < 1e-9
    assert session["end_state"] == "Fail" and session["end_state_reason"] == "tool broke"
    assert session["video"] == "file:///v.mp4"
    assert session["tags"] == ["prod", "v2"]
    assert session["host_env"]["os.type"] == "linux"
    assert session["end_time"] == _iso(root.end_time)
    first_start = min(s.start_time or 0 for s in marker + rest)
    last_end = max(s.end_time or 0 for s in marker + rest)
    assert abs(session["duration_s"] - (last_end - first_start) / 1e9) < 1e-5
    assert len(session["spans"]) == len(CHILDREN) + 1
    assert len({s["span_id"] for s in session["spans"]}) == len(session["spans"])
    assert all(s["kind"] != "session.start" for s in session["spans"])

    # A re-sent batch (e.g. after a lost answer) is stored once and counted once.
    assert exporter.deliver(marker + rest, 10).outcome is Outcome.DELIVERED
    again = api.session(token, session_id)
    assert again is not None
    assert {k: v for k, v in again.items() if k != "spans"} == {
        k: v for k, v in session.items() if k != "spans"
    }
    assert len(again["spans"]) == len(session["spans"])
    exporter.shutdown()


def _root_only(maker: SpanMaker, **kwargs: Any) -> tuple[str, list[ReadableSpan]]:
    session_id, marker, rest = maker.session(**kwargs)
    return session_id, marker + rest


def test_end_state_from_root_status(api: ApiClient, backend: BackendServer, project: dict[str, str]) -> None:
    token = api.token(project["api_key"])
    exporter = _exporter(backend, project)
    maker = SpanMaker()
    cases = {
        "ok": (_root_only(maker, root_status=OK), "Success", None),
        "error": (_root_only(maker, root_status=Status(StatusCode.ERROR, "crashed")), "Fail", "crashed"),
        "unset": (_root_only(maker), "Indeterminate", None),
        "attr wins": (
            _root_only(maker, root_status=OK, root_attrs={"agentops.session.end_state": "Indeterminate"}),
            "Indeterminate",
            None,
        ),
    }
    for (session_id, spans), state, reason in cases.values():
        assert exporter.deliver(spans, 10).outcome is Outcome.DELIVERED
        session = api.session(token, session_id)
        assert session is not None
        assert (session["end_state"], session["end_state_reason"]) == (state, reason)
    exporter.shutdown()


_OTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
    from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter

    url, key, session_id, trace_id, root_id = sys.argv[1:6]
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    parent = NonRecordingSpan(
        SpanContext(int(trace_id, 16), int(root_id, 16), is_remote=True, trace_flags=TraceFlags(1))
    )
    ctx = trace.set_span_in_context(parent)
    tracer = provider.get_tracer("worker")
    for i in range(3):
        attrs = {"session.id": session_id, "agentops.span.kind": "tool"}
        with tracer.start_as_current_span(f"worker tool {i}", context=ctx, attributes=attrs):
            pass
    exporter = AgentOpsSpanExporter(key, api_url=url, timeout=10)
    print(exporter.deliver(memory.get_finished_spans(), 10).outcome.value)
    """
)


def test_spans_from_another_process_join_the_session(
    api: ApiClient, backend: BackendServer, project: dict[str, str]
) -> None:
    token = api.token(project["api_key"])
    exporter = _exporter(backend, project)
    maker = SpanMaker()
    session_id, _marker, rest = maker.session(children=CHILDREN[:1], root_status=OK)
    root = rest[-1]
    assert exporter.deliver(rest, 10).outcome is Outcome.DELIVERED
    worker = subprocess.run(
        [
            sys.executable,
            "-c",
            _OTHER_PROCESS,
            backend.url,
            project["api_key"],
            session_id,
            format(root.context.trace_id, "032x"),
            format(root.context.span_id, "016x"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.stdout.strip() == "delivered", worker.stderr
    session = api.session(token, session_id)
    assert session is not None
    assert session["span_count"] == 5 and session["tool_calls"] == 3 and session["llm_calls"] == 1
    assert session["end_state"] == "Success"
    worker_spans = [s for s in session["spans"] if s["name"].startswith("worker")]
    assert {s["parent_span_id"] for s in worker_spans} == {format(root.context.span_id, "016x")}
    exporter.shutdown()


def test_a_failed_call_with_no_tokens_is_not_unpriced(
    api: ApiClient, backend: BackendServer, project: dict[str, str]
) -> None:
    """A provider's error answer (no usage, nothing billed) has nothing to price; a call that used
    tokens, or succeeded without saying how many, and has no cost is unpriced."""
    token = api.token(project["api_key"])
    exporter = _exporter(backend, project)
    llm = {"agentops.span.kind": "llm", "gen_ai.request.model": "gpt-4o-mini"}
    children: list[tuple[str, dict[str, Any], Status | None]] = [
        ("chat refused", {**llm, "error.type": "openai.InternalServerError"}, ERROR),
        ("chat no usage", dict(llm), None),
        (
            "chat unknown model",
            {**llm, "gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 1},
            ERROR,
        ),
        ("chat priced", {**llm, "gen_ai.usage.input_tokens": 4, "agentops.usage.cost_usd": 0.01}, None),
    ]
    session_id, marker, rest = SpanMaker().session(children=children, root_status=OK)
    assert exporter.deliver(marker + rest, 10).outcome is Outcome.DELIVERED
    [listed] = [s for s in api.sessions(token) if s["session_id"] == session_id]
    assert listed["llm_calls"] == 4 and listed["errors"] == 2
    assert listed["unpriced_llm_calls"] == 2  # "no usage" and "unknown model", not "refused"
    exporter.shutdown()
