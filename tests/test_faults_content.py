"""The fault suite, part 2: hostile content and settings (out-of-range times, secrets, header values,
OTEL_EXPORTER_OTLP_* settings), heartbeats, and the spool's housekeeping. Real child processes; the
real backend where it matters, the fake one (fault_server) where the test must see the wire."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend_fixtures import ApiClient, BackendServer
from fault_server import Behaviour, FaultServer, refused_url, run_user, spool_rows
from test_end_to_end import wait_for_session


@pytest.fixture
def server() -> FaultServer:
    fake = FaultServer()
    yield fake
    fake.close()


def attributes(span: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in span.attributes:  # type: ignore[attr-defined]
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
    return out


# -- a bad span costs only itself ---------------------------------------------------------------------

BAD_TIMES = """
from agentops_otel import ActionEvent, record
for i in range(200):
    record(ActionEvent(action_type=f"ok-{i}"))
record(ActionEvent(action_type="future", init_timestamp="2300-01-01T00:00:00+00:00"))
record(ActionEvent(action_type="past", init_timestamp="1900-01-01T00:00:00+00:00",
                   end_timestamp="1900-01-01T00:00:01+00:00"))
agentops_otel.end_session('Success')
"""


def test_timestamps_out_of_range_are_clamped_and_the_session_lands(
    tmp_path: Path, backend: BackendServer, project: dict[str, str]
) -> None:
    """Year 2300 overflowed the backend's int64 (500) and year 1900 failed our encoder: each took its
    batch and the session root with it. Now both are clamped into range and counted; all arrive."""
    run = run_user(
        tmp_path, backend.url, spans=0, end=BAD_TIMES, env={"AGENTOPS_API_KEY": project["api_key"]}
    )
    assert run.returncode == 0, run.stderr
    assert run.report["flushed"] is True, run.stderr
    assert run.report["delivered"] == 204 and run.report["rejected"] == 0  # 202 events, root, marker
    assert "timestamp out of range" in run.stderr
    session = wait_for_session(ApiClient(backend.url), project["api_key"], run.report["sid"])
    assert session["span_count"] == 203 and session["end_state"] == "Success"


# -- secrets ------------------------------------------------------------------------------------------

SECRETS = """
from agentops_otel import tool

