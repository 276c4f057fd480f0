"""Our background threads: daemon threads that never take the process's signals, and that hand the
GIL back before their first piece of work.

Signals: CPython runs a Python signal handler (ours for SIGTERM, the user's, the default SIGINT one)
only on the main thread, but the kernel hands a signal sent to the process to any thread that does not
block it. A signal taken by one of our threads only marks the handler as due; a main thread asleep in a
call that no signal interrupts then (``SemLock.acquire`` in an idle ``multiprocessing.Pool`` worker)
never runs it: ``Pool.terminate()`` waited forever for a worker that had taken its SIGTERM on our
export thread. So our threads start with every asynchronous signal blocked; only the threads the
program had before us take them. Fault signals (SIGSEGV and the like) stay open: they go to the thread
that caused them, and blocking them would kill the process instead of running faulthandler.

GIL: ``Thread.start()`` returns once the new thread is running, and a new thread that goes straight
into work (importing urllib3 or psutil, reading the price table) keeps the GIL until it blocks or the
switch interval (5 ms) passes, all that time with the starter waiting. ``init()`` starts several of
these, so each begins with a short sleep: the starter carries on at once and the work runs beside it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

# Long enough for the starter, woken by the new thread, to take the GIL; short next to any work here.
_YIELD_S = 0.0005

_FAULTS = {"SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGABRT", "SIGSYS", "SIGPIPE"}
#: The signals our threads block (none where the platform has no per-thread signal masks).
BLOCKED: frozenset[int] = (
    frozenset(
        s for s in signal.valid_signals() if getattr(s, "name", "") not in _FAULTS | {"SIGKILL", "SIGSTOP"}
    )
    if hasattr(signal, "pthread_sigmask")
    else frozenset()
)


class _Thread(threading.Thread):
    def start(self) -> None:
        if not BLOCKED:
            super().start()
            return
        # A new thread inherits its starter's mask: block here, for as long as starting takes, so the
        # thread never has a moment with the signals open. A signal sent meanwhile waits for the
        # restore below and then goes to the starter, as it would have without us.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def thread(target: Callable[[], object], name: str, *, pause: bool = True) -> threading.Thread:
    """A daemon thread (not started) named ``name`` (ours are ``agentops-*``) that runs ``target``
    with the process's signals blocked; with ``pause``, after yielding the GIL to its starter."""

    def run() -> None:
        if pause:
            time.sleep(_YIELD_S)
        target()

    return _Thread(target=run, name=name, daemon=True)
