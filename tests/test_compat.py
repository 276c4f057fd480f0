"""Code written for the agentops SDK, run with ``import agentops_otel as agentops``: the session handle,
end states, tags while running, metadata, traces and init options (in-process, the user's provider)."""

from __future__ import annotations

import enum
import json
import logging
import pickle
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import agentops_otel as agentops
from agentops_otel._internal import compat_session
from agentops_otel._internal.client import get_client, reset_client
from core_helpers import UserSetup


@pytest.fixture(autouse=True)
def fresh_options() -> Iterator[None]:
    level = logging.getLogger("agentops_otel").level
    yield
    compat_session.reset_options()
    logging.getLogger("agentops_otel").setLevel(level)


def start(user: UserSetup, **kwargs: Any) -> Any:
    return agentops.init(tracer_provider=user.provider, instrument_llm_calls=False, **kwargs)


def attributes(span: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()}


# -- the handle init() and start_session() return ------------------------------------------------------


def test_init_returns_the_session_id_as_a_str_with_the_session_methods(user: UserSetup) -> None:
    session = start(user, tags=["canary"])
    assert isinstance(session, str) and session == agentops.current_session_id()
    assert uuid.UUID(session).version == 4
    assert json.dumps({"id": session}) == json.dumps({"id": str(session)})
    assert pickle.loads(pickle.dumps(session)) == session
    assert type(session.session_id) is str and session.session_id == session
    assert session.is_running and session.tags == ["canary"]

    session.record(agentops.ToolEvent(name="search", params={"q": "sails"}))
    session.add_tags(["retried"])
    session.end_session("Failure", end_state_reason="the search failed")

    root = user.one("agentops.session")
    assert root.attributes["agentops.session.end_state"] == "Fail"
    assert root.attributes["agentops.session.end_state_reason"] == "the search failed"
    assert attributes(root)["agentops.session.tags"] == ["canary", "retried"]
    assert user.one("execute_tool search").attributes["session.id"] == session
    assert not session.is_running


def test_a_handle_never_ends_another_session(user: UserSetup, caplog: pytest.LogCaptureFixture) -> None:
    first = start(user)
    first.end_session("Success")
    second = agentops.start_session(tags=["second"])
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        first.end_session("Fail")  # the first session's handle: already ended
        first.record(agentops.ActionEvent(action_type="late"))
    assert "not active" in caplog.text
    assert agentops.current_session_id() == second
    agentops.end_session(second)  # agentops 0.4's end_session(session)
    states = [s.attributes["agentops.session.end_state"] for s in user.named("agentops.session")]
    assert states == ["Success", "Success"]
    assert user.named("late") == []


def test_a_second_concurrent_session_is_refused_with_none_and_a_warning_saying_what_to_do(
    user: UserSetup, caplog: pytest.LogCaptureFixture
) -> None:
    s1 = start(user, auto_start_session=False) or agentops.start_session()
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        s2 = agentops.start_session()
        assert s2 is None  # SPEC.md section 2
    assert "end it first (end_session())" in caplog.text
    assert "its own process" in caplog.text
    assert agentops.current_session_id() == s1  # untouched
    s1.end_session()
    assert len(user.named("agentops.session")) == 1


class AgentOps03EndState(enum.Enum):  # agentops 0.3's EndState
    SUCCESS = "Success"
    FAIL = "Fail"
    INDETERMINATE = "Indeterminate"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Failure", "Fail"),
        ("fail", "Fail"),
        (agentops.EndState.FAIL, "Fail"),
        (agentops.TraceState.ERROR, "Fail"),
        (agentops.ERROR, "Fail"),
        (StatusCode.ERROR, "Fail"),
        (AgentOps03EndState.FAIL, "Fail"),
        ("Succeeded", "Success"),
        (StatusCode.OK, "Success"),
        (agentops.SUCCESS, "Success"),
        ("Unknown", "Indeterminate"),
        (agentops.UNSET, "Indeterminate"),
    ],
)
def test_end_state_spellings_of_agentops(user: UserSetup, given: Any, stored: str) -> None:
    start(user)
    agentops.end_session(given)
    root = user.one("agentops.session")
    assert root.attributes["agentops.session.end_state"] == stored
    expected = {"Success": StatusCode.OK, "Fail": StatusCode.ERROR, "Indeterminate": StatusCode.UNSET}
    assert root.status.status_code is expected[stored]


def test_a_truly_unknown_end_state_is_still_a_value_error(user: UserSetup) -> None:
    session = start(user)
    with pytest.raises(ValueError, match="Failure"):
        agentops.end_session("Done")
    assert session.is_running
    agentops.end_session()


