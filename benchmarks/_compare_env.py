"""The places ``bench_compare.py`` runs its contenders in: virtual environments (made once, cached outside
the repository), the source trees of ours, the backends (a sink that takes everything, one that is
down, one that hangs), and the worker processes it talks to."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "_compare_worker.py"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "agentops-otel-bench"


def pins() -> list[str]:
    """The versions of the running environment, so every contender calls the same SDK on the same OTel."""
    out = []
    for dist in (
        "openai",
        "opentelemetry-api",
        "opentelemetry-sdk",
        "opentelemetry-exporter-otlp-proto-http",
    ):
        try:
            out.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(dist)
    return out


def _installed(*dists: str) -> list[str]:
    """``dist==version`` of each of ``dists`` in the running environment, or [] if one is missing."""
    try:
        return [f"{dist}=={metadata.version(dist)}" for dist in dists]
    except metadata.PackageNotFoundError:
        return []


# What each kind of environment installs, most wanted first (the next is tried when pip refuses one).
def requirements(kind: str) -> list[list[str]]:
    pinned = pins()
    openai_only = [p for p in pinned if p.startswith("openai")]
    if kind == "floor":
        return [pinned]
    if kind == "ours":
        return [[str(ROOT), *pinned]]
    if kind == "contrib":
        # openai >= 3 speaks httpx2; openai-v2 still imports httpx (contrib issue 4953). openai-v2 2.4b0
        # imports ``opentelemetry.util.genai.instruments``, which util-genai 1.3b0 no longer has: the
        # pair of this environment (when it has them) or a util-genai before 1.3.
        contrib = _installed("opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai")
        contrib = contrib or ["opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai<1.3"]
        return [
            [*pinned, *contrib, "httpx"],
            [*pinned, "opentelemetry-instrumentation-openai-v2", "httpx"],
            [*openai_only, "opentelemetry-instrumentation-openai-v2", "httpx"],
        ]
    if kind == "openllmetry":
        return [
            [*pinned, "opentelemetry-instrumentation-openai"],
            [*openai_only, "opentelemetry-instrumentation-openai"],
        ]
    if kind == "openinference":
        return [
            [*pinned, "openinference-instrumentation-openai"],
            [*openai_only, "openinference-instrumentation-openai"],
        ]
    if kind == "logfire":
        return [[*pinned, "logfire"], [*openai_only, "logfire"]]
    if kind == "agentops":
        return [[*pinned, "agentops>=0.4,<0.5"], [*openai_only, "agentops>=0.4,<0.5"]]
    raise ValueError(kind)


def _tree_hash() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:10]


def ensure_venv(kind: str, where: Path, log: IO[str]) -> tuple[Path | None, str]:
    """The python of a cached environment of ``kind`` (made now if missing), or None and why not."""
    for i, reqs in enumerate(requirements(kind)):
        key = hashlib.sha256(json.dumps([sys.version, reqs]).encode()).hexdigest()[:10]
        if kind == "ours":
            key += _tree_hash()
        venv = where / f"{kind}-{key}"
        python = venv / "bin" / "python"
        if (venv / ".complete").exists():
            return python, ""
        print(f"  making the {kind} environment in {venv} (once) ...", file=sys.stderr, flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=log, stderr=log)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs],
            stdout=log,
            stderr=log,
            timeout=1200,
        )
        if done.returncode == 0:
            (venv / ".complete").write_text(json.dumps(reqs))
            return python, ""
        print(f"  pip refused {reqs} (attempt {i + 1}); see the install log", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
    return None, "did not install (see the install log)"


def source_tree(ref: str | None, tmp: Path) -> Path:
    """``src`` of the working tree (ref None), or of git ``ref`` of this repository, unpacked in ``tmp``."""
    if ref is None:
        return ROOT / "src"
    out = tmp / f"tree-{ref.replace('/', '_')}"
    if not out.exists():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"], check=True, capture_output=True
        ).stdout
        out.mkdir(parents=True)
        archive_path = tmp / "tree.tar"
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(out, filter="data")
    return out / "src"


# -- backends ------------------------------------------------------------------------------------------

SINK = r"""
import socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
mode = sys.argv[1]
count = [0]
if mode == "up":
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def _answer(self):
            n = int(self.headers.get("Content-Length", 0) or 0)
            if n:
                self.rfile.read(n)
            if self.path == "/count":
                body = str(count[0]).encode()
            elif self.path.endswith("/auth/token"):
                body = b'{"token": "bench-token", "project_id": "bench", "jwt": "bench-token"}'
            else:
                count[0] += 1
                body = b""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_POST = do_GET = _answer
        def log_message(self, *a): pass
    class S(ThreadingHTTPServer):
        daemon_threads = True
        def handle_error(self, request, client_address):
            # A client that exits with its keep-alive connection open resets it: nothing to report.
            if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                super().handle_error(request, client_address)
    server = S(("127.0.0.1", 0), H)
    print(server.server_address[1], flush=True)
    server.serve_forever()
