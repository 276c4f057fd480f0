"""Projects, API keys and tokens, stored as SHA-256 digests only (SPEC.md section 5).

- An API key is a random UUID (122 random bits; the form AgentOps' own keys have), a token 256 random
  bits. Both are high-entropy secrets, so one SHA-256 is enough: a digest cannot be reversed and a
  lookup by digest leaks nothing about the secret. The secret itself is returned once (the key at
  creation, the token at issue) and never written anywhere.
- Tokens expire (``token_ttl``, default a day); the SDK exchanges its key again when a token is
  refused. A revoked key is refused at once, and its tokens with it.
- Everything is in the database, so several servers share it and a key made by the CLI is valid at
  once in a running server. Token lookups are cached for :data:`AUTH_CACHE_S`: a revoked token or
  key is refused by every server within that time.

Standard library only; the SQL is shared by both stores (see :class:`~agentops_otel.store.queries.Tx`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from typing import Any

from agentops_otel.store.queries import Tx, iso_time

LOCAL_PROJECT = "local"
#: Default token lifetime (seconds).
DEFAULT_TOKEN_TTL = 24 * 3600.0
#: How long a server trusts its cached answer for a token (seconds).
AUTH_CACHE_S = 5.0
_NS = 1_000_000_000
_PURGE_EVERY_NS = 3600 * _NS


def digest(secret: str) -> str:
    """The stored form of a key or token: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_api_key() -> str:
    return str(uuid.uuid4())