def test_end_session_with_is_auto_end_is_skipped_when_asked(user: UserSetup) -> None:
    session = start(user, skip_auto_end_session=True)
    agentops.end_session("Success", is_auto_end=True)  # CrewAI ending the run for you
    assert session.is_running
    agentops.end_session("Fail", "my own decision")
    assert user.one("agentops.session").attributes["agentops.session.end_state"] == "Fail"


# -- tags and metadata while the session runs ----------------------------------------------------------


def test_tags_added_and_set_while_running_reach_the_root_and_a_new_start_marker(user: UserSetup) -> None:
    ours = InMemorySpanExporter()  # start markers go to our export path only, never the user's
    start(user, tags=["a"], exporter=ours)
    agentops.add_tags(["b", "a"])
    agentops.add_tags("c")
    agentops.set_tags(["final", "run"])
    agentops.end_session()
    root = user.one("agentops.session")
    assert attributes(root)["agentops.session.tags"] == ["final", "run"]
    assert user.named("agentops.session.start") == []
    assert agentops.get_client().flush(5.0)
    started = [s for s in ours.get_finished_spans() if s.name == "agentops.session.start"]
    markers = [attributes(s)["agentops.session.tags"] for s in started]
    assert markers[-1] == ["final", "run"]
    assert ["a", "b", "c"] in markers  # each change told the backend at once


def test_tags_without_a_session_warn(user: UserSetup, caplog: pytest.LogCaptureFixture) -> None:
    start(user, auto_start_session=False)
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        agentops.add_tags(["x"])
        agentops.set_tags(["y"])
    assert caplog.text.count("no active session") == 2


def test_update_trace_metadata_sets_root_attributes_and_tags(user: UserSetup) -> None:
    assert start(user, auto_start_session=False) is None
    assert agentops.update_trace_metadata({"stage": "x"}) is False  # no session
    agentops.start_session(tags=["startup"])
    ok = agentops.update_trace_metadata(
        {"operation_name": "gpt-4o-mini", "retries": 2, "models": ["a", "b"], "tags": ["processing"]}
    )
    assert ok
    agentops.end_session()
    root = attributes(user.one("agentops.session"))
    assert root["trace.metadata.operation_name"] == "gpt-4o-mini"
    assert root["trace.metadata.retries"] == 2
    assert root["trace.metadata.models"] == ["a", "b"]
    assert root["agentops.session.tags"] == ["processing"]


# -- start_trace / end_trace -----------------------------------------------------------------------


def test_start_trace_starts_a_session_and_end_trace_ends_it(user: UserSetup) -> None:
    start(user, auto_start_session=False)
    handle = agentops.start_trace("customer-service", tags=["query"])
    assert handle is not None and handle.is_session
    assert handle.span.is_recording()
    agentops.end_trace(handle, "Success")
    root = user.one("customer-service.session")
    assert root.attributes["agentops.session.end_state"] == "Success"
    assert attributes(root)["agentops.session.tags"] == ["query"]


def test_start_trace_inside_a_session_is_a_span_of_it(user: UserSetup) -> None:
    sid = start(user)
    inner = agentops.start_trace("step")
    agentops.record(agentops.ToolEvent(name="lookup"))
    agentops.end_trace(inner, agentops.TraceState.ERROR)
    assert agentops.current_session_id() == sid  # the session goes on
    agentops.end_trace(end_state="Emergency_Shutdown")  # free-form: Indeterminate, naming it
    root, step, tool = user.one("agentops.session"), user.one("step"), user.one("execute_tool lookup")
    assert step.parent is not None and step.parent.span_id == root.context.span_id
    assert tool.parent is not None and tool.parent.span_id == step.context.span_id
    assert step.status.status_code is StatusCode.ERROR
    assert root.attributes["agentops.session.end_state"] == "Indeterminate"
    assert "Emergency_Shutdown" in root.attributes["agentops.session.end_state_reason"]


def test_start_trace_as_a_context_manager_ends_fail_on_an_exception(user: UserSetup) -> None:
    start(user, auto_start_session=False)
    with pytest.raises(KeyError), agentops.start_trace("risky"):
        raise KeyError("missing")
    root = user.one("risky.session")
    assert root.attributes["agentops.session.end_state"] == "Fail"
    assert "KeyError" in root.attributes["agentops.session.end_state_reason"]


# -- sessions by id, end_all_sessions, configure ----------------------------------------------------


def test_get_session_and_end_all_sessions(user: UserSetup, caplog: pytest.LogCaptureFixture) -> None:
    sid = start(user)
    found = agentops.get_session(sid)
    assert found == sid and found is not None and found.is_running
    assert agentops.get_session() == sid
    other = str(uuid.uuid4())
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        stale = agentops.get_session(other)
        assert stale == other and stale is not None and not stale.is_running
        stale.end_session("Fail")  # a warning; the active session is untouched
    assert "no such active session" in caplog.text and "not active" in caplog.text
    assert agentops.current_session_id() == sid
    agentops.end_all_sessions()
    assert agentops.current_session_id() is None
    assert user.one("agentops.session").attributes["agentops.session.end_state"] == "Indeterminate"


