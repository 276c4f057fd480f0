"""The side-by-side benchmark's machinery, with tiny counts (no timing is asserted): a contender's worker
on the real openai SDK against the canned server on 127.0.0.1 really records LLM spans and delivers
them to the benchmark's backend, so its figures are those of an instrumented call; the canned server
answers as the SDK expects; a backend that is down counts what reaches it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _compare_env as env  # noqa: E402


@pytest.fixture
def provider() -> Iterator[env.CannedProvider]:
    canned = env.CannedProvider()
    try:
        yield canned
    finally:
        canned.stop()


def _worker(tmp_path: Path, contender: str, backend: env.Backend, provider: env.CannedProvider) -> env.Worker:
    environ = env.worker_env(
        tmp_path, contender, backend.url, env.source_tree(None, tmp_path), BENCH_PROVIDER=provider.url
    )
    worker = env.Worker(contender, contender, Path(sys.executable), environ)
    why = worker.start(timeout=90)
    assert why == "", why
    return worker


def test_ours_records_each_call_and_delivers_it(tmp_path: Path, provider: env.CannedProvider) -> None:
    backend = env.Backend("up")
    worker = _worker(tmp_path, "ours", backend, provider)
    try:
        shapes = worker.ask("probe")
        for mode in ("sync", "stream", "async"):
            seen = {**shapes[mode]["start"], **shapes[mode]["end"]}
            assert seen["gen_ai.request.model"] == "gpt-4o-mini", (mode, seen)
            assert seen["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18", (mode, seen)
            assert seen["gen_ai.usage.input_tokens"] == 21, (mode, seen)
            assert seen["agentops.span.kind"] == "llm", (mode, seen)
        assert shapes["tool"]["start"]["agentops.span.kind"] == "tool"
        sample = worker.ask("run", mode="stream", calls=3)
        assert sample["wall"] > 0 and sample["cpu"] > 0
        worker.ask("settle")
        assert backend.requests() > 0  # exports reached the benchmark's backend
        worker.quit()
    finally:
        worker.kill()
        backend.stop()


def test_a_backend_that_is_down_counts_attempts_and_the_floor_still_runs(
    tmp_path: Path, provider: env.CannedProvider
) -> None:
    backend = env.Backend("down")
    worker = _worker(tmp_path, "bare", backend, provider)
    try:
        for mode in ("sync", "stream", "async", "tool"):
            sample = worker.ask("run", mode=mode, calls=2)
            assert set(sample) == {"wall", "cpu", "proc"}
        worker.ask("settle")
        assert backend.requests() >= 1  # the stock exporter tried, and the down backend counted it
    finally:
        worker.kill()
        backend.stop()


def test_the_canned_server_answers_a_completion_and_a_stream_with_usage(provider: env.CannedProvider) -> None:
    import openai

    client = openai.OpenAI(api_key="sk-test", base_url=provider.url + "/v1", max_retries=0)
    done = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert done.choices[0].message.content == "Hello there!"
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert len(chunks) == 12 and chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 21


def _bench_inprocess(*args: str) -> str:
    """The output of ``bench_inprocess.py ARGS`` in a process of its own (it calls ``init()``), with
    this checkout's package and none of the host's AGENTOPS_/OTEL_ settings."""
    import os
    import subprocess

    env_vars = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    env_vars["PYTHONPATH"] = str(BENCH.parent / "src")
    return subprocess.run(
        [sys.executable, str(BENCH / "bench_inprocess.py"), *args],
        env=env_vars,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout


def test_the_in_process_benchmark_runs_every_cell_and_reports_them(tmp_path: Path) -> None:
    """``bench_inprocess.py calls`` (tiny counts): ours, both floors and contrib openai-v2 as variants
    of one process; every mode's row is printed, with ratios to the floor and to contrib."""
    pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    out = _bench_inprocess("calls", "--rounds", "2", "--calls", "2")
    assert "| mode | uninstrumented | bare | same | ours | contrib | contrib+u |" in out, out
    for mode in ("sync", "stream", "async", "tool"):
        assert f"| {mode} |" in out
        assert f"\n  {mode}: " in out
    # A ratio is printed only where its floor's median added cost is above zero: with two calls a
    # sample that holds for the tool call alone (no SDK call whose own spread can swamp the floor).
    assert "\n  tool: ours / same = " in out, out
    assert "stream without the usage tap: added " in out


def test_bytecode_counts_name_where_ours_spends_beyond_the_floor() -> None:
    """``bench_inprocess.py bytecodes`` (two calls a cell, in a process of its own: it calls init()):
    every mode's added bytecodes for the floor and ours, and the functions where ours executes more
    than the floor, ours among them."""
    import re

    out = _bench_inprocess("bytecodes", "--calls", "2", "--top", "5")
    for mode in ("sync", "stream", "async", "tool"):
        found = re.search(rf"^{mode}: same attrs ([\d,]+)  ours ([\d,]+)  ours / same [\d.]+$", out, re.M)
        assert found is not None, out
        assert all(int(x.replace(",", "")) > 0 for x in found.groups()), found.group(0)
        listed = out.split(found.group(0), 1)[1].split("\n")[1:6]
        assert any("agentops_otel/" in line for line in listed), listed


def test_instruction_counts_are_read_per_cell_from_callgrind_dumps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cell j's loop is callgrind dump 2j+2 (dumped at the markers around it), of the caller's thread
    (thread 1). Synthetic dump files, named as callgrind writes them with --separate-threads=yes."""
    import bench_inprocess

    cells = [[m, v] for m in ("sync", "stream", "async", "tool") for v in ("off", "bare", "same", "ours")]
    for j, (_mode, variant) in enumerate(cells):
        per_call = {"off": 1000, "bare": 1100, "same": 1200, "ours": 1300}[variant]
        (tmp_path / f"cg.out.{2 * j + 2}-01").write_text(f"events: Ir\ntotals: {per_call * 10}\n")
        (tmp_path / f"cg.out.{2 * j + 2}-02").write_text("events: Ir\ntotals: 5000\n")
        (tmp_path / f"cg.out.{2 * j + 3}-01").write_text("events: Ir\ntotals: 99999999\n")  # between cells
    bench_inprocess._report_instructions(tmp_path, {"cells": cells, "calls": 10, "peers": []})
    out = capsys.readouterr().out
    # added over off: bare 100, same 200, ours 300 instructions (0.1, 0.2, 0.3 thousand) on the caller's
    # thread; the other thread's dumps and the segments between cells are not counted
    assert "| sync | 1.0 | 0.1 | 0.2 | 0.3 | 1.50 | n/a |" in out, out
