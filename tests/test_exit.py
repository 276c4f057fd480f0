"""End states at exit, in real child processes: exit codes must be what they would be without us."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core_helpers import JSONL_EXPORTER, REPO, by_name, interruptible, read_spans, run_script

PRELUDE = (
    JSONL_EXPORTER
    + """
import os, sys, time
import agentops_otel
SPANS = os.environ["SPANS_FILE"]
agentops_otel.init(exporter=JsonLinesExporter(SPANS), instrument_llm_calls=False)
"""
)


def root_of(tmp_path: Path) -> dict:
    roots = list(by_name(read_spans(tmp_path / "spans.jsonl"), "agentops.session"))
    assert len(roots) == 1, roots
    return roots[0]


def run(tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_script(PRELUDE + body, tmp_path, env={"SPANS_FILE": str(tmp_path / "spans.jsonl"), **env})


def test_exit_without_end_session_is_indeterminate(tmp_path: Path) -> None:
    proc = run(tmp_path, "print('done')\n")
    assert proc.returncode == 0, proc.stderr
    root = root_of(tmp_path)
    assert root["attributes"]["agentops.session.end_state"] == "Indeterminate"
    assert "end_session" in root["attributes"]["agentops.session.end_state_reason"]
    assert root["status"] == "UNSET"


def test_uncaught_exception_is_fail_with_the_exception(tmp_path: Path) -> None:
    proc = run(tmp_path, "raise RuntimeError('the tool broke')\n")
    assert proc.returncode == 1
    assert "RuntimeError: the tool broke" in proc.stderr  # the user's traceback still printed
    root = root_of(tmp_path)
    assert root["attributes"]["agentops.session.end_state"] == "Fail"
    assert "RuntimeError: the tool broke" in root["attributes"]["agentops.session.end_state_reason"]
    assert root["status"] == "ERROR"


def test_sys_exit_code_is_kept(tmp_path: Path) -> None:
    proc = run(tmp_path, "sys.exit(7)\n")
    assert proc.returncode == 7
    assert root_of(tmp_path)["attributes"]["agentops.session.end_state"] == "Indeterminate"


def test_explicit_end_is_not_overwritten_at_exit(tmp_path: Path) -> None:
    proc = run(tmp_path, "agentops_otel.end_session('Success')\n")
    assert proc.returncode == 0, proc.stderr
    assert root_of(tmp_path)["attributes"]["agentops.session.end_state"] == "Success"


def signal_script(
    tmp_path: Path, script_text: str, signum: int, timeout: float = 30
) -> subprocess.Popen[str]:
    """Run ``script_text`` until it prints "ready", send it ``signum``, and wait for it to end."""
    script = tmp_path / "script.py"
    script.write_text(script_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    env.update(PYTHONPATH=str(REPO / "src"), SPANS_FILE=str(tmp_path / "spans.jsonl"))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signum)
    proc.wait(timeout=timeout)
    return proc


def _start_and_signal(tmp_path: Path, body: str, signum: int) -> subprocess.Popen[str]:
    return signal_script(tmp_path, PRELUDE + body, signum)


WAIT = "print('ready', flush=True)\nwhile True:\n    time.sleep(0.05)\n"


def test_sigint_is_fail_naming_sigint_with_the_usual_exit_code(tmp_path: Path) -> None:
    proc = _start_and_signal(tmp_path, WAIT, signal.SIGINT)
    assert proc.returncode in (-signal.SIGINT, 130, 1)  # what CPython does for KeyboardInterrupt
    assert "KeyboardInterrupt" in (proc.stderr.read() if proc.stderr else "")
    root = root_of(tmp_path)
    assert root["attributes"]["agentops.session.end_state"] == "Fail"
    assert "SIGINT" in root["attributes"]["agentops.session.end_state_reason"]


def test_sigint_exit_code_matches_a_run_without_the_sdk(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    baseline = signal_script(plain, "import time\n" + WAIT, signal.SIGINT).returncode
    ours = _start_and_signal(tmp_path, WAIT, signal.SIGINT)
    assert ours.returncode == baseline


def test_sigterm_is_fail_naming_sigterm_and_still_kills(tmp_path: Path) -> None:
    proc = _start_and_signal(tmp_path, WAIT, signal.SIGTERM)
    assert proc.returncode == -signal.SIGTERM
    root = root_of(tmp_path)
    assert root["attributes"]["agentops.session.end_state"] == "Fail"
    assert "SIGTERM" in root["attributes"]["agentops.session.end_state_reason"]
    assert root["status"] == "ERROR"


def test_user_sigterm_handler_is_chained(tmp_path: Path) -> None:
    body = (
        "import signal\n"
        "def mine(signum, frame):\n"
        "    print('user handler ran', flush=True)\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, mine)\n"
    )
    # The user's handler is installed before init, as in most programs.
    prelude_first = (
        JSONL_EXPORTER
        + "import os, sys, time, signal\n"
        + body
        + (
            "import agentops_otel\n"
            "agentops_otel.init(exporter=JsonLinesExporter(os.environ['SPANS_FILE']), instrument_llm_calls=False)\n"
        )
    )
    proc = signal_script(tmp_path, prelude_first + WAIT, signal.SIGTERM)
    assert proc.returncode == 3
    assert proc.stdout is not None and "user handler ran" in proc.stdout.read()
    root = root_of(tmp_path)
    assert root["attributes"]["agentops.session.end_state"] == "Fail"
    assert "SIGTERM" in root["attributes"]["agentops.session.end_state_reason"]


def test_user_excepthook_still_runs(tmp_path: Path) -> None:
    body = "def hook(kind, value, tb):\n    print('user hook:', value, flush=True)\nsys.excepthook = hook\n"
    prelude_first = (
        JSONL_EXPORTER
        + "import os, sys\n"
        + body
        + (
            "import agentops_otel\n"
            "agentops_otel.init(exporter=JsonLinesExporter(os.environ['SPANS_FILE']), instrument_llm_calls=False)\n"
            "raise ValueError('boom')\n"
        )
    )
    proc = run_script(prelude_first, tmp_path, env={"SPANS_FILE": str(tmp_path / "spans.jsonl")})
    assert proc.returncode == 1
    assert "user hook: boom" in proc.stdout
    assert root_of(tmp_path)["attributes"]["agentops.session.end_state"] == "Fail"


def test_hung_exporter_does_not_hold_exit_past_the_deadline(tmp_path: Path) -> None:
    body = """
