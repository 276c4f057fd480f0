"""bench_pool_terminate's machinery, with a few cycles (no count or time is asserted): each contender
runs its Pool cycles in a process of its own, and the table has a row per contender."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pool_terminate.py"


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="fork")
def test_every_contender_runs_its_cycles_and_prints_a_row() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--cycles", "3", "--stuck", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.strip().splitlines()
    assert header.split() == ["contender", "hangs", "slow", "slowest", "s", "cycles", "cycles/s"]
    assert [row.split()[0] for row in rows] == ["default", "python-handler", "agentops"]
    for row in rows:
        _, hangs, slow, _, cycles, _ = row.split()
        assert int(cycles) == 3 and 0 <= int(hangs) <= 3 and 0 <= int(slow) <= 3