def test_configure_before_init_is_applied_by_init(user: UserSetup) -> None:
    agentops.configure(default_tags=["configured"], trace_name="nightly")
    start(user, tags=["given"])
    agentops.end_session()
    root = user.one("nightly.session")
    assert attributes(root)["agentops.session.tags"] == ["given", "configured"]


# -- init options ------------------------------------------------------------------------------------


def test_agentops_init_options_are_mapped_or_noted_never_unknown(
    user: UserSetup, caplog: pytest.LogCaptureFixture
) -> None:
    extra = InMemorySpanExporter()
    with caplog.at_level(logging.INFO, logger="agentops_otel"):
        session = start(
            user,
            default_tags=["canary"],
            tags=["legacy"],
            trace_name="research",
            max_wait_time=500,
            max_queue_size=256,
            skip_auto_end_session=True,
            log_level="DEBUG",
            fail_safe=True,
            auto_init=False,
            env_data_opt_out=True,
            prefetch_jwt_token=True,
            log_session_replay_url=False,
            app_url="https://app.example.test",
            parent_key="org-key",
            processor=SimpleSpanProcessor(extra),
        )
        assert logging.getLogger("agentops_otel").level == logging.DEBUG
    assert "unknown option" not in caplog.text
    for noted in ("fail_safe", "auto_init", "prefetch_jwt_token", "log_session_replay_url", "parent_key"):
        assert noted in caplog.text
    config = get_client().config
    assert config.schedule_delay == 0.5 and config.max_queue_size == 256 and config.env_data_opt_out
    agentops.end_session("Success", is_auto_end=True)
    assert session.is_running  # skip_auto_end_session
    agentops.end_session()
    root = user.one("research.session")
    assert attributes(root)["agentops.session.tags"] == ["legacy", "canary"]
    assert not any(k.startswith("host.") for k in attributes(root))
    assert "research.session" in [s.name for s in extra.get_finished_spans()]


def test_agentops_environment_variables_are_read(user: UserSetup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOPS_TRACE_NAME", "from-env")
    monkeypatch.setenv("AGENTOPS_EXPORT_FLUSH_INTERVAL", "250")
    start(user)
    assert get_client().config.schedule_delay == 0.25
    agentops.end_session()
    assert user.one("from-env.session")


def test_small_helpers_of_agentops_03(user: UserSetup, caplog: pytest.LogCaptureFixture) -> None:
    start(user, api_key="0f5e8c1a-4b7e-4c1e-9a55-1d2f3e4a5b6c", exporter=InMemorySpanExporter())
    assert agentops.get_api_key() == "0f5e8c1a-4b7e-4c1e-9a55-1d2f3e4a5b6c"
    assert agentops.create_agent("researcher", agent_id="a1") == "a1"
    with caplog.at_level(logging.INFO, logger="agentops_otel"):
        agentops.set_parent_key("org")
        agentops.set_api_key("another")  # after init: settings stay
    assert "no organisation keys" in caplog.text and "settings stay in force" in caplog.text
    agentops.stop_instrumenting()
    agentops.end_session()


# -- figures while running: get_analytics, tags at the backend ------------------------------------------


def test_get_analytics_reads_the_figures_back_from_the_local_store(user: UserSetup) -> None:
    session = start(user)  # no endpoint: the local store
    session.record(agentops.LLMEvent(model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500))
    session.record(agentops.ToolEvent(name="search"))
    session.record(agentops.ErrorEvent(error_type="Timeout", details="slow"))
    figures = session.get_analytics(timeout=5)
    assert figures is not None
    assert (figures["LLM calls"], figures["Tool calls"], figures["Errors"], figures["Tokens"]) == (
        1,
        1,
        1,
        1500,
    )
    assert float(figures["Cost"]) > 0 and figures["Duration"].endswith("s")
    assert session.session_url is None  # the local store: `agentops-otel serve` shows it
    session.end_session()


def test_tags_set_while_running_reach_the_backend_at_once(
    backend: Any, api: Any, project: dict[str, str]
) -> None:
    session = agentops.init(
        api_key=project["api_key"], endpoint=backend.url, tags=["before"], instrument_llm_calls=False
    )
    try:
        agentops.set_tags(["during", "run"])
        assert get_client().flush(5)
        running = api.session(api.token(project["api_key"]), session)
        assert running is not None and running["end_time"] is None  # still running
        assert running["tags"] == ["during", "run"]
        assert session.session_url == f"{backend.url}/#/sessions/{session}"
        assert session.get_analytics(timeout=5) is not None  # over the REST API
    finally:
        agentops.end_session()
        get_client().flush(5)
        reset_client()
