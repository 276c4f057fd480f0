"""The fault suite, part 3: a soak. Four threads of a real program make spans for a while against a
backend that keeps changing its mind (up, 503, 500, silent, refusing Retry-After), then the backend
stays up: every span must arrive exactly once, nothing dropped, and the user's threads never wait.

Marked ``soak``; ``AGENTOPS_SOAK_SECONDS`` sets how long the faults last (CI runs it short, 6 s).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from fault_server import Behaviour, FaultServer, run_user

SOAK_SECONDS = float(os.environ.get("AGENTOPS_SOAK_SECONDS", "6"))

THREADS = """
import threading
stop = time.monotonic() + float(os.environ["SOAK_SECONDS"])
made = [0] * 4
slowest = [0.0] * 4

def work(n):
    while time.monotonic() < stop:
        started = time.monotonic()
        step(n)
        slowest[n] = max(slowest[n], time.monotonic() - started)
        made[n] += 1
        time.sleep(0.002)

threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
agentops_otel.end_session('Success')
with open(os.environ["SOAK_OUT"], "w") as out:  # the backend stops flapping when this appears
    json.dump({"made": sum(made), "slowest_call_s": max(slowest)}, out)
# As a careful user would: a flush says False at the first failed attempt; try again for a while.
give_up = time.monotonic() + 60
while not agentops_otel.get_client().flush(5) and time.monotonic() < give_up:
    time.sleep(0.2)
"""

PHASES = (("up", 0.8), ("503", 0.6), ("up", 0.5), ("500", 0.4), ("silent", 0.5), ("429", 0.4))


def flapping(started: float, until: Path) -> Behaviour:
    """Phases cycling from ``started`` until the file ``until`` exists; then up for good."""
    cycle = sum(length for _, length in PHASES)

    def phase() -> str:
        now = time.monotonic()
        if until.exists():
            return "up"
        at = (now - started) % cycle
        for name, length in PHASES:
            if at < length:
                return name
            at -= length
        return "up"

    def traces(i: int, names: list[str]) -> tuple[int, dict[str, str], bytes] | None:
        current = phase()
        if current == "silent":
            return None  # reads the batch, never answers (the exporter's 1 s timeout ends it)
        return {
            "up": (200, {}, b""),
            "503": (503, {}, b""),
            "500": (500, {}, b"disk full"),
            "429": (429, {"Retry-After": "1"}, b""),
        }[current]

    return Behaviour(traces=traces)


@pytest.mark.soak
def test_soak_under_a_flapping_backend(tmp_path: Path) -> None:
    server = FaultServer()
    out = tmp_path / "soak.json"
    try:
        started = time.monotonic()
        server.behaviour = flapping(started, out)
        run = run_user(
            tmp_path,
            server.url,
            spans=0,
            end=THREADS,
            env={
                "SOAK_SECONDS": str(SOAK_SECONDS),
                "SOAK_OUT": str(out),
                "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
                "FLUSH_TIMEOUT": "60",
            },
            timeout=SOAK_SECONDS + 120,
        )
        program = json.loads(out.read_text())
        print(
            f"\nSOAK {SOAK_SECONDS:.0f} s: {program}, report {run.report}, exit {run.exit_s:.2f} s, "
            f"{len(server.traces_requests())} requests"
        )
        made = program["made"] + 2  # and the session root and marker
        assert run.report["flushed"] is True, run.stderr
        assert run.report["dropped"] == 0 and run.report["rejected"] == 0
        assert len(server.stored) == made and max(server.stored.values()) == 1
        assert run.report["delivered"] == made
        assert program["slowest_call_s"] < 5.0  # the user's threads never wait for the backend
    finally:
        server.close()
