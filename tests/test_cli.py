"""``agentops-otel``: projects, sessions (tables and --json, local store and remote backend), errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter
from agentops_otel._internal.exporters.base import Outcome
from agentops_otel._internal.exporters.local import LocalStoreSpanExporter
from agentops_otel.cli import main
from backend_fixtures import ERROR, OK, ApiClient, BackendServer, SpanMaker, free_port, run_cli

LLM = (
    "chat gpt",
    {"agentops.span.kind": "llm", "gen_ai.usage.input_tokens": 11, "agentops.usage.cost_usd": 0.5},
    None,
)
TOOL = ("lookup", {"agentops.span.kind": "tool"}, ERROR)


@pytest.fixture
def local_db(tmp_path: Path) -> tuple[str, list[str]]:
    """A local store with two sessions written by the embedded exporter: (path, [older, newer])."""
    path = str(tmp_path / "agentops.db")
    exporter = LocalStoreSpanExporter(path)
    maker = SpanMaker()
    ids = []
    for tags, status in ((["alpha"], OK), (["beta"], ERROR)):
        sid, marker, rest = maker.session(tags=tags, root_status=status, children=[LLM, TOOL])
        assert exporter.deliver(marker + rest, 5).outcome is Outcome.DELIVERED
        ids.append(sid)
    exporter.shutdown()
    return path, ids


def test_projects_create_prints_one_json_object(tmp_path: Path) -> None:
    result = run_cli("projects", "create", "demo", "--db", str(tmp_path / "s.db"))
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)  # exactly one JSON document
    assert set(created) == {"project_id", "api_key"}
    listed = run_cli("projects", "list", "--db", str(tmp_path / "s.db"), "--json")
    assert [p["project_id"] for p in json.loads(listed.stdout)["projects"]] == [created["project_id"]]


def test_sessions_table(local_db: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, (older, newer) = local_db
    assert main(["sessions", "--db", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["SESSION", "NAME"]
    assert [line.split()[0] for line in lines[1:]] == [newer, older]  # newest first
    assert "Fail" in lines[1] and "Success" in lines[2]
    assert "$1.0000" not in lines[1] and "$0.5000" in lines[1]


def test_sessions_json_and_filters(
    local_db: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, (older, newer) = local_db
    assert main(["sessions", "--db", path, "--json"]) == 0
    sessions = json.loads(capsys.readouterr().out)["sessions"]
    assert [s["session_id"] for s in sessions] == [newer, older]
    assert sessions[0]["llm_calls"] == 1 and sessions[0]["errors"] == 1 and sessions[0]["prompt_tokens"] == 11
    assert main(["sessions", "--db", path, "--json", "--tag", "alpha"]) == 0
    assert [s["session_id"] for s in json.loads(capsys.readouterr().out)["sessions"]] == [older]
    assert main(["sessions", "--db", path, "--json", "--end-state", "fail"]) == 0
    assert [s["session_id"] for s in json.loads(capsys.readouterr().out)["sessions"]] == [newer]
    assert main(["sessions", "--db", path, "--json", "--limit", "1"]) == 0
    assert len(json.loads(capsys.readouterr().out)["sessions"]) == 1


def test_sessions_show(local_db: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    path, (older, _) = local_db
    assert main(["sessions", "show", older, "--db", path]) == 0
    out = capsys.readouterr().out
    assert older in out and "Success" in out and "alpha" in out
    tree = out.split("spans (3):", 1)[1].splitlines()
    assert tree[1].startswith("  - agentops.session [session]")
    assert any(line.startswith("    - chat gpt [llm]") for line in tree)
    assert any(line.startswith("    - lookup [tool]") and "ERROR" in line for line in tree)
    # Options may come before the subcommand too.
    assert main(["sessions", "--db", path, "show", older, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["session_id"] == older and len(shown["spans"]) == 3


def test_unknown_session_is_an_error(
    local_db: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = local_db
    assert main(["sessions", "show", "no-such-session", "--db", path]) == 1
    assert "no session no-such-session" in capsys.readouterr().err


def test_remote_listing_matches_backend(
    backend: BackendServer, api: ApiClient, project: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    exporter = AgentOpsSpanExporter(project["api_key"], api_url=backend.url, timeout=5)
    sid, marker, rest = SpanMaker().session(root_status=OK, children=[LLM])
    assert exporter.deliver(marker + rest, 5).outcome is Outcome.DELIVERED
    exporter.shutdown()
    source = ["--endpoint", backend.url, "--api-key", project["api_key"]]
    assert main(["sessions", *source, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["sessions"]
    assert listed == api.sessions(api.token(project["api_key"]))
    assert main(["sessions", "show", sid, *source]) == 0
    assert "chat gpt [llm]" in capsys.readouterr().out
    assert main(["sessions", "show", "nope", *source]) == 1
    assert "no session nope" in capsys.readouterr().err


def test_remote_errors(backend: BackendServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--endpoint", backend.url, "--api-key", "wrong"]) == 1
    assert "refused the API key" in capsys.readouterr().err
    closed = f"http://127.0.0.1:{free_port()}"
    assert main(["sessions", "--endpoint", closed, "--api-key", "k"]) == 1
    assert "cannot reach the backend" in capsys.readouterr().err


def test_endpoint_and_key_from_environment(
    backend: BackendServer,
    project: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AGENTOPS_API_ENDPOINT", backend.url)
    monkeypatch.setenv("AGENTOPS_API_KEY", project["api_key"])
    assert main(["sessions", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"sessions": []}
    monkeypatch.delenv("AGENTOPS_API_KEY")
    assert main(["sessions"]) == 1
    assert "needs an API key" in capsys.readouterr().err


def test_default_store_from_agentops_db(
    local_db: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, ids = local_db
    monkeypatch.delenv("AGENTOPS_API_ENDPOINT", raising=False)
    monkeypatch.setenv("AGENTOPS_DB", path)
    assert main(["sessions", "--json"]) == 0
    assert {s["session_id"] for s in json.loads(capsys.readouterr().out)["sessions"]} == set(ids)


def test_serve_without_server_extra_explains() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None; sys.modules['starlette'] = None\n"
        "from agentops_otel.cli import main; sys.exit(main(['serve', '--port', '1']))"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "agentops-opentelemetry[server]" in result.stderr


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sessions", "--limit", "many"])
    assert exit_info.value.code == 2


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("this is not SQLite\n" * 100)
    for args in (["sessions", "--db", str(bogus)], ["sessions", "show", "x", "--db", str(bogus)]):
        result = run_cli(*args)
        assert result.returncode == 1
        assert "not a usable agentops-otel store" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_store_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = run_cli("projects", "create", "p", "--db", str(blocked / "sub" / "x.db"))
    assert result.returncode == 1
    assert "agentops-otel: error:" in result.stderr and "Traceback" not in result.stderr


def test_negative_limit_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sessions", "--limit", "-1"])
    assert exit_info.value.code == 2
