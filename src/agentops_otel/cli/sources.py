"""Where the CLI reads sessions from: the local store file, or a backend's REST API."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from agentops_otel._config import Configuration

_HTTP_TIMEOUT = 10.0


class CliError(Exception):
    """An error to print on stderr, exiting 1."""


class StoreUnusable(CliError):
    """The store cannot be opened: a missing extra, an unreachable database, a newer schema."""


def open_store(location: str, **options: Any) -> Any:
    """The store at ``location`` (a file path or a ``postgresql://`` URL), or :class:`StoreUnusable`."""
    from agentops_otel.store import is_busy_error
    from agentops_otel.store import open_store as open_any
    from agentops_otel.store.connection import NewerSchema

    try:
        return open_any(location, **options)
    except (ImportError, ValueError, NewerSchema) as exc:
        raise StoreUnusable(str(exc)) from None
    except Exception as exc:
        if is_busy_error(exc) or type(exc).__module__.split(".")[0] in ("psycopg", "sqlalchemy"):
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())  # the driver's words
            raise StoreUnusable(f"cannot open the store {_safe(location)}: {reason}") from None
        raise


def _safe(location: str) -> str:
    """A store location fit to print: a database URL without its user and password."""
    scheme, sep, rest = location.partition("://")
    if not sep or scheme.startswith("sqlite"):
        return location
    return f"{scheme}://{rest.rpartition('@')[2]}"


def open_store_of(args: argparse.Namespace, **options: Any) -> Any:
    """The store a store command names (``--db``, else ``AGENTOPS_DB``, else the default file)."""
    return open_store(getattr(args, "db", None) or Configuration.from_env().store_path, **options)


# -- where sessions come from --------------------------------------------------------------------------


class LocalSource:
    def __init__(self, path: str) -> None:
        self.path = path

    def _store(self) -> Any:
        return open_store(self.path)

    def _missing(self) -> bool:
        return "://" not in self.path and not os.path.exists(self.path)

    def list(
        self, tags: Sequence[str], end_state: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        if self._missing():
            return []
        with self._store() as store:
            sessions: list[dict[str, Any]] = store.list_sessions(
                None, tags=tags, end_state=end_state, limit=limit, offset=offset
            )
            return sessions

    def get(self, session_id: str) -> dict[str, Any] | None:
        if self._missing():
            return None
        with self._store() as store:
            found: dict[str, Any] | None = store.get_session(session_id)
            return found

    def describe(self) -> str:
        return f"store {_safe(self.path)}"


class RemoteSource:
    def __init__(self, endpoint: str, api_key: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key
        self._token: str | None = None

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        url = self.endpoint + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read() or b"null")
            except ValueError:
                payload = None
            return exc.code, payload
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach the backend at {self.endpoint}: {reason}") from None
        except ValueError:
            raise CliError(
                f"{url} did not answer with JSON; is {self.endpoint} an agentops-otel backend?"
            ) from None

    def _authenticate(self) -> None:
        if self._token:
            return
        status, payload = self._request("POST", "/v3/auth/token", {"api_key": self.api_key})
        if status == 401:
            raise CliError(f"the backend at {self.endpoint} refused the API key (401): check --api-key")
        if status != 200 or not isinstance(payload, dict) or "token" not in payload:
            raise CliError(f"POST {self.endpoint}/v3/auth/token answered {status}: {_message(payload)}")
        self._token = str(payload["token"])

    def list(
        self, tags: Sequence[str], end_state: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        self._authenticate()
        query: list[tuple[str, Any]] = [("limit", limit), ("offset", offset)]
        query += [("tag", t) for t in tags]
        if end_state:
            query.append(("end_state", end_state))
        status, payload = self._request("GET", "/api/sessions?" + urllib.parse.urlencode(query))
        if status != 200 or not isinstance(payload, dict):
            raise CliError(f"GET {self.endpoint}/api/sessions answered {status}: {_message(payload)}")
        sessions: list[dict[str, Any]] = payload.get("sessions", [])
        return sessions

    def get(self, session_id: str) -> dict[str, Any] | None:
        self._authenticate()
        status, payload = self._request("GET", "/api/sessions/" + urllib.parse.quote(session_id, safe=""))
        if status == 404:
            return None
        if status != 200 or not isinstance(payload, dict):
            raise CliError(
                f"GET {self.endpoint}/api/sessions/{session_id} answered {status}: {_message(payload)}"
            )
        return payload

    def describe(self) -> str:
        return f"backend {self.endpoint}"


def _message(payload: Any) -> str:
    if isinstance(payload, dict) and "error" in payload:
        return str(payload["error"])
    return json.dumps(payload)[:200]


def open_source(args: argparse.Namespace) -> LocalSource | RemoteSource:
    db = getattr(args, "db", None)
    endpoint = getattr(args, "endpoint", None)
    api_key = getattr(args, "api_key", None)
    if db and endpoint:
        raise CliError("use either --db or --endpoint, not both")
    env = Configuration.from_env()
    if db:
        return LocalSource(db)
    endpoint = endpoint or env.endpoint
    if endpoint:
        api_key = api_key or env.api_key
        if not api_key:
            raise CliError(f"reading {endpoint} needs an API key: --api-key or AGENTOPS_API_KEY")
        return RemoteSource(endpoint, api_key)
    return LocalSource(env.store_path)
