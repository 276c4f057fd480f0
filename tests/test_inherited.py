"""Inherited sessions: a child process joins the parent's session by id (argv or environment).
Its spans go under the session's root in the session's trace; it never ends or re-labels the root.
Real processes, the real backend, GET /api/sessions/{id}."""

from __future__ import annotations

import json
from pathlib import Path

from backend_fixtures import ApiClient, BackendServer
from core_helpers import run_script
from process_fixtures import assert_one_trace, backend_env, spans_named, wait_for_session

PARENT = """
import json, os, subprocess, sys
import agentops_otel
from agentops_otel import tool

@tool(name="plan")
def plan():
    return "ok"

sid = agentops_otel.init(instrument_llm_calls=False, tags=["parent"])
plan()
child = os.environ["CHILD_SCRIPT"]
by_argv = subprocess.run([sys.executable, child, "argv", sid], capture_output=True, text=True)
by_env = subprocess.run([sys.executable, child, "env"], capture_output=True, text=True,
                        env={**os.environ, "PARENT_SESSION_ID": sid})
agentops_otel.end_session("Success", "parent finished")
print(json.dumps({"sid": sid, "children": [[r.returncode, r.stdout.strip(), r.stderr[-2000:]] for r in (by_argv, by_env)]}))
"""

CHILD = """
import os, sys
from opentelemetry import trace
import agentops_otel
from agentops_otel import tool

@tool(name="child-work")
def work(how):
    return how

how = sys.argv[1]
if how == "argv":
    joined = agentops_otel.init(inherited_session_id=sys.argv[2], instrument_llm_calls=False)
    work(how)
    with trace.get_tracer("child").start_as_current_span("child-span"):
        work(how + "-nested")
    agentops_otel.end_session("Fail", "a joining process tried to end it")  # must not touch the root
    print(joined)
else:
    agentops_otel.init(auto_start_session=False, instrument_llm_calls=False)
    joined = agentops_otel.start_session(inherited_session_id=os.environ["PARENT_SESSION_ID"])
    work(how)
    print(joined, flush=True)
    raise RuntimeError("the child crashed")  # exit hooks must not end the parent's session as Fail
"""


def test_child_processes_join_without_ending(
    tmp_path: Path, backend: BackendServer, api: ApiClient, project: dict[str, str]
) -> None:
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    proc = run_script(PARENT, tmp_path, env={**backend_env(backend, project), "CHILD_SCRIPT": str(child)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    sid = out["sid"]
    (argv_code, argv_out, argv_err), (env_code, env_out, env_err) = out["children"]
    assert argv_code == 0 and argv_out == sid, argv_err
    assert env_code == 1 and env_out == sid and "the child crashed" in env_err

    # root + plan + (child-work, child-span, child-work nested) + child-work from the crashing child
    session = wait_for_session(api, project, sid, lambda s: s["span_count"] >= 6 and s["end_time"])
    assert session["span_count"] == 6
    assert session["tool_calls"] == 4
    assert session["end_state"] == "Success" and session["end_state_reason"] == "parent finished"
    assert session["tags"] == ["parent"]
    assert session["errors"] == 0
    assert_one_trace(session)
    root = spans_named(session, "agentops.session")
    assert len(root) == 1  # the children never made a root of their own
    child_work = spans_named(session, "execute_tool child-work")
    assert len(child_work) == 3
    child_span = spans_named(session, "child-span")[0]
    parents = sorted(s["parent_span_id"] for s in child_work)
    # Two directly under the session's real root (its span id is the UUID's low 64 bits), one nested.
    assert parents == sorted([root[0]["span_id"], root[0]["span_id"], child_span["span_id"]])
    assert root[0]["span_id"] == sid.replace("-", "")[16:]
    # and the project holds this one session, nothing made by the children on their own
    assert [s["session_id"] for s in api.sessions(api.token(project["api_key"]))] == [sid]
