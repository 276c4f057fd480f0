"""The backend's limits, and reading a request body within them.

Every limit is a number here with a documented default (docs/backend.md, "Limits"), and every breach is
a 4xx that says which limit: nothing a client sends can make the server use unbounded memory or time,
or answer 500.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import anyio
from starlette.requests import ClientDisconnect, Request

from agentops_otel.backend import DEFAULT_MAX_BODY, DEFAULT_MAX_INFLIGHT
from agentops_otel.backend.errors import Refused

#: Most ``tag`` filters one ``GET /api/sessions`` takes (each is a clause of one SQL query).
MAX_TAG_FILTERS = 50
#: Largest ``offset`` of ``GET /api/sessions``.
MAX_OFFSET = 1_000_000_000
#: Largest body of ``POST /v3/auth/token`` (``{"api_key": "<uuid>"}`` is 50 bytes).
MAX_TOKEN_BODY = 4096
#: Longest ``tag`` filter value (longer is a 400).
MAX_TAG_LENGTH = 1024


@dataclass(frozen=True)
class Limits:
    """What one ``serve`` accepts. Times are seconds."""

    #: Largest OTLP request body, compressed or not, and after decompression (bytes).
    max_body: int = DEFAULT_MAX_BODY
    #: Ingest requests being decoded and stored at once; past it, 503 + Retry-After.
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    #: Longest a request body may take to arrive, from its first byte to its last (then 408).
    body_timeout: float = 30.0
    #: Longest a client may take to send a request's line and headers, on a new or kept-alive
    #: connection (then the connection is closed). A client that trickles them holds nothing longer.
    header_timeout: float = 10.0
    #: Idle time after which a kept-alive connection is closed.
    keep_alive: float = 5.0
    #: Open connections past which new requests get 503 (uvicorn's ``limit_concurrency``).
    max_connections: int = 1000
    #: Bytes of request bodies held in memory at once, all requests together; past it, 503.
    body_budget: int = 8 * DEFAULT_MAX_BODY

    def __post_init__(self) -> None:
        if self.body_budget < self.max_body:
            object.__setattr__(self, "body_budget", self.max_body)


class BodyBudget:
    """The bytes of request bodies held at once (touched on the event loop only, so no lock)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.held = 0

    def take(self, size: int) -> None:
        if self.held + size > self.total:
            raise Refused(
                503, "the server holds too many request bodies; retry later", retry_after=1, close=True
            )
        self.held += size

    def give(self, size: int) -> None:
        self.held -= size


async def read_body(request: Request, limit: int, timeout: float, budget: BodyBudget) -> bytes:
    """The whole body, at most ``limit`` bytes, arrived within ``timeout`` seconds (else 408): 413 past
    the limit, before reading when ``Content-Length`` says so. Counted in ``budget`` while it is read;
    the caller gives the returned body's size back."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit() or len(length) > 18:
            raise Refused(400, "invalid Content-Length", close=True)
        if int(length) > limit:
            raise Refused(413, f"body over the limit of {limit} bytes", close=True)
    chunks = bytearray()
    held = 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                budget.take(len(chunk))
                held += len(chunk)
                chunks += chunk
                if len(chunks) > limit:
                    raise Refused(413, f"body over the limit of {limit} bytes", close=True)
    except TimeoutError:
        budget.give(held)
        raise Refused(408, f"the body did not arrive within {timeout:g} s", close=True) from None
    except ClientDisconnect:
        budget.give(held)
        raise Refused(400, "the client closed the connection before sending the whole body") from None
    except BaseException:
        budget.give(held)
        raise
    return bytes(chunks)


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """``body`` decompressed (gzip, every member of it, or zlib's deflate), at most ``limit`` bytes:
    400 for a body that is not valid, 413 past the limit (a small bomb stops there)."""
    wbits = 31 if encoding == "gzip" else 15
    out = bytearray()
    rest = body
    while True:
        inflater = zlib.decompressobj(wbits=wbits)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise Refused(400, f"body is not valid {encoding}: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise Refused(413, f"decompressed body over the limit of {limit} bytes")
        if not inflater.eof:
            raise Refused(400, f"truncated {encoding} body")
        rest = inflater.unused_data
        # gzip allows several members one after the other (RFC 1952 2.2), and zero bytes of padding.
        if encoding != "gzip" or not rest.strip(b"\0"):
            if rest.strip(b"\0"):
                raise Refused(400, f"data after the end of the {encoding} stream")
            return bytes(out)
