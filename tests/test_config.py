"""Configuration: precedence (arguments > AGENTOPS_* > OTEL_* > defaults) and every field taking effect."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import agentops_otel
from agentops_otel import Configuration, _runtime
from core_helpers import JSONL_EXPORTER, UserSetup, by_name, read_spans, run_script


def test_defaults() -> None:
    cfg = Configuration.from_env({})
    assert cfg.destination == "local"
    assert cfg.store_path.endswith("agentops-otel/agentops.db")
    assert cfg.shutdown_timeout == 3.0
    assert cfg.capture_content is False
    assert cfg.auto_start_session is True


def _env_value(name: str, default: object) -> tuple[str, object]:
    if isinstance(default, bool):
        return ("false", False) if default else ("yes", True)
    if name == "default_tags":
        return "x, y", ["x", "y"]
    if name == "redact_patterns":
        return '["x+", "y"]', ["x+", "y"]
    if name == "pricing":
        return '{"my-model": {"input": 1.0, "output": 2.0}}', {"my-model": {"input": 1.0, "output": 2.0}}
    if name == "provider_hosts":
        return "gpu-box:8000=vllm,llm.corp=openai", {"gpu-box:8000": "vllm", "llm.corp": "openai"}
    if isinstance(default, int):
        return "77", 77
    if isinstance(default, float):
        return "2.5", 2.5
    return "custom-value", "custom-value"


def test_every_field_has_an_agentops_variable() -> None:
    from agentops_otel._config import ENV_VARIABLES

    fields = {f.name: f for f in dataclasses.fields(Configuration)}
    assert set(ENV_VARIABLES) == set(fields) - {"exporter"}
    defaults = Configuration()
    for name, variables in ENV_VARIABLES.items():
        assert variables[0] == f"AGENTOPS_{name.upper()}"
        raw, expected = _env_value(name, getattr(defaults, name))
        for variable in variables:
            cfg = Configuration.from_env({variable: raw})
            assert getattr(cfg, name) == expected, (variable, raw)


def test_the_field_named_variable_beats_its_short_alias_and_bad_values_are_skipped() -> None:
    cfg = Configuration.from_env({"AGENTOPS_DB": "/tmp/a.db", "AGENTOPS_DB_PATH": "/tmp/b.db"})
    assert cfg.db_path == "/tmp/b.db"
    cfg = Configuration.from_env(
        {
            "AGENTOPS_AUTO_START_SESSION": "perhaps",
            "AGENTOPS_MAX_QUEUE_SIZE": "many",
            "AGENTOPS_PRICING": "[1]",
        }
    )
    assert (cfg.auto_start_session, cfg.max_queue_size, cfg.pricing) == (True, 8192, {})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("span_only", True), ("SPAN_AND_EVENT", True), ("event_only", True), ("no_content", False), ("1", True)],
)
def test_content_capture_accepts_the_contrib_modes(value: str, expected: bool) -> None:
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}
    assert Configuration.from_env(env).capture_content is expected


def test_xdg_data_home_moves_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert Configuration.from_env({}).store_path == str(tmp_path / "agentops-otel" / "agentops.db")


def test_agentops_env_wins_over_otel_env_and_arguments_win_over_both() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TIMEOUT": "9",
        "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
        "OTEL_BSP_SCHEDULE_DELAY": "250",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        "AGENTOPS_API_KEY": "env-key",
        "AGENTOPS_API_ENDPOINT": "http://127.0.0.1:9/",
        "AGENTOPS_TAGS": "a, b,,a",
        "AGENTOPS_SHUTDOWN_TIMEOUT": "1.5",
    }
    cfg = Configuration.from_env(env)
    assert cfg.export_timeout == 9.0
    assert (cfg.max_queue_size, cfg.max_export_batch_size, cfg.schedule_delay) == (100, 10, 0.25)
    assert cfg.capture_content is True
    assert cfg.api_key == "env-key"
    assert cfg.destination == "backend"
    assert cfg.traces_url == "http://127.0.0.1:9/v1/traces"
    assert cfg.api_url == "http://127.0.0.1:9"
    assert cfg.default_tags == ["a", "b"]
    assert cfg.shutdown_timeout == 1.5
    overridden = Configuration.from_env(env, api_key="arg-key", default_tags="x", shutdown_timeout=0.5)
    assert (overridden.api_key, overridden.default_tags, overridden.shutdown_timeout) == (
        "arg-key",
        ["x"],
        0.5,
    )


def test_exporter_endpoint_and_key_only_destinations() -> None:
    cfg = Configuration.from_env(
        {
            "AGENTOPS_API_ENDPOINT": "http://127.0.0.1:1",
            "AGENTOPS_EXPORTER_ENDPOINT": "http://127.0.0.1:2/otlp",
        }
    )
    assert cfg.traces_url == "http://127.0.0.1:2/otlp"
    assert Configuration.from_env({"AGENTOPS_API_KEY": "k"}).destination == "cloud"


def test_bad_numbers_in_the_environment_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    cfg = Configuration.from_env({"OTEL_BSP_MAX_QUEUE_SIZE": "lots", "AGENTOPS_SHUTDOWN_TIMEOUT": "-1"})
    assert cfg.max_queue_size == 8192 and cfg.shutdown_timeout == 3.0
    assert "OTEL_BSP_MAX_QUEUE_SIZE" in caplog.text and "AGENTOPS_SHUTDOWN_TIMEOUT" in caplog.text


def test_init_options_reach_the_export_processor(user: UserSetup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "77")
    agentops_otel.init(
        tracer_provider=user.provider,
        auto_start_session=False,
        instrument_llm_calls=False,
        max_export_batch_size=7,
        schedule_delay=0.2,
        export_timeout=1.5,
    )
    processor = agentops_otel.get_client().export_processor
    assert processor is not None
    assert (processor.max_queue_size, processor.max_export_batch_size) == (77, 7)
    assert (processor.schedule_delay, processor.export_timeout) == (0.2, 1.5)


def test_unknown_init_option_is_logged_not_raised(user: UserSetup, caplog: pytest.LogCaptureFixture) -> None:
    sid = agentops_otel.init(tracer_provider=user.provider, instrument_llm_calls=False, colour="blue")
    assert sid is not None
    assert "unknown option" in caplog.text and "colour" in caplog.text
    agentops_otel.end_session()


def test_config_object_is_the_base_and_keywords_win(user: UserSetup) -> None:
    cfg = Configuration(default_tags=["from-config"], session_name="cfg", capture_content=True)
    agentops_otel.init(
        tracer_provider=user.provider, config=cfg, tags=["from-kwarg"], instrument_llm_calls=False
    )
    assert _runtime.content_capture_enabled() is True
    agentops_otel.end_session()
    root = user.one("cfg.session")
    assert list(root.attributes["agentops.session.tags"]) == ["from-kwarg"]


def test_capture_content_follows_the_otel_variable(user: UserSetup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "True")
    agentops_otel.init(tracer_provider=user.provider, auto_start_session=False, instrument_llm_calls=False)
    assert _runtime.content_capture_enabled() is True


PRELUDE = (
    JSONL_EXPORTER
    + """
