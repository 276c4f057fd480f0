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


#: Session objects of the REST API (SPEC.md section 5). A name of its own: ``list`` is a method below.
Sessions = list[dict[str, Any]]


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

#: Most candidates an ambiguous id prefix lists.
MAX_CANDIDATES = 10
#: Sessions read per page, and pages at most, when a backend resolves an id prefix through its list.
_PAGE = 1000
_MAX_PAGES = 100


def is_store_url(path: str) -> bool:
    """A store named by a URL (``postgresql://...``) rather than a file."""
    return "://" in path


def require_store(path: str) -> None:
    """A read never creates a store: a missing file is an error that says how one comes to be."""
    if not is_store_url(path) and not os.path.exists(path):
        raise CliError(
            f"no store at {path}: check --db or AGENTOPS_DB"
            " (an instrumented app, `agentops-otel serve` or `projects create` makes one)"
        )


class LocalSource:
    def __init__(self, path: str, project: str | None = None) -> None:
        self.path = path
        self.project = project  # a project's name or id: only its sessions
        self._project_id: str | None = None

    def _store(self) -> Any:
        return open_store(self.path)

    def _scope(self, store: Any) -> str | None:
        if self.project is None:
            return None
        if self._project_id is None:
            projects = store.list_projects()
            for p in projects:
                if self.project in (p["name"], p["project_id"]):
                    self._project_id = str(p["project_id"])
                    break
            else:
                names = ", ".join(p["name"] for p in projects) or "none yet"
                raise CliError(f"no project {self.project!r} in {self.describe()} (projects: {names})")
        return self._project_id

    def list(self, tags: Sequence[str], end_state: str | None, limit: int, offset: int) -> Sessions:
        with self._store() as store:
            sessions: Sessions = store.list_sessions(
                self._scope(store), tags=tags, end_state=end_state, limit=limit, offset=offset
            )
            return sessions

    def get(self, session_id: str, project_id: str | None = None) -> dict[str, Any] | None:
        with self._store() as store:
            found: dict[str, Any] | None = store.get_session(session_id, project_id or self._scope(store))
            return found

    def find(self, prefix: str) -> Sessions:
        with self._store() as store:
            found: Sessions = store.find_sessions(prefix, self._scope(store), limit=MAX_CANDIDATES + 1)
            return found

    def project_names(self) -> dict[str, str]:
        with self._store() as store:
            return {str(p["project_id"]): str(p["name"]) for p in store.list_projects()}

    def describe(self) -> str:
        return f"store {_safe(self.path)}"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirects, but only within the backend's origin (scheme, host and port): urllib would
    send the bearer token to whatever host a redirect names. A redirect elsewhere is an error that
    says where it pointed, so that the user can choose that endpoint knowingly."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        target = urllib.parse.urljoin(req.full_url, newurl)
        if _origin(target) != _origin(req.full_url):
            raise CliError(
                f"{req.full_url} redirected ({code}) to another host: {target[:200]};"
                " not following it with the API token (use --endpoint with that address if you trust it)"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


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
            opener = urllib.request.build_opener(_SameOriginRedirects)  # proxies from the environment
            with opener.open(request, timeout=_HTTP_TIMEOUT) as response:
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

    def list(self, tags: Sequence[str], end_state: str | None, limit: int, offset: int) -> Sessions:
        self._authenticate()
        query: list[tuple[str, Any]] = [("limit", limit), ("offset", offset)]
        query += [("tag", t) for t in tags]
        if end_state:
            query.append(("end_state", end_state))
        status, payload = self._request("GET", "/api/sessions?" + urllib.parse.urlencode(query))
        if status != 200 or not isinstance(payload, dict):
            raise CliError(f"GET {self.endpoint}/api/sessions answered {status}: {_message(payload)}")
        sessions: Sessions = payload.get("sessions", [])
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

    def find(self, prefix: str) -> Sessions:
        """Sessions whose id starts with ``prefix`` (see :func:`matches`), through the list API: the
        project's sessions, a page at a time, at most ``_MAX_PAGES`` pages."""
        found: Sessions = []
        for page in range(_MAX_PAGES):
            sessions = self.list([], None, _PAGE, page * _PAGE)
            found += [s for s in sessions if matches(str(s.get("session_id", "")), prefix)]
            if len(sessions) < _PAGE:
                break
        return found[: MAX_CANDIDATES + 1]

    def project_names(self) -> None:
        return None  # the API key chooses the one project

    def describe(self) -> str:
        return f"backend {self.endpoint}"


def matches(session_id: str, prefix: str) -> bool:
    """Whether an id starts with ``prefix``, ignoring case, and ignoring dashes when it has none."""
    needle = prefix.strip().lower()
    text = session_id.lower()
    return bool(needle) and (text if "-" in needle else text.replace("-", "")).startswith(needle)


def normalise_id(text: str) -> str:
    """An id as stored: lower case; a trace id's 32 hex digits as the UUID they are (SPEC.md section 3)."""
    value = text.strip().lower()
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


def resolve(source: LocalSource | RemoteSource, ident: str) -> dict[str, Any]:
    """One session by its id or any unambiguous prefix of it (the dashboard shows 8 characters)."""
    key = normalise_id(ident)
    if not key:
        raise CliError("a session id is empty")
    session = source.get(key) if len(key) == 36 else None
    if session is None and ident.strip() != key and len(ident.strip()) == 36:
        session = source.get(ident.strip())  # stored with capitals by another SDK
    if session is not None:
        return session
    candidates = source.find(key)
    if not candidates:
        raise CliError(f"no session {ident} in {source.describe()}")
    if len(candidates) > 1:
        shown = candidates[:MAX_CANDIDATES]
        more = " (and more)" if len(candidates) > MAX_CANDIDATES else ""
        lines = [f"  {c['session_id']}  {c.get('start_time') or '-'}  {c.get('name') or '-'}" for c in shown]
        raise CliError(
            f"{ident} matches {len(shown)} sessions{more} in {source.describe()}; give more of the id:\n"
            + "\n".join(lines)
        )
    chosen = candidates[0]
    found = (
        source.get(chosen["session_id"], chosen.get("project_id"))
        if isinstance(source, LocalSource)
        else source.get(chosen["session_id"])
    )
    if found is None:  # removed between the two reads
        raise CliError(f"no session {ident} in {source.describe()}")
    return found


def _message(payload: Any) -> str:
    if isinstance(payload, dict) and "error" in payload:
        return str(payload["error"])
    return json.dumps(payload)[:200]


def check_endpoint(url: str, origin: str) -> str:
    """A backend URL, or an error saying how to write one (``127.0.0.1:8000`` needs ``http://``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise CliError(f"{origin} {url} has a port that is not a number") from None
        return url
    if "://" not in url:
        raise CliError(f"{origin} {url} has no scheme: use http://{url}")
    raise CliError(f"{origin} {url} is not an http:// or https:// URL")


def open_source(args: argparse.Namespace) -> LocalSource | RemoteSource:
    db = getattr(args, "db", None)
    endpoint = getattr(args, "endpoint", None)
    api_key = getattr(args, "api_key", None)
    project = getattr(args, "project", None)
    if db and endpoint:
        raise CliError("use either --db or --endpoint, not both")
    env = Configuration.from_env()
    if endpoint:
        check_endpoint(endpoint, "--endpoint")
    elif not db and env.endpoint:
        endpoint = check_endpoint(env.endpoint, "AGENTOPS_API_ENDPOINT")
    if endpoint:
        if project:
            raise CliError(
                "--project chooses among the projects of a local store; with --endpoint the API key decides"
                " the project: drop --project, or use --db"
            )
        api_key = api_key or env.api_key
        if not api_key:
            raise CliError(f"reading {endpoint} needs an API key: --api-key or AGENTOPS_API_KEY")
        return RemoteSource(endpoint, api_key)
    if api_key:
        raise CliError(
            "--api-key is only used with --endpoint: add --endpoint URL (e.g. --endpoint"
            " http://127.0.0.1:8000) to read a backend, or drop --api-key to read the local store"
        )
    path = db or env.store_path
    require_store(path)
    return LocalSource(path, project)
