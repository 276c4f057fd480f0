"""The fault suite, part 1: a backend on 127.0.0.1 that answers badly (docs/reliability.md, the table).

Each case runs the user's program (fault_server.USER_PROGRAM: init, 200 @tool calls, end_session,
flush) in a real child process against a misbehaving fake backend, and asserts what arrived (exactly
once), what the client counted, and that the user's flush and the exit kept their bounds. Durations
are printed (``pytest -s``) and only generous bounds are asserted: this machine is shared and slow.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from fault_server import Behaviour, FaultServer, Run, refused_url, run_user, spool_rows

N = 200
MADE = N + 2  # the tools, the session root and its start marker
SHUTDOWN = 3.0  # AGENTOPS_SHUTDOWN_TIMEOUT of run_user
EXIT_BOUND = SHUTDOWN + 5.0  # what an exit may take at most, with room for a busy machine


@pytest.fixture
def server() -> FaultServer:
    fake = FaultServer()
    yield fake
    fake.close()


def report(case: str, run: Run, server: FaultServer | None = None) -> None:
    requests = len(server.traces_requests()) if server is not None else "-"
    print(
        f"\nFAULT {case}: calls {run.report['calls_s']:.3f} s, flush {run.report['flush_s']:.3f} s "
        f"({run.report['flushed']}), exit {run.exit_s:.2f} s, traces requests {requests}, "
        f"counts {[run.report[k] for k in ('delivered', 'spooled', 'rejected', 'dropped')]}"
    )


def exit_counts(stderr: str) -> dict[str, int]:
    """The figures of the exit line (empty when it was not printed)."""
    found = {}
    for name, pattern in {
        "spooled": r"(\d+) spooled in",
        "lost": r"(\d+) lost",
        "rejected": r"(\d+) rejected by the backend",
        "dropped": r"(\d+) dropped because",
        "delivered": r"(\d+) delivered",
    }.items():
        match = re.search(pattern, stderr)
        if match:
            found[name] = int(match.group(1))
    return found


def replay(tmp_path: Path, url: str) -> Run:
    """A later process with the same endpoint and key (it sends the spool), no spans of its own."""
    return run_user(tmp_path, url, spans=0, end="pass", env={"AGENTOPS_AUTO_START_SESSION": "0"})


def assert_exactly_once(server: FaultServer, made: int = MADE) -> None:
    assert len(server.stored) == made, (len(server.stored), made)
    assert max(server.stored.values()) == 1, "a span arrived twice"


def test_healthy_backend_gets_everything_once(tmp_path: Path, server: FaultServer) -> None:
    run = run_user(tmp_path, server.url)
    report("healthy", run, server)
    assert run.returncode == 0, run.stderr
    assert run.report["flushed"] is True
    assert run.report["delivered"] == MADE
    assert_exactly_once(server)
    assert run.exit_s < EXIT_BOUND


@pytest.mark.parametrize("times", [1, None], ids=["once", "always"])
def test_500_is_retried_then_spooled_never_lost(
    tmp_path: Path, server: FaultServer, times: int | None
) -> None:
    server.behaviour = Behaviour(
        traces=lambda i, names: (500, {}, b"oops") if times is None or i < times else (200, {}, b"")
    )
    run = run_user(tmp_path, server.url)
    report(f"500 {'once' if times else 'always'}", run, server)
    assert run.returncode == 0, run.stderr
    if times is not None:
        assert run.report["flushed"] is True
        assert_exactly_once(server)
        return
    assert run.report["flushed"] is False and run.report["delivered"] == 0
    assert run.report["flush_s"] < 5.0  # at most one attempt, not the whole timeout
    assert run.exit_s < EXIT_BOUND
    assert sum(n for n, _ in spool_rows(tmp_path / "client.db")) == MADE
    assert exit_counts(run.stderr)["spooled"] == MADE and exit_counts(run.stderr)["lost"] == 0
    # A 500 for everything is never split to pieces and rejected: the attempts follow the backoff.
    assert len(server.traces_requests()) < 20
    server.behaviour = Behaviour()
    later = replay(tmp_path, server.url)
    assert later.report["flushed"] is True, later.stderr
    assert_exactly_once(server)


@pytest.mark.parametrize("status", [301, 307, 308])
def test_redirect_is_not_followed_and_nothing_is_lost(
    tmp_path: Path, server: FaultServer, status: int
) -> None:
    elsewhere = FaultServer()
    try:
        server.behaviour = Behaviour(
            traces=lambda i, names: (status, {"Location": elsewhere.url + "/v1/traces"}, b"")
        )
        run = run_user(tmp_path, server.url)
        report(f"redirect {status}", run, server)
        assert run.returncode == 0, run.stderr
        assert elsewhere.seen == []  # the token never went to the other host
        assert run.stderr.count("redirects are not followed") == 1
        assert run.report["flushed"] is False
        assert exit_counts(run.stderr)["spooled"] == MADE
    finally:
        elsewhere.close()


def test_401_right_after_a_fresh_token_refreshes_and_retries_the_same_batch(
    tmp_path: Path, server: FaultServer
) -> None:
    tokens = iter([b'{"token": "tok-1"}', b'{"token": "tok-2"}'])

    def auth(i: int) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, next(tokens, b'{"token": "tok-2"}')

    server.behaviour = Behaviour(auth=auth)
    seen_tokens: list[str] = []

    def traces(i: int, names: list[str]) -> tuple[int, dict[str, str], bytes]:
        token = server.traces_requests()[-1].headers.get("Authorization", "")
        seen_tokens.append(token)
        return (401, {}, b"{}") if token == "Bearer tok-1" else (200, {}, b"")

    server.behaviour.traces = traces
    run = run_user(tmp_path, server.url)
    report("401 after a fresh token", run, server)
    assert run.report["flushed"] is True, run.stderr
    assert_exactly_once(server)
    assert seen_tokens[0] == "Bearer tok-1" and set(seen_tokens[1:]) == {"Bearer tok-2"}


POISON = (
    "from opentelemetry import trace\n"
    "with trace.get_tracer('user').start_as_current_span('poison'):\n    pass\n"
    "agentops_otel.end_session('Success')"
)


@pytest.mark.parametrize("status", [500, 400, 413])
def test_a_span_the_backend_cannot_take_costs_only_itself(
    tmp_path: Path, server: FaultServer, status: int
) -> None:
    server.behaviour = Behaviour(
        traces=lambda i, names: (
            (status, {}, b'{"error": "bad span"}') if "poison" in names else (200, {}, b"")
        )
    )
    run = run_user(tmp_path, server.url, end=POISON)
    report(f"poison span, {status}", run, server)
    assert run.returncode == 0, run.stderr
    assert len(server.stored) == MADE  # every span but the poison one, the session root above all
    assert server.stored_names["agentops.session"] == 1 and "poison" not in server.stored_names
    assert max(server.stored.values()) == 1
    assert run.report["rejected"] == 1 and run.report["delivered"] == MADE
    assert run.report["flushed"] is False  # one span was not delivered
    assert len(server.traces_requests()) < 40  # a bisection, not one request per span
    assert "refused by the backend" in run.stderr


def test_retry_after_is_honoured_while_busy_and_at_exit(tmp_path: Path, server: FaultServer) -> None:
    server.behaviour = Behaviour(traces=lambda i, names: (503, {"Retry-After": "30"}, b""))
    run = run_user(tmp_path, server.url, env={"PACE": "0.01"})  # a busy program for about 2 s
    report("503 Retry-After 30", run, server)
    assert run.returncode == 0, run.stderr
    # The first batch was told to wait 30 s: no further request, not during the run, not at exit.
    assert len(server.traces_requests()) == 1
    assert run.report["flushed"] is False and run.report["flush_s"] < 1.0  # no waiting out 30 s
    assert exit_counts(run.stderr)["spooled"] == MADE
    assert run.exit_s < EXIT_BOUND


def test_short_retry_after_then_everything_arrives(tmp_path: Path, server: FaultServer) -> None:
    server.behaviour = Behaviour(
        traces=lambda i, names: (429, {"Retry-After": "1"}, b"") if i < 2 else (200, {}, b"")
    )
    run = run_user(tmp_path, server.url, env={"FLUSH_TIMEOUT": "10"})
    report("429 Retry-After 1, twice", run, server)
    assert run.report["flushed"] is True, run.stderr
    assert_exactly_once(server)
    gaps = [b.at - a.at for a, b in itertools.pairwise(server.traces_requests())]
    assert gaps[0] >= 0.9 and gaps[1] >= 0.9  # no request before Retry-After passed


RAW_200 = {
    "2 MiB body": b"HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n" + b"x" * 2097152,
    "bad chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFF\r\nabc",
    "negative length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
    "cut short": b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{}",
}


@pytest.mark.parametrize("case", list(RAW_200))
def test_a_2xx_is_final_whatever_its_body(tmp_path: Path, server: FaultServer, case: str) -> None:
    server.behaviour = Behaviour(traces=lambda i, names: RAW_200[case])
    run = run_user(tmp_path, server.url)
    report(f"200 with {case}", run, server)
    assert run.report["flushed"] is True, run.stderr
    assert_exactly_once(server)
    assert len(server.traces_requests()) == len({tuple(s.span_ids) for s in server.traces_requests()})


RAW_BAD = {
    "not HTTP": b"SSH-2.0-OpenSSH_9.2\r\n",
    "120 headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(120)) + b"\r\n",
    "bad status line": b"HTTP/1.1 OK\r\n\r\n",
}


@pytest.mark.parametrize("case", list(RAW_BAD))
def test_unparseable_answers_are_retried_with_backoff_then_spooled(
    tmp_path: Path, server: FaultServer, case: str
) -> None:
    server.behaviour = Behaviour(traces=lambda i, names: RAW_BAD[case])
    run = run_user(tmp_path, server.url, env={"PACE": "0.01"})
    report(f"answer {case}", run, server)
    assert run.returncode == 0, run.stderr
    assert run.report["flushed"] is False
    # About 2 s of run and 3 s of exit: the backoff allows a handful of attempts, not dozens.
    assert len(server.traces_requests()) <= 12
    counts = exit_counts(run.stderr)
    assert counts["spooled"] == MADE and counts["lost"] == 0
    assert run.exit_s < EXIT_BOUND


def test_hung_backend_bounds_flush_and_exit(tmp_path: Path, server: FaultServer) -> None:
    server.behaviour = Behaviour(traces=lambda i, names: None)  # reads the request, never answers
    run = run_user(tmp_path, server.url, env={"FLUSH_TIMEOUT": "2"})
    report("hung", run, server)
    assert run.returncode == 0, run.stderr
    assert run.report["flushed"] is False and run.report["flush_s"] < 2 + 5
    assert run.exit_s < EXIT_BOUND
    assert exit_counts(run.stderr)["spooled"] == MADE


def test_refused_then_replayed_by_the_next_process(tmp_path: Path) -> None:
    url = refused_url()
    run = run_user(tmp_path, url, env={"FLUSH_TIMEOUT": "10"})
    report("refused", run)
    assert run.report["flushed"] is False and run.report["flush_s"] < 5.0  # one attempt, not 10 s
    assert run.exit_s < EXIT_BOUND
    assert exit_counts(run.stderr)["spooled"] == MADE
    server = FaultServer(port=int(url.rsplit(":", 1)[1]))
    try:
        later = replay(tmp_path, url)
        assert later.report["flushed"] is True, later.stderr
        assert_exactly_once(server)
        assert spool_rows(tmp_path / "client.db") == []
    finally:
        server.close()


def test_outage_then_back_loses_nothing(tmp_path: Path) -> None:
    """Down (refused) for the first ~2 s of a 4 s run, then up: everything arrives once."""
    import threading

    url = refused_url()
    port = int(url.rsplit(":", 1)[1])
    holder: list[FaultServer] = []
    timer = threading.Timer(2.0, lambda: holder.append(FaultServer(port=port)))
    timer.start()
    try:
        run = run_user(tmp_path, url, env={"PACE": "0.02", "FLUSH_TIMEOUT": "20"})
        report("refused 2 s, then up", run, holder[0] if holder else None)
        assert holder, "the server never came up"
        assert run.report["flushed"] is True, run.stderr
        assert_exactly_once(holder[0])
    finally:
        timer.cancel()
        for fake in holder:
            fake.close()


@pytest.mark.parametrize(
    "token",
    [b'{"token": "abc\\r\\nX-Injected: yes"}', '{"token": "t\u00f6k\u20ac"}'.encode()],
    ids=["crlf", "non-latin-1"],
)
def test_a_token_that_cannot_be_a_header_is_one_clear_error(
    tmp_path: Path, server: FaultServer, token: bytes
) -> None:
    server.behaviour = Behaviour(token=token)
    run = run_user(tmp_path, server.url)
    report("bad token", run, server)
    assert run.returncode == 0, run.stderr
    assert server.traces_requests() == []  # nothing injected, nothing sent
    assert len(server.auth_requests()) == 1  # and no endless retry
    assert run.stderr.count("returned a token that cannot be sent") == 1
    assert run.report["rejected"] == MADE and run.report["flushed"] is False
    assert exit_counts(run.stderr)["rejected"] == MADE


PROVIDER_CALLS = """
from opentelemetry import trace
provider = trace.get_tracer_provider()
timings = []
for _ in range(2):
    started = time.monotonic()
    result = provider.force_flush()
    timings.append((result, time.monotonic() - started))
started = time.monotonic()
provider.shutdown()
print(json.dumps({"force_flush": timings, "shutdown_s": time.monotonic() - started}), flush=True)
"""


@pytest.mark.parametrize("down", ["refused", "hung"])
def test_provider_force_flush_and_shutdown_keep_their_bounds(
    tmp_path: Path, server: FaultServer, down: str
) -> None:
    """The user's own ``force_flush()`` (30 s default) with the backend down: one attempt, then False;
    ``provider.shutdown()`` keeps ``shutdown_timeout``, not the export timeout."""
    import json

    url = refused_url() if down == "refused" else server.url
    server.behaviour = Behaviour(traces=lambda i, names: None)
    run = run_user(tmp_path, url, spans=10, extra=PROVIDER_CALLS)
    calls = json.loads(run.stdout_rest.strip().splitlines()[-1])
    print(f"\nFAULT provider calls, {down}: {calls}")
    for result, seconds in calls["force_flush"]:
        assert result is False
        assert seconds < 5.0 + 5.0  # at most one attempt (export_timeout 5 s), never the 30 s default
    assert calls["shutdown_s"] < SHUTDOWN + 5.0
