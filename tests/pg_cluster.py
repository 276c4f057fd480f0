"""A throwaway PostgreSQL cluster for the tests and benchmarks: ``initdb`` in a temp folder, a free port
on 127.0.0.1, started with ``pg_ctl`` and removed at exit.

PostgreSQL refuses to run as root, and CI runs as root: there the cluster belongs to the ``postgres``
user that Debian's package creates (``subprocess``'s ``user=``/``group=``). Binaries: ``$AGENTOPS_TEST_PG_BINDIR``,
else ``pg_config --bindir``, else the newest ``/usr/lib/postgresql/*/bin``. Set ``AGENTOPS_TEST_POSTGRES_URL``
to use a server of your own instead (each test gets a new database in it).
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from typing import Any

_TEMPLATE = "agentops_template"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_bindir() -> str | None:
    candidates = []
    if os.environ.get("AGENTOPS_TEST_PG_BINDIR"):
        candidates.append(os.environ["AGENTOPS_TEST_PG_BINDIR"])
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        candidates.append(out.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass

    def version(path: str) -> float:
        try:
            return float(path.split("/")[-2])
        except ValueError:
            return 0.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if (
            bindir
            and os.path.exists(os.path.join(bindir, "initdb"))
            and os.path.exists(os.path.join(bindir, "pg_ctl"))
        ):
            return bindir
    return None


class PostgresCluster:
    """One running cluster; :meth:`new_database` gives each user a migrated database of its own."""

    def __init__(self, bindir: str, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable  # fsync on (benchmarks); the tests run with fsync off
        self.base = tempfile.mkdtemp(prefix="agentops-pg-")
        self.port = _free_port()
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._template_ready = False
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root and there is no 'postgres' user to run PostgreSQL as"
                ) from None
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run(
            [os.path.join(self.bindir, args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
            **self._as,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}")

    def start(self) -> PostgresCluster:
        data = os.path.join(self.base, "data")
        self._run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", data, "-o", options, "-l", os.path.join(self.base, "log"), "-w", "start")
        return self

    def stop(self) -> None:
        data = os.path.join(self.base, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            try:
                self._run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop", timeout=60)
            except (RuntimeError, subprocess.SubprocessError):
                self._run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def new_database(self, *, migrated: bool = True) -> str:
        """The URL of a new, empty database (``migrated``: already at the current schema, copied from a
        template so each test pays a file copy, not the migrations)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        if not migrated:
            self.execute(f"CREATE DATABASE {name}")
            return self.url(name)
        with self._lock:
            if not self._template_ready:
                from agentops_otel.store.postgres import PostgresStore

                self.execute(f"CREATE DATABASE {_TEMPLATE}")
                PostgresStore(self.url(_TEMPLATE)).close()
                self._template_ready = True
            self.execute(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
        return self.url(name)


_shared: PostgresCluster | None = None
_shared_error: str | None = None


def shared_cluster() -> tuple[PostgresCluster | None, str]:
    """The cluster of this test run (started on first use, stopped at exit), or None and why not."""
    global _shared, _shared_error
    if _shared is not None or _shared_error is not None:
        return _shared, _shared_error or ""
    external = os.environ.get("AGENTOPS_TEST_POSTGRES_URL")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _shared_error = 'psycopg is not installed (pip install -e ".[test]")'
        return None, _shared_error
    if external:
        _shared = _External(external)
        return _shared, ""
    bindir = find_bindir()
    if bindir is None:
        _shared_error = (
            "PostgreSQL is not installed (Debian: apt-get install postgresql; or set AGENTOPS_TEST_PG_BINDIR)"
        )
        return None, _shared_error
    try:
        cluster = PostgresCluster(bindir).start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        _shared_error = f"could not start a PostgreSQL cluster from {bindir}: {exc}"
        return None, _shared_error
    atexit.register(cluster.stop)
    _shared = cluster
    return cluster, ""


class _External(PostgresCluster):
    """A server given by URL: databases are made in it, nothing is started or stopped."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._lock = threading.Lock()
        self._template_ready = False

    def url(self, database: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + database

    def stop(self) -> None:
        pass