import time
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SpanExporter
import agentops_otel

class Hung(SpanExporter):
    def export(self, spans):
        time.sleep(120)

agentops_otel.init(exporter=Hung(), shutdown_timeout=1.0, instrument_llm_calls=False)
tracer = trace.get_tracer("app")
for i in range(100):
    tracer.start_span(f"s{i}").end()
print("bye", flush=True)
"""
    started = time.monotonic()
    proc = run_script(body, tmp_path, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    # Without the deadline this would take the exporter's 120 s; the bound here is generous on purpose.
    assert elapsed < 30
    assert "not delivered" in proc.stderr


@pytest.mark.parametrize("preset", ["none", "sdk"])
def test_provider_is_created_only_when_none_is_set(tmp_path: Path, preset: str) -> None:
    body = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import agentops_otel
mine = None
if PRESET == "sdk":
    mine = TracerProvider()
    mem = InMemorySpanExporter()
    mine.add_span_processor(SimpleSpanProcessor(mem))
    trace.set_tracer_provider(mine)
agentops_otel.init(exporter=InMemorySpanExporter(), instrument_llm_calls=False)
provider = trace.get_tracer_provider()
print("kept" if provider is mine else "created:" + type(provider).__name__)
trace.get_tracer("x").start_span("user-span").end()
agentops_otel.end_session()
if mine is not None:
    print(sorted(s.name for s in mem.get_finished_spans()))
""".replace("PRESET", repr(preset))
    proc = run_script(body, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    if preset == "sdk":
        assert lines[0] == "kept"
        assert "user-span" in lines[1] and "agentops.session" in lines[1]
    else:
        assert lines[0] == "created:TracerProvider"
    assert "Overriding" not in proc.stderr


def test_sigterm_while_our_lock_is_held_still_exits(tmp_path: Path) -> None:
    # The signal lands while the main thread is inside the export processor's wake-up (holding the
    # lock of its Event): ending the session there would deadlock; the process must still die.
    body = (
        "agentops_otel.get_client().export_processor._wake._cond.acquire()\n"
        "print('ready', flush=True)\n"
        "while True:\n    time.sleep(0.05)\n"
    )
    prelude = PRELUDE.replace(
        "instrument_llm_calls=False)", "instrument_llm_calls=False, shutdown_timeout=0.5)"
    )
    proc = signal_script(tmp_path, prelude + body, signal.SIGTERM, timeout=60)
    # Without the guard this never returns (the wait times out); with it, about 1.5 s.
    assert proc.returncode == -signal.SIGTERM


def test_keyboard_interrupt_right_after_init_keeps_the_exit_code(tmp_path: Path) -> None:
    # CPython exits 130 (or dies of SIGINT) after an unhandled KeyboardInterrupt, unless code run at
    # exit (some imports do) resets its record of it: nothing of ours may do that.
    plain = run_script("raise KeyboardInterrupt\n", tmp_path)
    body = "import agentops_otel\nagentops_otel.init(db_path=DB)\nraise KeyboardInterrupt\n".replace(
        "DB", repr(str(tmp_path / "store.db"))
    )
    for _ in range(3):
        assert run_script(body, tmp_path).returncode == plain.returncode


def test_uncaught_exception_is_fail_even_when_the_excepthook_was_replaced_after_init(tmp_path: Path) -> None:
    body = "sys.excepthook = lambda kind, value, tb: print('mine:', value, flush=True)\nraise ValueError('late hook')\n"
    proc = run(tmp_path, body)
    assert proc.returncode == 1
    assert "mine: late hook" in proc.stdout
    root = root_of(tmp_path)
    assert root["attributes"]["agentops.session.end_state"] == "Fail"
    assert "ValueError: late hook" in root["attributes"]["agentops.session.end_state_reason"]


def test_keyboard_interrupt_keeps_the_exit_code_with_an_https_backend(tmp_path: Path) -> None:
    # The exporter of an https endpoint imports ssl on its worker thread, which can finish after the
    # interrupt and so clear CPython's record of it; the exit hook restores it.
    plain = run_script("raise KeyboardInterrupt\n", tmp_path)
    body = "import agentops_otel\nagentops_otel.init()\nraise KeyboardInterrupt\n"
    env = {
        "AGENTOPS_API_ENDPOINT": "https://127.0.0.1:9",
        "AGENTOPS_API_KEY": "k",
        "AGENTOPS_SHUTDOWN_TIMEOUT": "0.3",
    }
    for _ in range(3):
        assert run_script(body, tmp_path, env=env).returncode == plain.returncode


def test_a_keyboard_interrupt_the_program_handled_changes_nothing(tmp_path: Path) -> None:
    body = "try:\n    raise KeyboardInterrupt\nexcept KeyboardInterrupt:\n    pass\n"
    proc = run(tmp_path, body)
    assert proc.returncode == 0, proc.stderr
    assert root_of(tmp_path)["attributes"]["agentops.session.end_state"] == "Indeterminate"


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no per-thread signal masks")
def test_signals_to_the_process_are_never_taken_by_our_threads(tmp_path: Path) -> None:
    # CPython runs Python handlers on the main thread only: a signal one of our threads took would
    # wait for a main thread that may sleep where no signal wakes it (an idle Pool worker's
    # SemLock.acquire: Pool.terminate() then hung). With the main thread blocking them for a moment,
    # a signal sent to the process must stay pending, not be consumed by our export, heartbeat or
    # host-environment thread.
    body = (
        "import json, signal, threading\n"
        "signal.signal(signal.SIGUSR1, lambda *a: print('user handler ran', flush=True))\n"
        "agentops_otel.get_client().flush(5)\n"
        "ours = sorted(t.name for t in threading.enumerate() if t.name.startswith('agentops'))\n"
        "sent = {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1}\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, sent)\n"
        "for s in sent:\n    os.kill(os.getpid(), s)\n"
        "time.sleep(0.5)  # time enough for any thread that can take them to wake and do so\n"
        "pending = sorted(int(s) for s in signal.sigpending())\n"
        "print(json.dumps({'ours': ours, 'pending': pending}), flush=True)\n"
        "for s in (signal.SIGTERM, signal.SIGINT):\n    signal.signal(s, signal.SIG_IGN)\n"
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, sent)  # SIGUSR1 now runs the user's handler\n"
        "time.sleep(0.05)\n"
        "os._exit(0)\n"
    )
    proc = run(tmp_path, body)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    out = json.loads(lines[0])
    assert "agentops-otel-export" in out["ours"], out
    assert out["pending"] == sorted([signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
    assert lines[1:] == ["user handler ran"]


NEEDS_FORK = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork here")

# CPython can lose a call to a Python signal handler: the signal is taken (here, on purpose, by a
# thread of the program's) while the main thread sleeps where only EINTR wakes it. Under the default
# action the kernel kills the process; under ours a multiprocessing child must die all the same
# (signal_watch): Pool.terminate() waits for its workers without a timeout.
LOST_SIGTERM = """
import multiprocessing as mp, queue, signal, threading
def lose_a_sigterm():
    print("ours", signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, flush=True)
    lock = mp.Lock(); lock.acquire()
    taker = threading.Thread(target=time.sleep, args=(30,), daemon=True); taker.start()
    threading.Timer(0.3, signal.pthread_kill, (taker.ident, signal.SIGTERM)).start()
    lock.acquire()  # sleeps in sem_wait: only a signal to this thread ends it

def fork_one_then_lose_a_sigterm(results):
    grandchild = mp.Process(target=lose_a_sigterm); grandchild.start(); grandchild.join(20)
    time.sleep(1)  # a SIGTERM byte of the grandchild's read here would end this process now
    results.put(grandchild.exitcode)
    lose_a_sigterm()
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX signals")
@pytest.mark.parametrize(
    "method", [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]
)
def test_a_sigterm_the_handler_never_saw_still_ends_a_child(tmp_path: Path, method: str) -> None:
    body = (
        LOST_SIGTERM
        + "if __name__ == '__main__':\n"
        + f"    mp.set_start_method('{method}')\n"
        + "    child = mp.Process(target=lose_a_sigterm); child.start(); child.join(20)\n"
        + "    print(child.exitcode, flush=True)\n"
        + "    agentops_otel.end_session('Success')\n"
    )
    prelude = PRELUDE.replace("agentops_otel.init(", "if __name__ == '__main__':\n    agentops_otel.init(")
    proc = run_script(prelude + body, tmp_path, env={"SPANS_FILE": str(tmp_path / "spans.jsonl")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ours", "True", str(-signal.SIGTERM)]
    assert root_of(tmp_path)["attributes"]["agentops.session.end_state"] == "Success"


@NEEDS_FORK
def test_a_child_forked_from_a_watched_child_watches_its_own_pipe(tmp_path: Path) -> None:
    body = (
        LOST_SIGTERM
        + "mp.set_start_method('fork')\n"
        + "results = mp.Queue()\n"
        + "child = mp.Process(target=fork_one_then_lose_a_sigterm, args=(results,)); child.start(); child.join(40)\n"
        + "print(results.get(timeout=5), child.exitcode, flush=True)\n"
        + "agentops_otel.end_session('Success')\n"
    )
    proc = run(tmp_path, body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ours", "True"] * 2 + [str(-signal.SIGTERM)] * 2


@NEEDS_FORK
def test_a_childs_own_sigterm_handler_runs_once_per_signal(tmp_path: Path) -> None:
    # A Pool initializer or a child's run() may install a handler of its own: the watch then stays out.
    body = (
        "import multiprocessing as mp, signal\n"
        "def child():\n"
        "    calls = []\n"
        "    signal.signal(signal.SIGTERM, lambda *a: calls.append(1))\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(1.5)  # six times signal_watch.GRACE\n"
        "    print('calls', len(calls), flush=True)\n"
        "mp.set_start_method('fork')\n"
        "p = mp.Process(target=child); p.start(); p.join(20)\n"
        "agentops_otel.end_session('Success')\n"
    )
    proc = run(tmp_path, body)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["calls", "1"]


@NEEDS_FORK
def test_a_sigterm_while_a_child_runs_its_fork_hooks_kills_it_at_once(tmp_path: Path) -> None:
    # Pool.terminate() can reach a worker still inside os.fork's after-in-child hooks (the SDK's
    # provider rebuilds its resource there). Our processors still hold the parent's queue and worker:
    # a flush then waits out shutdown_timeout for a worker that is not there, and reports the
    # parent's spans as lost. The child has nothing of its own yet: it must just die of the signal.
    prelude = (
        JSONL_EXPORTER
        + "import os, signal, sys, time\n"
        # registered before init, so it runs before our processors' own hook in the child
        + "os.register_at_fork(after_in_child=lambda: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(2)))\n"
        + "import agentops_otel\n"
        + "agentops_otel.init(exporter=JsonLinesExporter(os.environ['SPANS_FILE']), instrument_llm_calls=False)\n"
    )
    body = (
        "import multiprocessing as mp\n"
        "from agentops_otel import tool\n"
        "tool(name='before')(lambda: None)()  # a span queued in the parent when it forks\n"
        "mp.set_start_method('fork')\n"
        "child = mp.Process(target=print, args=('child ran',)); child.start(); child.join(20)\n"
        "print('child', child.exitcode, flush=True)\n"
        "agentops_otel.end_session('Success')\n"
    )
    proc = run_script(prelude + body, tmp_path, env={"SPANS_FILE": str(tmp_path / "spans.jsonl")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["child", str(-signal.SIGTERM)]
    assert "not delivered" not in proc.stderr, proc.stderr
    assert root_of(tmp_path)["attributes"]["agentops.session.end_state"] == "Success"
