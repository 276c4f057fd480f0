"""Child processes join the session: multiprocessing with fork and spawn, Pool and ProcessPoolExecutor.
Real processes export to the real backend; each check reads GET /api/sessions/{id}."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from backend_fixtures import ApiClient, BackendServer
from core_helpers import run_script
from process_fixtures import assert_one_trace, backend_env, spans_named, wait_for_session

SCRIPT = """
import json, multiprocessing as mp, os, sys
from concurrent.futures import ProcessPoolExecutor
from opentelemetry import trace
import agentops_otel
from agentops_otel import tool

@tool(name="square")
def square(x):
    trace.get_current_span().set_attribute("worker.pid", os.getpid())
    return x * x

def work(x):
    return square(x)

class Subclassed(mp.Process):  # no target: run() is overridden
    def run(self):
        square(100)

if __name__ == "__main__":
    mp.set_start_method(os.environ["START_METHOD"])
    sid = agentops_otel.init(instrument_llm_calls=False)
    results = []
    with trace.get_tracer("app").start_as_current_span("fan-out") as fan:
        p = mp.Process(target=work, args=(3,))
        p.start(); p.join()
    q = Subclassed()
    q.start(); q.join()
    with mp.Pool(2) as pool:                       # __exit__ terminates the workers (SIGTERM)
        results += pool.map(work, range(5, 9))
    with ProcessPoolExecutor(2) as executor:       # workers return, then exit
        results += list(executor.map(work, range(10, 13)))
    agentops_otel.end_session("Success")
    print(json.dumps({"sid": sid, "pid": os.getpid(), "results": results,
                      "fan_out": format(fan.get_span_context().span_id, "016x"),
                      "exitcodes": [p.exitcode, q.exitcode]}))
"""

METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


@pytest.mark.parametrize("method", METHODS)
def test_workers_join_the_session(
    method: str, tmp_path: Path, backend: BackendServer, api: ApiClient, project: dict[str, str]
) -> None:
    proc = run_script(
        SCRIPT, tmp_path, env={**backend_env(backend, project), "START_METHOD": method}, timeout=90
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    expected_inputs = [3, 100, 5, 6, 7, 8, 10, 11, 12]
    assert out["results"] == [x * x for x in [5, 6, 7, 8, 10, 11, 12]]
    assert out["exitcodes"] == [0, 0]

    # root + fan-out + one tool span per call, every one of them delivered by the process that made it
    session = wait_for_session(
        api, project, out["sid"], lambda s: s["span_count"] >= 2 + len(expected_inputs) and s["end_time"]
    )
    assert session["span_count"] == 2 + len(expected_inputs)
    assert session["tool_calls"] == len(expected_inputs)
    assert session["end_state"] == "Success" and session["errors"] == 0
    assert_one_trace(session)
    squares = spans_named(session, "execute_tool square")
    assert len(squares) == len(expected_inputs)
    pids = {s["attributes"]["worker.pid"] for s in squares}
    assert out["pid"] not in pids and len(pids) >= 3  # the Process, the subclass, and pool workers
    root = spans_named(session, "agentops.session")[0]
    by_parent = {s["parent_span_id"] for s in squares}
    # The first process was started inside "fan-out": its span hangs there; the others under the root.
    assert out["fan_out"] in by_parent and root["span_id"] in by_parent
    assert by_parent <= {out["fan_out"], root["span_id"]}


def test_enable_disable_is_reversible() -> None:
    from multiprocessing.process import BaseProcess

    from agentops_otel._internal import processes
    from agentops_otel._internal.client import get_client, join_spawned

    host = get_client()
    was = processes.is_enabled()
    processes.disable()
    try:
        bare = {name: BaseProcess.__dict__[name] for name in ("start", "_bootstrap")}
        assert all(not hasattr(f, "__wrapped__") for f in bare.values())
        processes.enable(host, join_spawned)
        processes.enable(host, join_spawned)  # idempotent: wrapped once
        wrapped = BaseProcess.__dict__["start"]
        assert wrapped.__wrapped__ is bare["start"]
        processes.disable()
        assert BaseProcess.__dict__["start"] is bare["start"]
        assert BaseProcess.__dict__["_bootstrap"] is bare["_bootstrap"]
    finally:
        if was:
            processes.enable(host, join_spawned)
        assert was == processes.is_enabled()


NO_SESSION = """
import json, multiprocessing as mp, os
import agentops_otel

def child(q):
    q.put(agentops_otel.current_session_id())

if __name__ == "__main__":
    mp.set_start_method(os.environ["START_METHOD"])
    agentops_otel.init(instrument_llm_calls=False, auto_start_session=False)
    q = mp.Queue()
    p = mp.Process(target=child, args=(q,)); p.start(); p.join()
    print(json.dumps({"child": q.get(timeout=10), "code": p.exitcode}))
"""


@pytest.mark.parametrize("method", METHODS)
def test_no_session_no_change(method: str, tmp_path: Path) -> None:
    proc = run_script(
        NO_SESSION, tmp_path, env={"START_METHOD": method, "AGENTOPS_DB": str(tmp_path / "s.db")}
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"child": None, "code": 0}
