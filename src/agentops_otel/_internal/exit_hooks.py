"""End states at exit: interpreter exit, uncaught exceptions, SIGINT and SIGTERM.

Every hook chains to what was there before (``sys.excepthook``, signal handlers) and never changes the
exit code: for SIGTERM with the default action, the handler ends the session, flushes within the
deadline, restores the default action and sends itself the signal again.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import traceback
from types import FrameType, TracebackType
from typing import Protocol

from agentops_otel import _daemon, _sdk_compat
from agentops_otel._errors import describe_exception
from agentops_otel._internal import signal_watch

logger = logging.getLogger("agentops_otel")


class _Owner(Protocol):
    @property
    def shutdown_timeout(self) -> float: ...
    def _end_at_exit(self, end_state: str, reason: str) -> None: ...
    def _shutdown_at_exit(self) -> None: ...
    def _settled(self) -> bool:
        """False while a forked child's at-fork hooks have not yet given it state of its own."""
        ...


_installed = False
_owner: _Owner | None = None
_signal_seen: str | None = None  # a signal whose handler did not end the process by itself
_uncaught: BaseException | None = None  # the exception that ended the program, as our excepthook saw it


def install(owner: _Owner, *, handle_sigterm: bool = True) -> None:
    """Install the hooks once per process; later calls only change the owner."""
    global _installed, _owner
    _owner = owner
    if _installed:
        return
    _installed = True
    atexit.register(_at_exit)
    _chain_excepthook()
    if threading.current_thread() is threading.main_thread():
        if handle_sigterm:
            _chain_signal(signal.SIGTERM, "SIGTERM")
        _chain_custom_sigint()
    else:
        logger.debug("agentops_otel: init outside the main thread; signal handlers not installed")


def _signal_reason(label: str) -> str:
    return f"{label}: the process received {label}"


def _at_exit() -> None:
    owner = _owner
    if owner is None:
        return
    try:
        # An uncaught exception that our excepthook did not see (the program replaced sys.excepthook
        # after init) is still on record as sys.last_value.
        last = getattr(sys, "last_value", None)
        if _signal_seen is not None:
            owner._end_at_exit("Fail", _signal_reason(_signal_seen))
        elif isinstance(last, BaseException) and not isinstance(last, SystemExit):
            owner._end_at_exit("Fail", describe_exception(last))
        else:
            owner._end_at_exit("Indeterminate", "the process exited without end_session() being called")
        owner._shutdown_at_exit()
    except Exception:
        logger.debug("agentops_otel: exit hook failed", exc_info=True)
    last = getattr(sys, "last_value", None)
    interactive = hasattr(sys, "ps1") or sys.flags.interactive
    if isinstance(last, KeyboardInterrupt) and last is _uncaught and not interactive:
        _sdk_compat.restore_keyboard_interrupt_exit()


def _chain_excepthook() -> None:
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        global _uncaught
        _uncaught = value
        try:
            owner = _owner
            if owner is not None:
                reason = describe_exception(value)
                if _signal_seen is not None:
                    reason = f"{_signal_reason(_signal_seen)}; then {reason}"
                elif not isinstance(value, KeyboardInterrupt):
                    detail = "".join(traceback.format_exception(kind, value, tb, limit=20))
                    reason = f"{reason}\n{detail}"
                owner._end_at_exit("Fail", reason)
        except Exception:
            logger.debug("agentops_otel: excepthook failed", exc_info=True)
        previous(kind, value, tb)

    sys.excepthook = excepthook


def _chain_signal(signum: signal.Signals, label: str) -> None:
    """Put our handler in front of the one there."""
    previous = signal.getsignal(signum)
    if previous is signal.SIG_IGN or previous is None:
        return  # ignored, or set from C: not ours to touch
    handling = False

    def handler(received: int, frame: FrameType | None) -> None:
        global _signal_seen
        nonlocal handling
        _signal_seen = label
        if callable(previous):
            # The user's handler decides what happens; if it exits, the exit hook names the signal.
            previous(received, frame)
            return
        signal_watch.handler_started()
        if handling:
            return  # sent again while we end the session (by signal_watch, or an impatient user)
        handling = True
        # Default action: end the session, deliver what we can within the deadline, then die of the
        # same signal so the exit status is what it would have been.
        owner = _owner
        # A child still inside its at-fork hooks (a Pool terminated while its worker was being born)
        # has nothing of its own to end or deliver, and starting a thread there may hang: just die.
        if owner is not None and owner._settled():
            # On a thread of its own: the code this signal interrupted may hold a lock that ending the
            # session needs (a span processor's, ours); then the worst case is spans lost, not a hang.
            def finish() -> None:
                try:
                    owner._end_at_exit("Fail", _signal_reason(label))
                    owner._shutdown_at_exit()
                except Exception:
                    logger.debug("agentops_otel: %s handler failed", label, exc_info=True)

            worker = _daemon.thread(finish, "agentops-signal", pause=False)
            worker.start()
            worker.join(owner.shutdown_timeout + 1.0)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    try:
        signal.signal(signum, handler)
    except (ValueError, OSError):
        logger.debug("agentops_otel: cannot install a %s handler", label, exc_info=True)
        return
    if not callable(previous) and signum == signal.SIGTERM:
        signal_watch.own(handler)  # ours ends the process; CPython can lose its call: see signal_watch


def _chain_custom_sigint() -> None:
    # Python's default SIGINT handler raises KeyboardInterrupt, which the excepthook sees. Only a
    # user's own handler (which may exit without raising) needs a wrapper to remember the signal.
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) or previous is signal.default_int_handler:
        return

    def handler(received: int, frame: FrameType | None) -> None:
        global _signal_seen
        _signal_seen = "SIGINT"
        previous(received, frame)

    try:
        signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):
        logger.debug("agentops_otel: cannot chain the SIGINT handler", exc_info=True)
