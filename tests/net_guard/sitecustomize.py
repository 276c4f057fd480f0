"""Loaded by child processes of the example tests (on their PYTHONPATH): any connection to an address
off this machine is refused and written to ``$NET_GUARD_LOG``, so a test can assert there was none."""

import os
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_log = os.environ.get("NET_GUARD_LOG")


def _local(address: object) -> bool:
    host = address[0] if isinstance(address, tuple) and address else address
    return not isinstance(host, str) or host.startswith("127.") or host in ("::1", "localhost") or host == ""


def _refuse(address: object) -> None:
    if _log:
        with open(_log, "a") as out:
            out.write(f"{address!r}\n")
    raise OSError(f"net_guard: no connection off this machine ({address!r})")


def connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
        _refuse(address)
    return _connect(self, address)


def connect_ex(self: socket.socket, address: object) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address):
        _refuse(address)
    return _connect_ex(self, address)


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
