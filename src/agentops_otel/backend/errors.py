"""Refusals and their bodies: ``google.rpc.Status`` for OTLP (protobuf for a protobuf request, JSON for
any other, as the OTLP specification asks), ``{"error": ...}`` for the REST API; and which store errors
mean "retry later" (503 + ``Retry-After``) rather than a fault of the request or of the server.
"""

from __future__ import annotations

import errno
import json
from typing import Any

from starlette.responses import JSONResponse, Response

#: ``Retry-After`` (seconds) when the store is busy (a lock held by another writer): it clears at once.
BUSY_RETRY_S = 1
#: ``Retry-After`` when the store cannot write at all (disk full, read-only): an operator must act, so a
#: client should wait longer and spool meanwhile.
STUCK_RETRY_S = 30

# HTTP status -> gRPC status code (google.rpc.Code), for Status.code and for OTLP/gRPC.
_GRPC_CODES = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    408: 4,  # DEADLINE_EXCEEDED
    411: 3,
    413: 8,  # RESOURCE_EXHAUSTED
    415: 3,
    429: 8,
    500: 13,  # INTERNAL
    503: 14,  # UNAVAILABLE
}


def grpc_code(status: int) -> int:
    return _GRPC_CODES.get(status, 2)  # UNKNOWN


class Refused(Exception):
    """A request answered with an error: ``status`` (HTTP), a message for the sender, extra headers."""

    def __init__(
        self, status: int, message: str, *, retry_after: int | None = None, close: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.close = close  # the body was not read to its end: the connection cannot be reused

    @property
    def headers(self) -> dict[str, str]:
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        if self.close:
            headers["Connection"] = "close"
        return headers


def status_message(code: int, message: str, retry_after: int | None = None) -> Any:
    """A ``google.rpc.Status``, with a ``RetryInfo`` detail when the sender should retry later."""
    from google.protobuf import any_pb2
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status(code=code, message=message)
    if retry_after is not None:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay={"seconds": retry_after}))
        status.details.append(detail)
    return status


def otlp_error(refused: Refused, protobuf: bool) -> Response:
    """The OTLP/HTTP answer to a refused export."""
    code = grpc_code(refused.status)
    if protobuf:
        status = status_message(code, refused.message, refused.retry_after)
        return Response(
            status.SerializeToString(),
            status_code=refused.status,
            media_type="application/x-protobuf",
            headers=refused.headers,
        )
    # Status in protobuf's JSON mapping; the RetryInfo travels in Retry-After for JSON senders.
    body = json.dumps({"code": code, "message": refused.message}).encode()
    return Response(body, status_code=refused.status, media_type="application/json", headers=refused.headers)


def rest_error(refused: Refused) -> JSONResponse:
    return JSONResponse({"error": refused.message}, status_code=refused.status, headers=refused.headers)


# -- store errors ------------------------------------------------------------------------------------

# SQLite primary result codes (the low byte of sqlite_errorcode, Python 3.11+).
_SQLITE_BUSY = {5, 6}  # BUSY, LOCKED
_SQLITE_STUCK = {8: "read-only", 10: "failing to write (I/O error)", 13: "full", 14: "not writable"}
# PostgreSQL SQLSTATEs: retry soon, or an operator must act.
_PG_BUSY = {"40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03"}
_PG_STUCK = {"53100": "full", "53200": "out of memory", "25006": "read-only"}


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it wraps (SQLAlchemy's ``orig``, ``__cause__``), at most three."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 3:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    return seen


def _sqlite_unavailable(exc: BaseException) -> Refused | None:
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc).lower()
    if code is None:  # Python 3.10: only the message says
        if "locked" in text or "busy" in text:
            code = 5
        elif "disk is full" in text or "database or disk is full" in text:
            code = 13
        elif "readonly" in text or "read-only" in text:
            code = 8
    if code is None:
        return None
    primary = code & 0xFF
    if primary in _SQLITE_BUSY:
        return Refused(503, "the store is busy; retry later", retry_after=BUSY_RETRY_S)
    if primary in _SQLITE_STUCK:
        return Refused(
            503, f"the store is {_SQLITE_STUCK[primary]}: {exc}; retry later", retry_after=STUCK_RETRY_S
        )
    return None


def unavailable(exc: BaseException) -> Refused | None:
    """The 503 to answer when ``exc`` says the store cannot take the request now (busy, full,
    read-only, unreachable), else None."""
    for item in _chain(exc):
        module = type(item).__module__
        if module == "sqlite3":
            found = _sqlite_unavailable(item)
            if found is not None:
                return found
        sqlstate = getattr(item, "sqlstate", None)
        if isinstance(sqlstate, str):
            if sqlstate in _PG_BUSY or sqlstate.startswith("08"):
                return Refused(503, "the store is busy or unreachable; retry later", retry_after=BUSY_RETRY_S)
            if sqlstate in _PG_STUCK:
                reason = _PG_STUCK[sqlstate]
                return Refused(503, f"the store is {reason}; retry later", retry_after=STUCK_RETRY_S)
        if module.startswith("psycopg") and type(item).__name__ in ("OperationalError", "ConnectionTimeout"):
            return Refused(503, "the store is unreachable; retry later", retry_after=BUSY_RETRY_S)
        if module.startswith("sqlalchemy") and type(item).__name__ == "TimeoutError":
            return Refused(503, "the store is busy; retry later", retry_after=BUSY_RETRY_S)
        if isinstance(item, OSError) and item.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            return Refused(
                503, f"the store cannot write: {item.strerror}; retry later", retry_after=STUCK_RETRY_S
            )
    return None


def is_data_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the store refusing a value of the spans it was given (a number out of range,
    text it cannot keep), so that the spans at fault can be found and refused alone."""
    for item in _chain(exc):
        if isinstance(item, (OverflowError, ValueError, TypeError, RecursionError)):
            return True
        name = type(item).__name__
        if type(item).__module__ == "sqlite3" and name in ("DataError", "IntegrityError", "InterfaceError"):
            return True
        sqlstate = getattr(item, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in ("22", "23", "54"):
            return True
    return False
