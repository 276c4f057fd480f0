"""A safety net under our SIGTERM handler: a SIGTERM that CPython never hands to it.

CPython runs a Python signal handler on the main thread, at its next check between bytecodes or when
a blocking call returns EINTR. A signal that lands just before the main thread goes to sleep in a call
that only an EINTR would end (``SemLock.acquire``, which an idle ``multiprocessing.Pool`` worker sits
in) is marked as due and then waits for a check that never comes. With the default action the kernel
kills the process; with a Python handler installed (ours, chained to the default action) the process
lives on. Measured with plain CPython 3.11 and no agentops_otel at all, ``Pool(2)`` with fork and a
Python SIGTERM handler: one ``Pool.terminate()`` in a few thousand waited forever on such a worker.

So, in a ``multiprocessing`` child where our handler took over SIGTERM from the default action
(``processes`` arms this as the child joins the session), this module also sets the signal wakeup fd
(CPython's C handler writes the number of every signal it catches there, whichever thread took it)
and reads it on a thread of ours. When SIGTERM arrives and the handler has not started within
:data:`GRACE` seconds, it sends SIGTERM again, to the main thread itself: its sleep ends with EINTR
and the handler runs. The main process is left alone: its event loops (asyncio, trio) set the wakeup
fd themselves, and trio warns when it finds one set.

Nothing changes for a child whose program set a wakeup fd of its own first (we keep out) or after us
(theirs replaces ours: the net is gone, nothing else). A child forked from a watched one gets a pipe
of its own: SIGTERM is blocked across the fork, so no signal of the child's reaches the parent's pipe.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from agentops_otel import _daemon

logger = logging.getLogger("agentops_otel")

#: How long a SIGTERM may wait for the main thread's handler before the main thread is sent another.
GRACE = 0.25
#: Signals sent again at most, in all (a main thread deep in C code that retries EINTR by itself
#: would otherwise get one every GRACE seconds for as long as it stays there; each one sent is read
#: back from the pipe as one more SIGTERM).
_MAX_NUDGES = 4

_POSIX = (
    hasattr(signal, "pthread_kill") and hasattr(signal, "pthread_sigmask") and hasattr(os, "register_at_fork")
)


class _Watch:
    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.handling = threading.Event()  # set by the handler as it starts
        self.nudges = 0


_ours: object = None  # our SIGTERM handler, where it replaced the default action in this process
_watch: _Watch | None = None
_fork_mask: set[int] | None = None


def own(handler: object) -> None:
    """``handler`` (ours) replaced SIGTERM's default action: the process may be watched while it is
    the one installed."""
    global _ours
    _ours = handler


def handler_started() -> None:
    """Called first thing by our SIGTERM handler: the signal reached it, nothing to do here."""
    watch = _watch
    if watch is not None:
        watch.handling.set()


def arm() -> bool:
    """Watch for SIGTERM that does not reach the handler (main thread only). False when not armed:
    no POSIX signal API, SIGTERM not ours, or the program has a wakeup fd of its own."""
    global _watch
    if not _POSIX or _ours is None or _watch is not None:
        return _watch is not None
    read_fd, write_fd = os.pipe()  # close-on-exec: a program started by exec never sees it
    try:
        os.set_blocking(write_fd, False)  # required by set_wakeup_fd: the C handler must never block
        previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except (ValueError, OSError):
        previous = None
    if previous != -1:
        if previous is not None:
            signal.set_wakeup_fd(previous)  # theirs: keep out
        os.close(read_fd)
        os.close(write_fd)
        return False
    watch = _Watch(read_fd, write_fd)
    _watch = watch
    _daemon.thread(lambda: _read(watch), "agentops-signal-watch", pause=False).start()
    return True


def _read(watch: _Watch) -> None:
    while True:
        try:
            data = os.read(watch.read_fd, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGTERM in data and not watch.handling.is_set():
            _nudge(watch)


def _nudge(watch: _Watch) -> None:
    while watch.nudges < _MAX_NUDGES:
        if watch.handling.wait(GRACE):
            return
        main = threading.main_thread().ident
        if main is None or signal.getsignal(signal.SIGTERM) is not _ours:
            return  # a handler of the program's own now: it was called, and what it does is its own
        watch.nudges += 1
        try:
            signal.pthread_kill(main, signal.SIGTERM)  # to the main thread alone: its sleep ends in EINTR
        except (OSError, ValueError):
            logger.debug("agentops_otel: cannot hand SIGTERM to the main thread", exc_info=True)
            return


def _before_fork() -> None:
    global _fork_mask
    if _watch is not None:
        _fork_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def _restore_fork_mask() -> None:
    """After a fork, in the parent and in the child: the forking thread's mask as it was before."""
    global _fork_mask
    if _fork_mask is not None:
        mask, _fork_mask = _fork_mask, None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _after_fork_in_child() -> None:
    global _watch
    watch = _watch
    if watch is None:
        return
    _watch = None
    try:
        # The inherited pipe is the parent's: first make its write end here a sink, so that even a
        # wakeup fd we could not reset writes nowhere the parent reads; then a pipe of our own.
        sink = os.open(os.devnull, os.O_WRONLY)
        os.dup2(sink, watch.write_fd)
        os.close(sink)
        os.close(watch.read_fd)
        signal.set_wakeup_fd(-1)
        os.close(watch.write_fd)
        arm()
    except (OSError, ValueError):
        logger.debug("agentops_otel: cannot watch SIGTERM in the child", exc_info=True)
    finally:
        _restore_fork_mask()  # a SIGTERM sent meanwhile arrives now, at this child's own pipe


if _POSIX:
    os.register_at_fork(
        before=_before_fork, after_in_parent=_restore_fork_mask, after_in_child=_after_fork_in_child
    )