import os, sys, time
import agentops_otel
"""
)


def test_end_session_at_exit_false_leaves_the_root_open(tmp_path: Path) -> None:
    spans = tmp_path / "spans.jsonl"
    body = (
        PRELUDE
        + "agentops_otel.init(exporter=JsonLinesExporter(os.environ['SPANS_FILE']), end_session_at_exit=False, instrument_llm_calls=False)\n"
    )
    proc = run_script(body, tmp_path, env={"SPANS_FILE": str(spans)})
    assert proc.returncode == 0, proc.stderr
    got = read_spans(spans)
    assert list(by_name(got, "agentops.session")) == []
    assert len(list(by_name(got, "agentops.session.start"))) == 1  # the backend still learns of it


def test_handle_sigterm_false_leaves_sigterm_alone(tmp_path: Path) -> None:
    spans = tmp_path / "spans.jsonl"
    script = tmp_path / "s.py"
    script.write_text(
        PRELUDE
        + "agentops_otel.init(exporter=JsonLinesExporter(os.environ['SPANS_FILE']), handle_sigterm=False, instrument_llm_calls=False)\n"
        + "import signal\nprint(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)\n"
        + "while True:\n    time.sleep(0.05)\n"
    )
    from tests.core_helpers import REPO

    env = {"PYTHONPATH": str(REPO / "src"), "SPANS_FILE": str(spans), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "True"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM
    assert list(by_name(read_spans(spans), "agentops.session")) == []  # killed outright, as before


def test_service_name_of_a_created_provider(tmp_path: Path) -> None:
    body = """
from opentelemetry import trace
import agentops_otel
agentops_otel.init(auto_start_session=False, service_name="my-agent", instrument_llm_calls=False, exporter=None, db_path=DB)
print(trace.get_tracer_provider().resource.attributes["service.name"])
""".replace("DB", repr(str(tmp_path / "x.db")))
    proc = run_script(body, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "my-agent"