else:
    # down: every connection is accepted and closed at once (no HTTP answer), and counted;
    # hung: accepted and never answered. A second port answers the count.
    listener = socket.create_server(("127.0.0.1", 0))
    counter = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], counter.getsockname()[1], flush=True)
    held = []
    def serve_count():
        while True:
            c, _ = counter.accept()
            c.sendall(str(count[0]).encode()); c.close()
    threading.Thread(target=serve_count, daemon=True).start()
    while True:
        c, _ = listener.accept()
        count[0] += 1
        if mode == "down":
            c.close()
        else:
            held.append(c)
"""


class Backend:
    """A backend in a process of its own: ``up`` (200 to everything, a token for the token exchange),
    ``down`` (connections accepted and closed at once) or ``hung`` (accepted, never answered)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.process = subprocess.Popen([sys.executable, "-c", SINK, mode], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        ports = self.process.stdout.readline().split()
        self.url = f"http://127.0.0.1:{ports[0]}"
        self._count_port = int(ports[1]) if len(ports) > 1 else None

    def requests(self) -> int:
        """Requests (up) or connections (down, hung) so far."""
        import socket
        import urllib.request

        if self._count_port is None:
            with urllib.request.urlopen(self.url + "/count", timeout=5) as answer:
                return int(answer.read())
        with socket.create_connection(("127.0.0.1", self._count_port), timeout=5) as conn:
            return int(conn.recv(64))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# -- the canned provider --------------------------------------------------------------------------------

CANNED = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
sys.path.insert(0, sys.argv[1])
from _compare_bodies import BODIES
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's pool holds one connection per client
    disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall between headers and body
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0)).replace(b" ", b"")
        if b'"stream":true' not in body:
            out, kind = BODIES["json"], "application/json"
        else:
            out = BODIES["stream+usage" if b'"include_usage":true' in body else "stream"]
            kind = "text/event-stream"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a): pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class CannedProvider:
    """The OpenAI API's answers (a completion; a stream of ten chunks, with usage when asked) from a
    process of its own on 127.0.0.1: every contender's real SDK sends over loopback TCP to it."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CANNED, str(HERE)], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{self.process.stdout.readline().strip()}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# -- workers -----------------------------------------------------------------------------------------------


@dataclass
class Worker:
    """One contender's process: JSON commands in, JSON answers out."""

    label: str
    contender: str
    python: Path
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    stderr: list[str] = field(default_factory=list)

    def start(self, timeout: float = 120.0) -> str:
        """Start and warm up; '' or why it could not start."""
        self.process = subprocess.Popen(
            [str(self.python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.env.get("BENCH_HOME"),  # what a contender writes to its working directory stays there
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        line = self._readline(timeout)
        if not line:
            self.process.wait(10)
            tail = "".join(self.stderr[-5:]).strip().splitlines()
            return tail[-1] if tail else "exited at start"
        self.ready = json.loads(line)
        return ""

    def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def _readline(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        return out[0] if out else ""

    def ask(self, op: str, timeout: float = 600.0, **args: Any) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self._readline(timeout)
        if not line:
            raise RuntimeError(f"{self.label}: no answer to {op}: {''.join(self.stderr[-5:])}")
        return json.loads(line)  # type: ignore[no-any-return]

    def quit(self, timeout: float = 60.0) -> float:
        """Ask it to leave; seconds from its goodbye to its exit (the exit hooks' time)."""
        import time

        assert self.process is not None
        bye = self.ask("quit", timeout=timeout)
        assert "bye" in bye
        seen = time.perf_counter()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return float("inf")
        return time.perf_counter() - seen

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def worker_env(
    tmp: Path, contender: str, backend: str, pythonpath: Path | None, **extra: str
) -> dict[str, str]:
    """A clean environment: no OTEL_/AGENTOPS_ settings of the caller, a store and data dirs in ``tmp``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "AGENTOPS_", "TRACELOOP_", "PYTHON"))
    }
    home = Path(tempfile.mkdtemp(prefix=f"{contender}-", dir=tmp))
    env.update(
        BENCH_HOME=str(home),
        BENCH_CONTENDER=contender,
        BENCH_BACKEND=backend,
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        AGENTOPS_DB=str(home / "agentops.db"),
        TRACELOOP_TRACE_CONTENT="false",
        TRACELOOP_TELEMETRY="false",
        OPENINFERENCE_HIDE_INPUTS="true",
        OPENINFERENCE_HIDE_OUTPUTS="true",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
    )
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    env.update(extra)
    return env
