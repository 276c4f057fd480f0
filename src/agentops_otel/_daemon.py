"""Our background threads: daemon threads that hand the GIL back before their first piece of work.

``Thread.start()`` returns once the new thread is running, and a new thread that goes straight into
work (importing urllib3 or psutil, reading the price table) keeps the GIL until it blocks or the switch
interval (5 ms) passes, all that time with the starter waiting. ``init()`` starts several of these, so
each begins with a short sleep: the starter carries on at once and the work runs beside it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Long enough for the starter, woken by the new thread, to take the GIL; short next to any work here.
_YIELD_S = 0.0005


def thread(target: Callable[[], object], name: str) -> threading.Thread:
    """A daemon thread (not started) named ``name`` (ours are ``agentops-*``) that runs ``target``."""

    def run() -> None:
        time.sleep(_YIELD_S)
        target()

    return threading.Thread(target=run, name=name, daemon=True)