class AuthMixin:
    """Projects, keys and tokens of a store (mixed into :class:`~agentops_otel.store.base.BaseStore`)."""

    token_ttl: float

    # Provided by the store.
    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, work: Any) -> Any:
        raise NotImplementedError

    def _init_auth(self, token_ttl: float) -> None:
        self.token_ttl = token_ttl
        self._token_cache: dict[str, tuple[str, int, float]] = {}  # digest -> (project, expires, cached)
        self._cache_lock = threading.Lock()
        self._purged_ns = 0

    # -- projects --------------------------------------------------------------------------------------

    def create_project(self, name: str) -> tuple[str, str, bool]:
        """``(project_id, api_key, created)``: a new API key for the project ``name``, made if absent."""
        api_key = new_api_key()

        def work(tx: Tx) -> tuple[str, str, bool]:
            project_id, created = self._project_by_name(tx, name)
            self._add_key(tx, project_id, api_key)
            return project_id, api_key, created

        result: tuple[str, str, bool] = self._write(work)
        return result

    def ensure_project(self, name: str = LOCAL_PROJECT) -> str:
        """The id of the project ``name``, created on first use (the embedded store's "local")."""
        rows = self._read("SELECT project_id FROM projects WHERE name = ?", (name,))
        if rows:
            return str(rows[0][0])
        project_id: str = self._write(lambda tx: self._project_by_name(tx, name)[0])
        return project_id

    @staticmethod
    def _project_by_name(tx: Tx, name: str) -> tuple[str, bool]:
        candidate = str(uuid.uuid4())
        # ON CONFLICT: two processes creating one project at once both end with the same id.
        inserted = tx.run(
            "INSERT INTO projects (project_id, name, created_ns) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING RETURNING project_id",
            (candidate, name, time.time_ns()),
        )
        if inserted:
            return candidate, True
        return str(tx.run("SELECT project_id FROM projects WHERE name = ?", (name,))[0][0]), False

    @staticmethod
    def _add_key(tx: Tx, project_id: str, api_key: str) -> None:
        tx.run(
            "INSERT INTO project_keys (key_digest, project_id, created_ns) VALUES (?, ?, ?)",
            (digest(api_key), project_id, time.time_ns()),
        )

    def list_projects(self) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT p.project_id, p.name, p.created_ns, p.retention_s,"
            " (SELECT COUNT(*) FROM sessions s WHERE s.project_id = p.project_id),"
            " (SELECT COUNT(*) FROM project_keys k WHERE k.project_id = p.project_id"
            " AND k.revoked_ns IS NULL)"
            " FROM projects p ORDER BY p.created_ns"
        )
        return [
            {
                "project_id": r[0],
                "name": r[1],
                "created": iso_time(r[2]),
                "sessions": int(r[4]),
                "active_keys": int(r[5]),
                "retention_s": r[3],
            }
            for r in rows
        ]

    def project_id_of(self, name_or_id: str) -> str | None:
        rows = self._read(
            "SELECT project_id FROM projects WHERE name = ? OR project_id = ? ORDER BY name = ? DESC",
            (name_or_id, name_or_id, name_or_id),
        )
        return str(rows[0][0]) if rows else None

    # -- keys ------------------------------------------------------------------------------------------

    def project_for_key(self, api_key: str) -> str | None:
        """The project of an API key that is not revoked, else None."""
        rows = self._read(
            "SELECT project_id FROM project_keys WHERE key_digest = ? AND revoked_ns IS NULL",
            (digest(api_key),),
        )
        return str(rows[0][0]) if rows else None

    #: The name the HTTP layer asks for: the API key as a bearer on ``/v1/traces`` (SPEC.md section 5).
    project_for_api_key = project_for_key

    def revoke_key(self, api_key: str) -> bool:
        """Refuse ``api_key`` and every token issued for it from now on; False for an unknown key."""
        key = digest(api_key)

        def work(tx: Tx) -> bool:
            changed = tx.run(
                "UPDATE project_keys SET revoked_ns = ? WHERE key_digest = ? AND revoked_ns IS NULL"
                " RETURNING key_digest",
                (time.time_ns(), key),
            )
            tx.run("DELETE FROM auth_tokens WHERE key_digest = ?", (key,))
            return bool(changed)

        revoked: bool = self._write(work)
        self._forget_tokens()
        return revoked

    def rotate_key(self, project: str) -> tuple[str, str] | None:
        """Revoke every key of ``project`` (a name or id) and their tokens; ``(project_id, new key)``."""
        project_id = self.project_id_of(project)
        if project_id is None:
            return None
        api_key = new_api_key()

        def work(tx: Tx) -> None:
            tx.run(
                "UPDATE project_keys SET revoked_ns = ? WHERE project_id = ? AND revoked_ns IS NULL",
                (time.time_ns(), project_id),
            )
            tx.run("DELETE FROM auth_tokens WHERE project_id = ?", (project_id,))
            self._add_key(tx, project_id, api_key)

        self._write(work)
        self._forget_tokens()
        return project_id, api_key

    # -- tokens ----------------------------------------------------------------------------------------

    def issue_token(self, api_key: str) -> tuple[str, str] | None:
        """``(token, project_id)`` for a valid API key, else None. Reads the database every time, so a
        key created by another process is valid at once."""
        key = digest(api_key)
        token = secrets.token_urlsafe(32)
        now = time.time_ns()
        expires = now + int(self.token_ttl * _NS)

        def work(tx: Tx) -> str | None:
            rows = tx.run(
                "SELECT project_id FROM project_keys WHERE key_digest = ? AND revoked_ns IS NULL", (key,)
            )
            if not rows:
                return None
            project_id = str(rows[0][0])
            tx.run(
                "INSERT INTO auth_tokens (token_digest, project_id, key_digest, created_ns, expires_ns)"
                " VALUES (?, ?, ?, ?, ?)",
                (digest(token), project_id, key, now, expires),
            )
            if now - self._purged_ns > _PURGE_EVERY_NS:
                self._purged_ns = now
                tx.run("DELETE FROM auth_tokens WHERE expires_ns < ?", (now,))
            return project_id

        if self.project_for_key(api_key) is None:  # an unknown key costs a read, never a write
            return None
        project_id: str | None = self._write(work)
        if project_id is None:
            return None
        self._cache_token(digest(token), project_id, expires)
        return token, project_id

    def project_for_token(self, token: str) -> str | None:
        """The project of a token that has not expired and was not revoked, else None."""
        key = digest(token)
        now = time.time_ns()
        cached = self._token_cache.get(key)
        if cached is not None and cached[1] > now and time.monotonic() - cached[2] < AUTH_CACHE_S:
            return cached[0]
        rows = self._read(
            "SELECT project_id, expires_ns FROM auth_tokens WHERE token_digest = ? AND expires_ns > ?",
            (key, now),
        )
        if not rows:
            with self._cache_lock:
                self._token_cache.pop(key, None)
            return None
        project_id = str(rows[0][0])
        self._cache_token(key, project_id, int(rows[0][1]))
        return project_id

    def _cache_token(self, key: str, project_id: str, expires_ns: int) -> None:
        with self._cache_lock:
            if len(self._token_cache) > 10_000:
                self._token_cache.clear()
            self._token_cache[key] = (project_id, expires_ns, time.monotonic())

    def _forget_tokens(self) -> None:
        with self._cache_lock:
            self._token_cache.clear()

    def purge_expired_tokens(self) -> int:
        rows = self._write(
            lambda tx: tx.run(
                "DELETE FROM auth_tokens WHERE expires_ns < ? RETURNING token_digest", (time.time_ns(),)
            )
        )
        return len(rows)
