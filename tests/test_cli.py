"""``agentops-otel`` run as a user runs it: a subprocess, on a pipe or on a pseudo-terminal, reading a
store that real SDK runs filled (directly, and through a real ``serve``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import wcwidth

from agentops_otel._internal.exporters.base import Outcome
from agentops_otel._internal.exporters.local import LocalStoreSpanExporter
from agentops_otel.cli import format as fmt
from backend_fixtures import ERROR, OK, BackendServer, SpanMaker, create_project, free_port
from cli_fixtures import (
    CJK_NAME,
    EMOJI_NAME,
    FAILED_CALL_SCRIPT,
    canned_openai,
    cli_env,
    plain,
    run_agent,
    run_cli_env,
    run_in_pty,
    sdk_env,
)

AMBIGUOUS = ("abcd0000-0000-4000-8000-000000000001", "abcd0000-1111-4000-8000-000000000002")


@dataclass
class Recorded:
    db: str
    url: str
    api_key: str
    local: dict[str, str]  # session ids written to the store directly (project "local")
    remote: dict[str, str]  # written through the backend (project "team-a")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    home = tmp_path_factory.mktemp("cli")
    db = str(home / "store.db")
    server = BackendServer(db).start()
    try:
        key = create_project(db, "team-a")["api_key"]
        with canned_openai() as llm:
            remote = run_agent(
                llm,
                sdk_env(AGENTOPS_API_ENDPOINT=server.url, AGENTOPS_API_KEY=key, XDG_DATA_HOME=str(home)),
            )
            local = run_agent(llm, sdk_env(AGENTOPS_DB=db, XDG_DATA_HOME=str(home)))
        exporter = LocalStoreSpanExporter(db)
        maker = SpanMaker()
        for sid in AMBIGUOUS:
            _, marker, rest = maker.session(session_id=sid, root_status=OK)
            assert exporter.deliver(marker + rest, 5).outcome is Outcome.DELIVERED
        exporter.shutdown()
        yield Recorded(db, server.url, key, local, remote)
    finally:
        server.stop()


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli_env(*args, env=cli_env(**env))


def sessions_json(*args: str) -> list[dict]:
    result = cli("sessions", *args, "--json")
    assert result.returncode == 0, result.stderr
    sessions: list[dict] = json.loads(result.stdout)["sessions"]
    return sessions


# -- help and version ----------------------------------------------------------------------------------


def test_version_and_help_with_defaults_and_examples() -> None:
    from agentops_otel.version import __version__

    version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith(f"agentops-otel {__version__}")
    serve = cli("serve", "--help").stdout
    assert "http://127.0.0.1:8000/" in serve and "(default: 8000" in serve and "examples:" in serve
    assert "agentops-otel/agentops.db" in serve  # which store it opens
    sessions = cli("sessions", "--help").stdout
    assert "agentops-otel sessions show SESSION_ID" in sessions
    assert "agentops-otel sessions watch [SESSION_ID]" in sessions
    assert "subcommands (optional)" in sessions and "(default: 50)" in sessions and "examples:" in sessions
    demo = cli("demo", "--help").stdout
    assert "demonstration" in demo and "127.0.0.1" in demo
    assert "examples:" in cli("--help").stdout


# -- tables on a pipe and on a terminal ----------------------------------------------------------------


def test_list_on_a_pipe_has_every_column_full_ids_and_projects(recorded: Recorded) -> None:
    result = cli("sessions", "--db", recorded.db)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout  # no colour on a pipe
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["SESSION", "NAME", "PROJECT"]
    for sid in [*recorded.local.values(), *recorded.remote.values()]:
        row = next(line for line in lines if line.startswith(sid))  # full ids
        assert ("team-a" if sid in recorded.remote.values() else "local") in row
    assert any(CJK_NAME in line for line in lines)  # nothing cut on a pipe
    only = sessions_json("--db", recorded.db, "--project", "team-a")
    assert {s["session_id"] for s in only} == set(recorded.remote.values())
    missing = cli("sessions", "--db", recorded.db, "--project", "nope")
    assert missing.returncode == 1 and "no project 'nope'" in missing.stderr and "team-a" in missing.stderr


def test_figures_use_the_shared_formats(recorded: Recorded) -> None:
    listed = {s["session_id"]: s for s in sessions_json("--db", recorded.db)}
    lines = cli("sessions", "--db", recorded.db).stdout.splitlines()
    support = listed[recorded.local["support"]]
    row = next(line for line in lines if line.startswith(support["session_id"]))
    assert row.split()[-1] == fmt.cost(support["cost_usd"]) and support["cost_usd"] > 0
    assert fmt.duration(support["duration_s"]) in row and "1,500" in row
    cjk_row = next(line for line in lines if line.startswith(recorded.local["cjk"]))
    assert cjk_row.endswith(" unknown")  # an LLM call whose model has no price
    emoji_row = next(line for line in lines if line.startswith(recorded.local["emoji"]))
    assert emoji_row.endswith(" -") and " Fail " in emoji_row  # no LLM call


def test_terminal_tables_fit_the_width_and_align_wide_characters(recorded: Recorded) -> None:
    for columns in (120, 80):
        code, screen, err = run_in_pty("sessions", "--db", recorded.db, columns=columns, env=cli_env())
        assert code == 0, err
        lines = [plain(line) for line in screen.splitlines()]
        assert all(wcwidth.width(line) <= columns for line in lines), (columns, lines)
        assert lines[0].startswith("SESSION ")
        cjk = next(line for line in lines if line.startswith(recorded.local["cjk"][:8]))
        assert "…" in cjk and CJK_NAME not in cjk  # cut, with an ellipsis
        # Every row's START column begins at the same display column, CJK and emoji rows included.
        starts = {
            wcwidth.width(line[: m.start()]) for line in lines[1:] if (m := re.search(r"\d{4}-\d\d-", line))
        }
        assert len(starts) == 1, lines
    code, screen, _ = run_in_pty("sessions", "--db", recorded.db, columns=250, env=cli_env())
    wide = [plain(line) for line in screen.splitlines()]
    assert any(CJK_NAME in line for line in wide) and any(EMOJI_NAME in line for line in wide)
    starts = {wcwidth.width(line[: m.start()]) for line in wide[1:] if (m := re.search(r"\d{4}-\d\d-", line))}
    assert len(starts) == 1, wide


def test_colour_on_a_terminal_only_and_no_color_honoured(recorded: Recorded) -> None:
    code, screen, _ = run_in_pty("sessions", "--db", recorded.db, env=cli_env())
    assert code == 0 and "\x1b[31mFail\x1b[0m" in screen and "\x1b[32mSuccess\x1b[0m" in screen
    for env, args in ((cli_env(NO_COLOR="1"), ()), (cli_env(), ("--color", "never"))):
        code, screen, _ = run_in_pty("sessions", "--db", recorded.db, *args, env=env)
        assert code == 0 and "\x1b[" not in screen and "Fail" in screen
    forced = cli("sessions", "--db", recorded.db, "--color", "always")
    assert "\x1b[31mFail" in forced.stdout


# -- finding sessions ----------------------------------------------------------------------------------


def test_prefix_and_case_insensitive_ids(recorded: Recorded) -> None:
    sid = recorded.local["support"]
    for given in (sid[:8], sid[:8].upper(), sid.upper(), sid.replace("-", "")):  # the last: its trace id
        shown = cli("sessions", "show", given, "--db", recorded.db, "--json")
        assert shown.returncode == 0, (given, shown.stderr)
        assert json.loads(shown.stdout)["session_id"] == sid
    ambiguous = cli("sessions", "show", "ABCD", "--db", recorded.db)
    assert ambiguous.returncode == 1
    assert "ABCD matches 2 sessions" in ambiguous.stderr and all(a in ambiguous.stderr for a in AMBIGUOUS)
    unknown = cli("sessions", "show", "0000dead", "--db", recorded.db)
    assert unknown.returncode == 1 and "no session 0000dead" in unknown.stderr


def test_remote_listing_and_prefix_through_the_api(recorded: Recorded) -> None:
    source = ("--endpoint", recorded.url, "--api-key", recorded.api_key)
    listed = sessions_json(*source)
    assert {s["session_id"] for s in listed} == set(recorded.remote.values())
    sid = recorded.remote["support"]
    shown = cli("sessions", "show", sid[:8].upper(), *source)
    assert shown.returncode == 0, shown.stderr
    assert sid in shown.stdout and "chat gpt-4o-mini [llm]" in shown.stdout
    assert "PROJECT" not in cli("sessions", *source).stdout.splitlines()[0]  # the key chose it
    local_only = cli("sessions", "show", recorded.local["support"][:8], *source)
    assert local_only.returncode == 1 and "no session" in local_only.stderr  # another project's


# -- one session, one span -----------------------------------------------------------------------------


def test_show_tree_and_costs(recorded: Recorded) -> None:
    shown = cli("sessions", "show", recorded.local["support"][:8], "--db", recorded.db)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "project      local (" in out and "support-agent" in out
    tree = out.split("spans (4):", 1)[1].splitlines()
    assert re.match(r"  [0-9a-f]{8}  - support-agent\.session \[session\]", tree[1])
    assert any("- chat gpt-4o-mini [llm]" in line and "1,500 tokens  $0.00036" in line for line in tree)
    assert any(
        "execute_tool fetch_invoice [tool]" in line and "ERROR: ConnectionError" in line for line in tree
    )
    cjk = cli("sessions", "show", recorded.local["cjk"], "--db", recorded.db).stdout
    assert "cost         unknown (no price for 1 of 1 LLM calls)" in cjk
    assert "chat my-local-llama [llm]" in cjk and cjk.rstrip().endswith("unknown")


def test_a_failed_call_that_used_no_tokens_costs_nothing_in_the_tree_as_in_the_total(tmp_path: Path) -> None:
    """A call that failed before using any token is not unpriced in the session's cost, so its span in
    the tree shows ``-`` (nothing to price), not ``unknown``; the priced call beside it shows its cost."""
    from agentops_otel.cli.demo_llm import canned_llm

    db = str(tmp_path / "store.db")
    with canned_llm() as url:
        proc = subprocess.run(
            [sys.executable, "-c", FAILED_CALL_SCRIPT, url],
            env=sdk_env(AGENTOPS_DB=db, XDG_DATA_HOME=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    shown = cli("sessions", "show", proc.stdout.strip(), "--db", db)
    assert shown.returncode == 0, shown.stderr
    head, tree = shown.stdout.split("spans (", 1)
    (cost,) = [line for line in head.splitlines() if line.startswith("cost ")]
    assert "$" in cost and fmt.UNKNOWN not in cost, cost
    calls = [line.rstrip() for line in tree.splitlines() if "- chat gpt-4o-mini [llm]" in line]
    assert len(calls) == 2, tree
    priced, failed = calls
    assert re.search(r"  [1-9][0-9]* tokens  \$0\.0", priced), priced
    assert "  0 tokens  -  ERROR: openai.InternalServerError" in failed, failed
    assert fmt.UNKNOWN not in shown.stdout


def test_show_a_span_with_its_conversation_and_attributes(recorded: Recorded) -> None:
    sid = recorded.local["support"]
    session = json.loads(cli("sessions", "show", sid, "--db", recorded.db, "--json").stdout)
    llm = next(s for s in session["spans"] if s["kind"] == "llm")
    shown = cli("sessions", "show", sid[:8], "--span", llm["span_id"][:6].upper(), "--db", recorded.db)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    conversation = out.split("conversation", 1)[1].split("attributes (", 1)[0]
    assert "  system\n    Be brief.\n  user\n    Where is order 42?\n" in conversation
    assert "assistant  (finish: tool_calls)\n    Order 42 has shipped." in conversation
    assert '-> tool call lookup (id call_1): {"order": 42}' in conversation
    assert re.search(r"gen_ai\.request\.model +gpt-4o-mini\n", out) and "cost         $0.00036" in out
    as_json = json.loads(
        cli("sessions", "show", sid, "--span", llm["span_id"], "--db", recorded.db, "--json").stdout
    )
    assert as_json["attributes"] == llm["attributes"] and as_json["session_id"] == sid
    failed = next(s for s in session["spans"] if s["name"] == "execute_tool fetch_invoice")
    detail = cli("sessions", "show", sid, "--span", failed["span_id"], "--db", recorded.db).stdout
    assert "status       ERROR: ConnectionError" in detail and "exception.stacktrace  Traceback" in detail
    missing = cli("sessions", "show", sid, "--span", "zzzz", "--db", recorded.db)
    assert missing.returncode == 1 and "no span zzzz" in missing.stderr


# -- errors ---------------------------------------------------------------------------------------------


def test_a_missing_store_is_an_error_and_is_never_created(tmp_path: Path) -> None:
    typo = tmp_path / "sub" / "typo.db"
    for args in (["sessions"], ["sessions", "show", "x"], ["sessions", "watch"], ["projects", "list"]):
        result = cli(*args, "--db", str(typo))
        assert result.returncode == 1, args
        assert (
            result.stderr.startswith(f"agentops-otel: error: no store at {typo}")
            and len(result.stderr.splitlines()) == 1
        )
    assert not (tmp_path / "sub").exists()
    default = cli("sessions", XDG_DATA_HOME=str(tmp_path / "home"))
    assert default.returncode == 1 and "no store at" in default.stderr and not (tmp_path / "home").exists()


def test_one_line_errors_that_say_the_fix(recorded: Recorded) -> None:
    port = free_port()
    cases = [
        (
            ["sessions", "--endpoint", f"127.0.0.1:{port}", "--api-key", "k"],
            {},
            f"use http://127.0.0.1:{port}",
        ),
        (["sessions", "--api-key", "k", "--db", recorded.db], {}, "--api-key is only used with --endpoint"),
        (["sessions", "--project", "x", "--endpoint", recorded.url, "--api-key", "k"], {}, "drop --project"),
        (
            ["sessions", "--limit", "3", "show", "abcd"],
            {"AGENTOPS_DB": recorded.db},
            "--limit is for the session list",
        ),
        (
            ["sessions", "--api-key", "k"],
            {"AGENTOPS_API_ENDPOINT": f"localhost:{port}"},
            "AGENTOPS_API_ENDPOINT",
        ),
        (["sessions", "--endpoint", recorded.url, "--api-key", "wrong"], {}, "refused the API key"),
        (
            ["sessions", "--endpoint", f"http://127.0.0.1:{port}", "--api-key", "k"],
            {},
            "cannot reach the backend",
        ),
    ]
    for args, env, expected in cases:
        result = cli(*args, **env)
        assert result.returncode == 1, (args, result.stderr)
        assert expected in result.stderr and len(result.stderr.splitlines()) == 1, (args, result.stderr)


def test_serve_on_a_busy_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", "--port", str(port), "--db", str(tmp_path / "s.db"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr and "--port" in result.stderr
    bad = cli("serve", "--port", "70000")
    assert bad.returncode == 2 and "a port is a number from 1 to 65535" in bad.stderr


def test_serve_says_where_the_dashboard_and_store_are(tmp_path: Path) -> None:
    import requests

    db = str(tmp_path / "s.db")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentops_otel.cli",
            "serve",
            "--port",
            "0",
            "--db",
            db,
            "--log-level",
            "warning",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=cli_env(),
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        match = re.search(r"dashboard (http://127\.0\.0\.1:(\d+)/)", first)
        assert match, first
        assert proc.stderr.readline().strip() == f"agentops-otel: store {db}"
        assert "projects create NAME" in proc.stderr.readline()
        page = None
        for _ in range(200):
            try:
                page = requests.get(match.group(1), timeout=2)
                break
            except requests.ConnectionError:
                proc.wait(0.05) if proc.poll() is not None else None
                import time

                time.sleep(0.05)
        assert page is not None and page.status_code == 200 and "<html" in page.text.lower()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()


# -- pipes, projects ------------------------------------------------------------------------------------


def test_a_closed_pipe_exits_0_quietly(tmp_path: Path) -> None:
    db = str(tmp_path / "big.db")
    exporter = LocalStoreSpanExporter(db)
    maker = SpanMaker()
    batch = []
    for _ in range(700):  # about 100 KB of table: more than a pipe holds
        _, marker, rest = maker.session(root_status=OK)
        batch += marker + rest
    _, marker, rest = maker.session(root_status=ERROR, children=[("step", {}, None)] * 1500)
    big = rest[-1].attributes["session.id"]
    assert exporter.deliver(batch + marker + rest, 30).outcome is Outcome.DELIVERED
    exporter.shutdown()
    command = f"{sys.executable} -m agentops_otel.cli"
    for args in (
        f"sessions --limit 1000 --db {db}",
        f"sessions show {big} --db {db}",
        f"sessions --json --db {db}",
    ):
        script = f"{command} {args} | head -n 1 > /dev/null; echo ${{PIPESTATUS[0]}}"
        result = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, env=cli_env(), timeout=60
        )
        assert result.stdout.strip() == "0", (args, result.stderr)
        assert "Broken pipe" not in result.stderr and "Traceback" not in result.stderr and result.stderr == ""


def test_projects_create_prints_one_json_object_and_a_hint_on_a_terminal(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    piped = cli("projects", "create", "demo", "--db", db)
    assert piped.returncode == 0 and piped.stderr == ""
    created = json.loads(piped.stdout)  # exactly one JSON document
    assert set(created) == {"project_id", "api_key"}
    code, screen, err = run_in_pty("projects", "create", "other", "--db", db, env=cli_env())
    assert code == 0
    key = json.loads(screen)["api_key"]  # stdout is still the one JSON object
    assert f"AGENTOPS_API_KEY={key}" in err and "http://127.0.0.1:8000/" in err
    listed = json.loads(cli("projects", "list", "--db", db, "--json").stdout)["projects"]
    assert [p["name"] for p in listed] == ["demo", "other"]
    table = cli("projects", "list", "--db", db).stdout.splitlines()
    assert table[0].split() == ["PROJECT", "NAME", "CREATED", "(UTC)", "SESSIONS"] and len(table) == 3


def test_default_store_and_endpoint_from_the_environment(recorded: Recorded) -> None:
    listed = cli("sessions", "--json", AGENTOPS_DB=recorded.db)
    assert len(json.loads(listed.stdout)["sessions"]) == 8
    remote = cli("sessions", "--json", AGENTOPS_API_ENDPOINT=recorded.url, AGENTOPS_API_KEY=recorded.api_key)
    assert {s["session_id"] for s in json.loads(remote.stdout)["sessions"]} == set(recorded.remote.values())
    keyless = cli("sessions", AGENTOPS_API_ENDPOINT=recorded.url)
    assert keyless.returncode == 1 and "needs an API key" in keyless.stderr


# -- kept from before: stores that are not stores, usage errors, the server extra ---------------------


def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("this is not SQLite\n" * 100)
    for args in (["sessions", "--db", str(bogus)], ["sessions", "show", "x", "--db", str(bogus)]):
        result = cli(*args)
        assert result.returncode == 1
        assert "not a usable agentops-otel store" in result.stderr and "Traceback" not in result.stderr


def test_a_store_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = cli("projects", "create", "p", "--db", str(blocked / "sub" / "x.db"))
    assert result.returncode == 1
    assert "agentops-otel: error:" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2() -> None:
    for args in (
        ["sessions", "--limit", "many"],
        ["sessions", "--limit", "-1"],
        [],
        ["sessions", "watch", "--interval", "0"],
    ):
        assert cli(*args).returncode == 2, args


def test_serve_without_server_extra_explains() -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None; sys.modules['starlette'] = None\n"
        "from agentops_otel.cli import main; sys.exit(main(['serve', '--port', '0']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ
    )
    assert result.returncode == 1
    assert "agentops-opentelemetry[server]" in result.stderr and "dashboard" not in result.stderr
