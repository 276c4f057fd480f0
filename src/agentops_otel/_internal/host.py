"""The host environment recorded on a session root, with semantic-convention names where they exist.

Collected once per process (about 2 ms, plus psutil's import the first time) on a background thread,
never on the caller's.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from agentops_otel import _daemon

logger = logging.getLogger("agentops_otel")

_cache: dict[str, Any] | None = None
_lock = threading.Lock()


def _collect() -> dict[str, Any]:
    env: dict[str, Any] = {
        "host.name": socket.gethostname(),
        "host.arch": platform.machine(),
        "os.type": platform.system().lower(),
        "os.version": platform.release(),
        "os.description": platform.platform(),
        "process.runtime.name": sys.implementation.name,
        "process.runtime.version": platform.python_version(),
        "process.runtime.description": sys.version.replace("\n", " "),
    }
    try:
        import psutil

        env["host.cpu.count"] = psutil.cpu_count(logical=True) or 0
        env["host.cpu.physical_count"] = psutil.cpu_count(logical=False) or 0
        env["host.memory.total"] = int(psutil.virtual_memory().total)
        disk_root = os.path.abspath(os.sep)
        env["host.disk.total"] = int(psutil.disk_usage(disk_root).total)
    except Exception:  # psutil missing or a restricted /proc: record what we have
        logger.debug("agentops_otel: psutil figures unavailable", exc_info=True)
    return env


def host_environment() -> dict[str, Any]:
    """The host environment (cached after the first call). Never raises."""
    global _cache
    if _cache is None:
        with _lock:
            if _cache is None:
                try:
                    _cache = _collect()
                except Exception:
                    logger.debug("agentops_otel: host environment unavailable", exc_info=True)
                    _cache = {}
    return dict(_cache)


def in_background(callback: Callable[[dict[str, Any]], None]) -> threading.Thread:
    """Collect on a daemon thread and hand the result to ``callback`` there."""

    def run() -> None:
        try:
            callback(host_environment())
        except Exception:
            logger.debug("agentops_otel: host environment callback failed", exc_info=True)

    thread = _daemon.thread(run, "agentops-host-env")
    thread.start()
    return thread