@tool
def login(user, password, api_key=None):
    return {"token": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX2hlcmU", "ok": True}

@tool
def note(text):
    return len(text)

login("bob", "hunter2", api_key="sk-proj-abcdefghijklmnopqrstuvwxyz0123")
note("call me; my badge is ACME-778899 and my password=letmein")
agentops_otel.end_session('Success')
"""
SECRET_VALUES = ("hunter2", "sk-proj-abcdefghijklmnopqrstuvwxyz0123", "eyJhbGciOiJIUzI1NiJ9", "ACME-778899")


@pytest.mark.parametrize("mode", ["default", "custom", "off"])
def test_secrets_in_captured_content_are_redacted(tmp_path: Path, server: FaultServer, mode: str) -> None:
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}
    if mode == "custom":
        env["AGENTOPS_REDACT_PATTERNS"] = r'["ACME-\\d{6}"]'
    if mode == "off":
        env["AGENTOPS_REDACT_SECRETS"] = "false"
    run = run_user(tmp_path, server.url, spans=0, end=SECRETS, env=env)
    assert run.report["flushed"] is True, run.stderr
    recorded = " ".join(
        str(v) for span in server.spans.values() for v in attributes(span).values() if isinstance(v, str)
    )
    assert "bob" in recorded  # content is recorded
    if mode == "off":
        assert all(secret in recorded for secret in SECRET_VALUES)
        return
    assert "[REDACTED]" in recorded
    leaked = [s for s in SECRET_VALUES[:3] if s in recorded]
    assert leaked == []
    assert ("ACME-778899" in recorded) is (mode == "default")
    assert "letmein" not in recorded  # password=... inside a string


# -- header values and OTEL_EXPORTER_OTLP_* ---------------------------------------------------------


def test_otlp_headers_and_compression_from_the_environment(tmp_path: Path, server: FaultServer) -> None:
    run = run_user(
        tmp_path,
        server.url,
        spans=5,
        env={
            "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme,x-generic=1",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=traces-wins,x-bad=a%0D%0AX-Injected%3A%20yes",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none",
        },
    )
    assert run.report["flushed"] is True, run.stderr
    sent = server.traces_requests()[0].headers
    lowered = {k.lower(): v for k, v in sent.items()}
    assert lowered["x-tenant"] == "traces-wins"  # the TRACES_ variable wins, as in the SDK
    assert "x-generic" not in lowered  # ... as a whole
    assert "content-encoding" not in lowered  # compression none
    assert "x-injected" not in lowered and "x-bad" not in lowered
    assert run.stderr.count("that header is not sent") == 1
    assert len(server.stored) == 7
    assert "x-tenant" not in {k.lower() for k in server.auth_requests()[0].headers}  # OTLP requests only


@pytest.mark.parametrize("compression", ["gzip", "deflate", "none"])
def test_compression_settings_reach_the_real_backend(
    tmp_path: Path, backend: BackendServer, project: dict[str, str], compression: str
) -> None:
    run = run_user(
        tmp_path,
        backend.url,
        spans=20,
        env={"AGENTOPS_API_KEY": project["api_key"], "OTEL_EXPORTER_OTLP_COMPRESSION": compression},
    )
    assert run.report["flushed"] is True, run.stderr
    session = wait_for_session(ApiClient(backend.url), project["api_key"], run.report["sid"])
    assert session["span_count"] == 21


# -- heartbeats ---------------------------------------------------------------------------------------

IDLE = "time.sleep(1.6)\nagentops_otel.end_session('Success')\ntime.sleep(0.6)"


def test_heartbeats_while_a_session_is_open(tmp_path: Path, server: FaultServer) -> None:
    run = run_user(tmp_path, server.url, spans=1, end=IDLE, env={"AGENTOPS_HEARTBEAT_INTERVAL": "0.3"})
    assert run.report["flushed"] is True, run.stderr
    spans = list(server.spans.values())
    root = next(s for s in spans if s.name == "agentops.session")
    marker = next(s for s in spans if s.name == "agentops.session.start")
    beats = sorted(
        (s for s in spans if s.name == "agentops.session.heartbeat"), key=lambda s: s.start_time_unix_nano
    )
    assert 3 <= len(beats) <= 7  # about 1.6 s / 0.3 s, none after the session ended
    for beat in beats:
        attrs = attributes(beat)
        assert attrs["agentops.span.kind"] == "session.heartbeat"
        assert attrs["agentops.session.heartbeat_interval"] == 0.3
        assert attrs["session.id"] == run.report["sid"]
        assert beat.parent_span_id == root.span_id and beat.trace_id == root.trace_id
        assert beat.start_time_unix_nano == beat.end_time_unix_nano  # zero-length
        assert beat.start_time_unix_nano <= root.end_time_unix_nano
    assert attributes(marker)["agentops.session.heartbeat_interval"] == 0.3


def test_no_heartbeats_when_turned_off_or_joined(tmp_path: Path, server: FaultServer) -> None:
    run = run_user(tmp_path, server.url, spans=1, end=IDLE, env={"AGENTOPS_HEARTBEAT_INTERVAL": "0"})
    assert run.report["flushed"] is True, run.stderr
    assert "agentops.session.heartbeat" not in server.stored_names
    marker = next(s for s in server.spans.values() if s.name == "agentops.session.start")
    assert attributes(marker)["agentops.session.heartbeat_interval"] == 0.0
    joined = run_user(
        tmp_path,
        server.url,
        spans=1,
        end="agentops_otel.start_session(inherited_session_id='6f1c3f4e-2f7b-4c3e-9a57-8d1e2f3a4b5c')\n"
        "time.sleep(1.0)",
        env={"AGENTOPS_HEARTBEAT_INTERVAL": "0.2", "AGENTOPS_AUTO_START_SESSION": "0"},
    )
    assert joined.returncode == 0, joined.stderr
    assert any("step" in name for name in server.stored_names)  # the joined process exports
    assert server.stored_names["agentops.session.heartbeat"] == 0  # but the owner beats, not a joiner


# -- the spool's housekeeping -------------------------------------------------------------------------


def test_spool_size_cap_drops_the_oldest_and_says_so(tmp_path: Path) -> None:
    url = refused_url()
    env = {"AGENTOPS_SPOOL_MAX_BYTES": "6000", "AGENTOPS_SHUTDOWN_TIMEOUT": "1"}
    sizes = []
    for _ in range(4):
        run = run_user(tmp_path, url, spans=60, env=env)
        assert run.returncode == 0, run.stderr
        sizes.append(sum(size for _, size in spool_rows(tmp_path / "client.db")))
    assert max(sizes) <= 6000
    assert re.search(r"dropped \d+ spooled span\(s\)", run.stderr), run.stderr
    assert sum(n for n, _ in spool_rows(tmp_path / "client.db")) >= 62  # the newest run is kept


def test_spool_age_limit_drops_old_rows_and_says_so(tmp_path: Path) -> None:
    import time

    url = refused_url()
    first = run_user(tmp_path, url, spans=10, env={"AGENTOPS_SHUTDOWN_TIMEOUT": "1"})
    assert sum(n for n, _ in spool_rows(tmp_path / "client.db")) == 12, first.stderr
    time.sleep(1.2)
    second = run_user(
        tmp_path, url, spans=10, env={"AGENTOPS_SHUTDOWN_TIMEOUT": "1", "AGENTOPS_SPOOL_MAX_AGE": "1"}
    )
    assert "dropped 12 spooled span(s)" in second.stderr, second.stderr
    assert sum(n for n, _ in spool_rows(tmp_path / "client.db")) == 12  # only the second run's


def test_an_invalid_key_is_counted_rejected_not_spooled(tmp_path: Path, server: FaultServer) -> None:
    server.behaviour = Behaviour(auth=lambda i: (401, {}, b'{"error": "unknown key"}'))
    run = run_user(tmp_path, server.url, spans=20)
    assert run.report["rejected"] == 22 and run.report["flushed"] is False
    assert run.stderr.count("invalid API key") == 1
    assert spool_rows(tmp_path / "client.db") == []
    assert len(server.auth_requests()) == 1 and server.traces_requests() == []


@pytest.mark.parametrize(("first", "then"), [("none", "gzip"), ("deflate", "none")])
def test_the_spool_keeps_gzip_whatever_compression_the_processes_use(
    tmp_path: Path, first: str, then: str
) -> None:
    url = refused_url()
    run = run_user(tmp_path, url, spans=10, env={"OTEL_EXPORTER_OTLP_COMPRESSION": first})
    assert "12 spooled" in run.stderr, run.stderr
    up = FaultServer(port=int(url.rsplit(":", 1)[1]))
    try:
        replayed = run_user(
            tmp_path,
            url,
            spans=0,
            end="pass",
            env={"AGENTOPS_AUTO_START_SESSION": "0", "OTEL_EXPORTER_OTLP_COMPRESSION": then},
        )
        assert replayed.report["flushed"] is True, replayed.stderr
        assert len(up.stored) == 12 and max(up.stored.values()) == 1
        assert {s.headers.get("Content-Encoding") for s in up.traces_requests()} == {"gzip"}
    finally:
        up.close()


def test_the_local_store_keeps_the_batch_of_a_span_it_cannot_store(tmp_path: Path) -> None:
    """The local-store exporter (no endpoint, no key) with the same times: the store takes them, or
    (a year-2300 time past SQLite's int64) the batch is split and that span alone is rejected; the
    session lands either way."""
    run = run_user(
        tmp_path, "", spans=0, end=BAD_TIMES, env={"AGENTOPS_API_KEY": "", "AGENTOPS_API_ENDPOINT": ""}
    )
    assert run.returncode == 0, run.stderr
    assert run.report["delivered"] + run.report["rejected"] == 204, run.stderr
    assert run.report["rejected"] <= 1
    import sqlite3

    with sqlite3.connect(tmp_path / "client.db") as conn:
        (sessions,) = conn.execute("SELECT count(*) FROM sessions").fetchone()
        (spans,) = conn.execute(
            "SELECT coalesce(sum(spans), 0) FROM span_blocks"
        ).fetchone()  # blocks of spans
    assert sessions == 1 and spans == run.report["delivered"]
