"""record() with ActionEvent, ToolEvent, LLMEvent and ErrorEvent: one child span each, own timestamps."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from agentops_otel import semconv
from agentops_otel._internal.decorators import agent
from agentops_otel._internal.events import (
    ActionEvent,
    ErrorEvent,
    LLMEvent,
    ToolEvent,
    record,
    to_ns,
)
from agentops_otel.pricing import cost_usd
from span_fixtures import Recorded

pytestmark = pytest.mark.usefixtures("default_config")


def test_each_event_is_a_child_span_of_the_current_span_in_the_session(rec: Recorded) -> None:
    with rec.session() as sid:
        record(ActionEvent("click", params={"x": 1}))
        record(ToolEvent(name="search"))
        record(LLMEvent(model="gpt-4o", prompt_tokens=10, completion_tokens=5))
        record(ErrorEvent(details="went wrong"))
    root = rec.one("agentops.session")
    names = {"click", "execute_tool search", "chat gpt-4o", "error"}
    for name in names:
        span = rec.one(name)
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert span.context.trace_id == root.context.trace_id
        assert (span.attributes or {})[semconv.SESSION_ID] == sid
    kinds = {name: (rec.one(name).attributes or {})[semconv.SPAN_KIND] for name in names}
    assert kinds == {
        "click": semconv.KIND_ACTION,
        "execute_tool search": semconv.KIND_TOOL,
        "chat gpt-4o": semconv.KIND_LLM,
        "error": semconv.KIND_ERROR,
    }


def test_llm_event_attributes_and_cost(rec: Recorded) -> None:
    record(LLMEvent(model="gpt-4o", prompt="secret prompt", completion="secret answer", prompt_tokens=1000,
                    completion_tokens=500))  # fmt: skip
    span = rec.one("chat gpt-4o")
    a = span.attributes or {}
    assert span.kind == SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "gpt-4o"
    assert a["gen_ai.usage.input_tokens"] == 1000
    assert a["gen_ai.usage.output_tokens"] == 500
    expected = cost_usd("gpt-4o", 1000, 500)
    assert expected is not None and a[semconv.COST_USD] == pytest.approx(expected)
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a


def test_llm_event_unknown_model_has_no_cost_and_explicit_cost_wins(rec: Recorded) -> None:
    record(LLMEvent(model="my-own-model-xyz", prompt_tokens=3, completion_tokens=4))
    record(LLMEvent(model="gpt-4o", prompt_tokens=3, completion_tokens=4, cost=1.25))
    assert semconv.COST_USD not in (rec.one("chat my-own-model-xyz").attributes or {})
    assert (rec.one("chat gpt-4o").attributes or {})[semconv.COST_USD] == 1.25


def test_llm_event_content_with_capture_on(rec: Recorded, capture_on: None) -> None:
    prompt = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    record(LLMEvent(model="m", prompt=prompt, completion="hello"))
    a = rec.one("chat m").attributes or {}
    assert json.loads(str(a["gen_ai.input.messages"])) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    assert json.loads(str(a["gen_ai.output.messages"])) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}
    ]


def test_tool_and_action_content_only_with_capture(rec: Recorded, capture_on: None) -> None:
    record(ToolEvent("calc", params={"a": 1}, returns=2))
    record(ActionEvent(action_type="save", params=["f.txt"], returns=True))
    tool = rec.one("execute_tool calc").attributes or {}
    assert json.loads(str(tool["gen_ai.tool.call.arguments"])) == {"a": 1}
    assert json.loads(str(tool["gen_ai.tool.call.result"])) == 2
    act = rec.one("save").attributes or {}
    assert json.loads(str(act["agentops.entity.input"])) == ["f.txt"]
    assert act["agentops.action.type"] == "save"


def test_tool_content_absent_by_default(rec: Recorded) -> None:
    record(ToolEvent("calc", params={"password": "hunter2"}, returns="hunter2"))
    a = rec.one("execute_tool calc").attributes or {}
    assert all("hunter2" not in str(v) for v in a.values())


def test_error_event_with_exception_has_type_message_and_traceback(rec: Recorded) -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        caught = exc
    trigger = ToolEvent(name="lookup")
    record(ErrorEvent(exception=caught, trigger_event=trigger, code="E42"))
    span = rec.one("error KeyError")
    a = span.attributes or {}
    assert span.status.status_code == StatusCode.ERROR
    assert a["error.type"] == "KeyError"
    assert a[semconv.SPAN_KIND] == semconv.KIND_ERROR
    assert a["agentops.error.code"] == "E42"
    assert a["agentops.error.trigger.kind"] == semconv.KIND_TOOL
    assert a["agentops.error.trigger.name"] == "lookup"
    event = next(e for e in span.events if e.name == "exception")
    ea = event.attributes or {}
    assert ea["exception.type"] == "KeyError"
    assert "'missing'" in str(ea["exception.message"])
    assert '{}["missing"]' in str(ea["exception.stacktrace"])


def test_error_event_without_exception(rec: Recorded) -> None:
    record(ErrorEvent(error_type="RateLimited", details="slow down"))
    span = rec.one("error RateLimited")
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "slow down"
    assert (span.attributes or {})["agentops.error.details"] == "slow down"


def test_timestamps_from_the_event(rec: Recorded) -> None:
    start = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    end = start + timedelta(seconds=2)
    record(ActionEvent("dated", init_timestamp=start, end_timestamp=end))
    record(ActionEvent("epoch", init_timestamp=start.timestamp(), end_timestamp=end.timestamp()))
    record(ActionEvent("iso", init_timestamp="2024-05-01T12:00:00Z", end_timestamp="2024-05-01T12:00:02Z"))
    expected_start = int(start.timestamp()) * 10**9
    for name in ("dated", "epoch", "iso"):
        span = rec.one(name)
        assert span.start_time == expected_start, name
        assert span.end_time == expected_start + 2 * 10**9, name


def test_default_start_is_creation_and_end_is_record_time(rec: Recorded) -> None:
    event = ActionEvent("timed")
    before_record = event._created_ns
    record(event)
    span = rec.one("timed")
    assert span.start_time == before_record
    assert span.end_time is not None and span.end_time >= span.start_time


def test_to_ns_reads_units() -> None:
    seconds = 1_700_000_000
    assert to_ns(seconds) == seconds * 10**9
    assert to_ns(seconds * 1000) == seconds * 10**9
    assert to_ns(seconds * 10**6) == seconds * 10**9
    assert to_ns(seconds * 10**9) == seconds * 10**9
    assert to_ns("not a time") is None
    assert to_ns(None) is None


def test_record_never_raises(rec: Recorded) -> None:
    record("not an event")  # type: ignore[arg-type]
    record(None)  # type: ignore[arg-type]
    record(LLMEvent(model="m", prompt_tokens="many"))  # type: ignore[arg-type]
    record(ActionEvent("bad time", init_timestamp=object()))  # type: ignore[arg-type]
    names = [s.name for s in rec.spans()]
    assert names == ["chat m", "bad time"]
    assert "gen_ai.usage.input_tokens" not in (rec.one("chat m").attributes or {})


def test_event_inside_an_agent_carries_the_agent(rec: Recorded) -> None:
    @agent(name="recorder")
    def recorder() -> None:
        record(ToolEvent("inside"))

    recorder()
    a = rec.one("execute_tool inside").attributes or {}
    assert a[semconv.AGENT_NAME] == "recorder"
    assert a[semconv.AGENT_ID] == (rec.one("invoke_agent recorder").attributes or {})[semconv.AGENT_ID]


def test_events_join_the_active_session_without_a_current_span(rec: Recorded) -> None:
    from agentops_otel import _runtime

    sid = str(uuid.uuid4())
    _runtime.set_session_id(sid)
    try:
        record(ErrorEvent(details="late"))
    finally:
        _runtime.set_session_id(None)
    span = rec.one("error")
    assert format(span.context.trace_id, "032x") == uuid.UUID(sid).hex


def test_fields_keyword_usable_and_agentops_extras() -> None:
    e = LLMEvent(model="m", prompt="p", completion="c", prompt_tokens=1, completion_tokens=2, thread_id="t")
    assert (e.model, e.prompt_tokens, e.thread_id) == ("m", 1, "t")
    a = ActionEvent(action_type="x", params=1, returns=2, logs="l", screenshot="s", agent_id="a")
    assert (a.action_type, a.returns, a.agent_id) == ("x", 2, "a")
    err = ErrorEvent(exception=None, error_type="T", details="d", trigger_event=a, code="c", logs="l")
    assert err.trigger_event is a
