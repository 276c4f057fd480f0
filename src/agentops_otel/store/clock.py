"""The backend's clock: when a session was last heard from, and "now" when a session is read (whether
its heartbeats stopped). One place, read as ``clock.now_ns()``, so that a test can move it."""

from __future__ import annotations

import time

now_ns = time.time_ns
