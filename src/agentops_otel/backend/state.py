"""The app's state: the store, the limits, the bodies held, the ingest slots taken; and who a request
is (its bearer: a token, or the project's API key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from agentops_otel.backend.errors import Refused, unavailable
from agentops_otel.backend.limits import BodyBudget, Limits

_T = TypeVar("_T")


def bearer(value: str) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` value, else None."""
    scheme, _, credential = value.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


class Backend:
    """The app's state: the store, the limits, the bodies held and the ingest slots taken."""

    def __init__(self, store: Any, limits: Limits, *, local_access: bool = False) -> None:
        self.store = store
        self.limits = limits
        self.budget = BodyBudget(limits.body_budget)
        self.inflight = 0  # touched only on the event loop
        # Tokens for the local project without a key (backend/local_access.py), in memory only.
        self.local_access = local_access
        self.local_tokens: dict[str, str] = {}

    def lookup(self, credential: str) -> str | None:
        """The project of a token, or of an API key (SPEC.md section 5: both are bearers)."""
        if len(credential) > 1024:
            return None
        project_id: str | None = self.local_tokens.get(credential) or self.store.project_for_token(credential)
        if project_id is None:
            project_id = self.store.project_for_key(credential)
        return project_id

    async def project_of(self, request: Request) -> str:
        credential = bearer(request.headers.get("authorization", ""))
        if credential is None:
            raise Refused(
                401,
                "missing Authorization: Bearer <token or API key>"
                " (POST /v3/auth/token exchanges an API key for a token)",
            )
        return await run_in_threadpool(self.authorize, credential)

    def authorize(self, credential: str) -> str:
        """The project of a bearer credential; a 401 when it is unknown, a 503 when the store is busy
        (shared by OTLP/HTTP, the REST API and OTLP/gRPC). Reads the store: call it off the event loop."""
        try:
            project_id = self.lookup(credential)
        except Exception as exc:
            busy = unavailable(exc)
            if busy is not None:
                raise busy from None
            raise
        if project_id is None:
            raise Refused(401, "invalid or expired token, or unknown API key")
        return project_id

    async def in_slot(self, call: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """``await call(*args)`` in an ingest slot: 503 + Retry-After when all are taken."""
        if self.inflight >= self.limits.max_inflight:
            raise Refused(503, "ingest is overloaded; retry later", retry_after=1)
        self.inflight += 1
        try:
            return await call(*args)
        finally:
            self.inflight -= 1
