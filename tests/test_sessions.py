"""Sessions as a user sees them, in a tracing setup the user already has (SPEC.md sections 2-4)."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest
from opentelemetry import baggage, propagate
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import agentops_otel
from agentops_otel import EndState
from agentops_otel._internal.context import rejected_inbound
from core_helpers import UserSetup

_OURS: dict[int, InMemorySpanExporter] = {}


def start(user: UserSetup, **kwargs: object) -> str:
    ours = _OURS[id(user)] = InMemorySpanExporter()
    sid = agentops_otel.init(
        tracer_provider=user.provider, exporter=ours, instrument_llm_calls=False, **kwargs
    )
    if kwargs.get("auto_start_session", True) and "inherited_session_id" not in kwargs:
        assert sid is not None
    return sid or ""


def test_session_root_ids_follow_the_session_uuid(user: UserSetup) -> None:
    sid = start(user)
    assert uuid.UUID(sid).version == 4
    assert agentops_otel.current_session_id() == sid
    agentops_otel.end_session()

    root = user.one("agentops.session")
    assert format(root.context.trace_id, "032x") == uuid.UUID(sid).hex
    assert root.context.span_id == int.from_bytes(uuid.UUID(sid).bytes[8:], "big")
    assert root.parent is None
    assert root.attributes["agentops.span.kind"] == "session"
    assert root.attributes["session.id"] == sid
    assert agentops_otel.current_session_id() is None


def test_user_spans_carry_the_session_and_are_children_of_the_root(user: UserSetup) -> None:
    sid = start(user)
    with user.tracer.start_as_current_span("plan"), user.tracer.start_as_current_span("step"):
        pass
    agentops_otel.end_session()

    root = user.one("agentops.session")
    plan, step = user.one("plan"), user.one("step")
    assert plan.attributes["session.id"] == sid and step.attributes["session.id"] == sid
    assert plan.parent is not None and plan.parent.span_id == root.context.span_id
    assert step.parent is not None and step.parent.span_id == plan.context.span_id
    assert {s.context.trace_id for s in (root, plan, step)} == {root.context.trace_id}


def test_spans_after_the_session_ended_carry_no_session(user: UserSetup) -> None:
    start(user)
    agentops_otel.end_session()
    with user.tracer.start_as_current_span("later"):
        pass
    later = user.one("later")
    assert "session.id" not in later.attributes
    assert later.parent is None


@pytest.mark.parametrize(
    ("state", "status", "value"),
    [
        ("Success", StatusCode.OK, "Success"),
        (EndState.SUCCESS, StatusCode.OK, "Success"),
        ("Fail", StatusCode.ERROR, "Fail"),
        (EndState.FAIL, StatusCode.ERROR, "Fail"),
        ("Indeterminate", StatusCode.UNSET, "Indeterminate"),
        (EndState.INDETERMINATE, StatusCode.UNSET, "Indeterminate"),
    ],
)
def test_end_states_set_attribute_and_status(
    user: UserSetup, state: str | EndState, status: StatusCode, value: str
) -> None:
    start(user)
    agentops_otel.end_session(state, end_state_reason="because", video="https://video.test/1.mp4")
    root = user.one("agentops.session")
    assert root.attributes["agentops.session.end_state"] == value
    assert root.attributes["agentops.session.end_state_reason"] == "because"
    assert root.attributes["agentops.session.video"] == "https://video.test/1.mp4"
    assert root.status.status_code is status
    if status is StatusCode.ERROR:
        assert root.status.description == "because"


def test_unknown_end_state_is_a_clear_value_error(user: UserSetup) -> None:
    start(user)
    with pytest.raises(ValueError, match=r"Success.*Fail.*Indeterminate"):
        agentops_otel.end_session("Done")
    assert agentops_otel.current_session_id() is not None  # nothing changed
    agentops_otel.end_session()


def test_end_state_is_a_str_enum() -> None:
    assert isinstance(EndState.FAIL, str)
    assert EndState.FAIL == "Fail"
    assert EndState("Indeterminate") is EndState.INDETERMINATE


def test_only_one_session_at_a_time(user: UserSetup, caplog: pytest.LogCaptureFixture) -> None:
    sid = start(user)
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        refused = agentops_otel.start_session()
    assert refused is None
    assert "already active" in caplog.text
    assert agentops_otel.current_session_id() == sid
    agentops_otel.end_session()
    second = agentops_otel.start_session(tags=["again"])
    assert second is not None and second != sid
    agentops_otel.end_session()
    assert len(user.named("agentops.session")) == 2


def test_end_session_without_a_session_warns(user: UserSetup, caplog: pytest.LogCaptureFixture) -> None:
    start(user, auto_start_session=False)
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        agentops_otel.end_session()
    assert "no active session" in caplog.text


def test_init_twice_is_harmless(user: UserSetup) -> None:
    sid = start(user)
    assert start(user) == sid  # the active session, not a new one
    with user.tracer.start_as_current_span("once"):
        pass
    agentops_otel.end_session()
    assert len(user.named("agentops.session")) == 1
    assert len(user.named("once")) == 1


def test_auto_start_session_false_starts_nothing(user: UserSetup) -> None:
    assert agentops_otel.init(tracer_provider=user.provider, auto_start_session=False) is None
    assert agentops_otel.current_session_id() is None
    sid = agentops_otel.start_session(tags=["manual"], name="research")
    agentops_otel.end_session()
    root = user.one("research.session")
    assert root.attributes["session.id"] == sid
    assert list(root.attributes["agentops.session.tags"]) == ["manual"]


def test_tags_from_init_session_and_config_are_merged(user: UserSetup) -> None:
    start(user, tags=["alpha", "beta"], auto_start_session=False)
    agentops_otel.start_session(tags=["beta", "gamma"])
    agentops_otel.end_session()
    root = user.one("agentops.session")
    assert list(root.attributes["agentops.session.tags"]) == ["alpha", "beta", "gamma"]


def test_host_environment_on_root_and_marker(user: UserSetup) -> None:
    start(user)
    agentops_otel.end_session()
    root = user.one("agentops.session")
    # The marker is ours: our exporter gets it, the user's own exporter does not.
    assert agentops_otel.get_client().flush(5.0)
    assert user.named("agentops.session.start") == []
    (marker,) = [s for s in _OURS[id(user)].get_finished_spans() if s.name == "agentops.session.start"]
    assert marker.attributes["session.id"] == root.attributes["session.id"]
    assert marker.resource == root.resource  # the user's resource
    for span in (root, marker):
        assert span.attributes["host.name"]
        assert span.attributes["os.type"]
        assert span.attributes["process.runtime.name"]
        assert span.attributes["host.cpu.count"] >= 1
        assert span.attributes["host.memory.total"] > 0
    assert marker.context.span_id != root.context.span_id
    assert marker.parent is not None and marker.parent.span_id == root.context.span_id
    assert marker.attributes["agentops.span.kind"] == "session.start"


def test_env_data_opt_out(user: UserSetup) -> None:
    start(user, env_data_opt_out=True)
    agentops_otel.end_session()
    assert "host.name" not in user.one("agentops.session").attributes
    assert agentops_otel.get_client().flush(5.0)
    markers = [s for s in _OURS[id(user)].get_finished_spans() if s.name == "agentops.session.start"]
    assert len(markers) == 1  # the marker still tells the backend


def test_spans_in_unhanded_threads_still_carry_the_session(user: UserSetup) -> None:
    sid = start(user, propagate_context_to_threads=False)
    # A context that knows nothing (as a thread started by a C library would have).
    token = otel_context.attach(otel_context.Context())
    try:
        thread = threading.Thread(target=lambda: user.tracer.start_span("bare").end())
        thread.start()
        thread.join()
    finally:
        otel_context.detach(token)
    agentops_otel.end_session()
    assert user.one("bare").attributes["session.id"] == sid


def test_session_travels_in_baggage(user: UserSetup) -> None:
    sid = start(user)
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    agentops_otel.end_session()
    assert f"session.id={sid}" in carrier["baggage"]
    assert carrier["traceparent"].split("-")[1] == uuid.UUID(sid).hex


def test_inbound_session_accepted_only_when_it_matches_the_trace(user: UserSetup) -> None:
    start(user, auto_start_session=False)
    real = str(uuid.uuid4())
    trace_hex = uuid.UUID(real).hex
    good = {"traceparent": f"00-{trace_hex}-00f067aa0ba902b7-01", "baggage": f"session.id={real}"}
    spoof = {"traceparent": f"00-{'ab' * 16}-00f067aa0ba902b7-01", "baggage": f"session.id={real}"}
    junk = {"traceparent": f"00-{'cd' * 16}-00f067aa0ba902b7-01", "baggage": "session.id=not-a-uuid"}
    before = rejected_inbound.count
    for name, headers in (("good", good), ("spoof", spoof), ("junk", junk)):
        ctx = propagate.extract(headers)
        user.tracer.start_span(name, context=ctx).end()
    assert user.one("good").attributes["session.id"] == real
    assert "session.id" not in user.one("spoof").attributes
    assert "session.id" not in user.one("junk").attributes
    assert rejected_inbound.count - before == 2


def test_trust_inbound_session_opt_in(user: UserSetup) -> None:
    start(user, auto_start_session=False, trust_inbound_session=True)
    sid = str(uuid.uuid4())
    ctx = baggage.set_baggage("session.id", sid, otel_context.Context())
    user.tracer.start_span("trusted", context=ctx).end()
    assert user.one("trusted").attributes["session.id"] == sid


def test_inherited_session_parents_to_the_real_root_and_never_ends_it(user: UserSetup) -> None:
    owner_sid = str(uuid.uuid4())
    sid = start(user, inherited_session_id=owner_sid)
    assert sid == owner_sid
    with user.tracer.start_as_current_span("joined"):
        pass
    agentops_otel.end_session()
    joined = user.one("joined")
    assert format(joined.context.trace_id, "032x") == uuid.UUID(owner_sid).hex
    assert joined.parent is not None
    assert joined.parent.span_id == int.from_bytes(uuid.UUID(owner_sid).bytes[8:], "big")
    assert joined.attributes["session.id"] == owner_sid
    assert user.named("agentops.session") == []  # the owner's root is the owner's to end
    assert user.named("agentops.session.start") == []


def test_bad_inherited_session_id_starts_nothing(user: UserSetup, caplog: pytest.LogCaptureFixture) -> None:
    start(user, auto_start_session=False)
    with caplog.at_level(logging.ERROR, logger="agentops_otel"):
        assert agentops_otel.start_session(inherited_session_id="nope") is None
    assert "not a UUID" in caplog.text


def test_config_passed_to_start_session_applies_to_that_session(user: UserSetup) -> None:
    start(user, auto_start_session=False)
    agentops_otel.start_session(
        config=agentops_otel.Configuration(default_tags=["cfg"], session_name="batch")
    )
    agentops_otel.end_session()
    root = user.one("batch.session")
    assert list(root.attributes["agentops.session.tags"]) == ["cfg"]


def test_our_exporter_receives_everything_too(user: UserSetup) -> None:
    ours = InMemorySpanExporter()
    agentops_otel.init(tracer_provider=user.provider, exporter=ours, instrument_llm_calls=False)
    with user.tracer.start_as_current_span("shared"):
        pass
    agentops_otel.end_session()
    client = agentops_otel.get_client()
    assert client.flush(5.0)
    # ... and the start marker, which the user's exporter never sees.
    theirs = [s.name for s in user.spans()]
    assert sorted(s.name for s in ours.get_finished_spans()) == sorted([*theirs, "agentops.session.start"])


def test_reason_and_video_are_present_even_when_not_given(user: UserSetup) -> None:
    start(user)
    agentops_otel.end_session()
    root = user.one("agentops.session")
    assert root.attributes["agentops.session.end_state"] == "Success"
    assert root.attributes["agentops.session.end_state_reason"] == ""
    assert root.attributes["agentops.session.video"] == ""


def test_init_again_with_other_settings_says_they_are_ignored(
    user: UserSetup, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(2):
        with caplog.at_level(logging.WARNING, logger="agentops_otel"):
            agentops_otel.init(
                tracer_provider=user.provider, auto_start_session=False, instrument_llm_calls=False
            )
    assert "already called" not in caplog.text  # the same settings: nothing to say
    with caplog.at_level(logging.WARNING, logger="agentops_otel"):
        agentops_otel.init(
            tracer_provider=user.provider,
            auto_start_session=False,
            instrument_llm_calls=False,
            shutdown_timeout=9,
        )
    assert "already called" in caplog.text and "shutdown_timeout" in caplog.text
    assert agentops_otel.get_client().shutdown_timeout == 3.0
