"""``agentops-otel demo``: one agent run, recorded by the local backend, then shown.

It starts, all on 127.0.0.1 and with no API key to copy: the local backend (``agentops-otel serve``'s
app, in this process, over the local store), a canned OpenAI-compatible LLM, and a second service (a
separate process behind OpenTelemetry's WSGI middleware). Then an agent runs: it plans, searches in
worker threads, survives a failed LLM call, asks the second service over HTTP (which joins the session
through the W3C ``traceparent`` and ``baggage`` headers), hands work to a child process that inherits
the session, and streams its summary. The session lands in the local store's ``local`` project, so
``agentops-otel sessions`` and the dashboard of ``agentops-otel serve`` show it afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

MISSING_EXTRAS = (
    'the demo needs the server and demo extras: pip install "agentops-opentelemetry[server,demo]"'
)
DASHBOARD_PORT = 8000


class Progress:
    """One line per step, with the time since the demo started."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"  {time.monotonic() - self.started:5.1f}s  {text}", flush=True)


# -- the local backend in this process -------------------------------------------------------------------


@contextmanager
def _backend(db: str) -> Iterator[str]:
    import socket

    import uvicorn

    from agentops_otel.backend.api import create_app

    routes: list[Any] = []
    try:
        from agentops_otel.backend import dashboard

        routes = dashboard.routes()
    except ImportError:
        pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(db, extra_routes=routes)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="demo-backend", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the local backend did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


# -- the second service, a process of its own ---------------------------------------------------------


class _Service:
    """``python -m agentops_otel.cli.demo_service``: started early (it takes a second to import), read
    for its port when first needed, stopped by closing its stdin (it then delivers its spans)."""

    def __init__(self, backend_url: str, api_key: str, llm_url: str) -> None:
        env = {
            **os.environ,
            "AGENTOPS_API_ENDPOINT": backend_url,
            "AGENTOPS_API_KEY": api_key,
            "OPENAI_BASE_URL": llm_url,
            "OPENAI_API_KEY": "demo-key-not-secret",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentops_otel.cli.demo_service"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._url: str | None = None

    def url(self, timeout: float = 30.0) -> str | None:
        if self._url is None and self.process.stdout is not None:
            line: list[str] = []
            reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()))  # type: ignore[union-attr]
            reader.start()
            reader.join(timeout)
            words = (line[0] if line else "").split()
            if len(words) == 2 and words[0] == "ready":
                self._url = f"http://127.0.0.1:{words[1]}"
        return self._url

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


# -- main ------------------------------------------------------------------------------------------------


def _dashboard_hint(session_id: str, db: str, api_key: str) -> str:
    from agentops_otel._config import default_db_path

    link = f"http://127.0.0.1:{DASHBOARD_PORT}/#/sessions/{session_id}"
    if os.path.abspath(db) == os.path.abspath(default_db_path()):
        return (
            f"\nOpen it in the dashboard:  agentops-otel serve   then  {link}\n"
            "(served on 127.0.0.1 over the local store, the dashboard opens the local project without a key)"
        )
    return (
        f"\nOpen it in the dashboard:  agentops-otel serve --db {db}   then  {link}\n"
        f"(sign in with the local project's key {api_key})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentops-otel demo", description=__doc__)
    parser.add_argument("--db", help="store file (default: the local store the CLI reads)")
    args = parser.parse_args(list(argv) if argv is not None else [])
    try:
        import openai  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print(MISSING_EXTRAS, file=sys.stderr)
        return 2

    import agentops_otel
    from agentops_otel._config import Configuration
    from agentops_otel.cli import demo_agent
    from agentops_otel.cli.demo_llm import canned_llm
    from agentops_otel.cli.render import print_session, print_sessions
    from agentops_otel.cli.sources import RemoteSource
    from agentops_otel.store.sqlite import LOCAL_PROJECT, Store

    say = Progress()
    print("agentops-otel demo: one agent run, recorded by the local backend\n", flush=True)
    db = args.db or Configuration.from_env().store_path
    with Store(db) as store:
        _, api_key, _ = store.create_project(LOCAL_PROJECT)  # a key of the local project, for OTLP

    with _backend(db) as backend_url, canned_llm() as llm_url:
        service = _Service(backend_url, api_key, llm_url)
        say(f"local backend on {backend_url}, store {db}")
        say(f"canned OpenAI-compatible LLM on {llm_url}")
        agentops_otel.init(
            api_key=api_key, endpoint=backend_url, capture_content=True, auto_start_session=False
        )
        session_id = agentops_otel.start_session(tags=["demo", "research"], name="research")
        say(f"session {session_id} started")
        service_url = service.url()
        if service_url:
            pid = service.process.pid
            say(f"translator service (WSGI + OpenTelemetry middleware) on {service_url}, pid {pid}")
        try:
            summary = demo_agent.run(llm_url, service_url, lambda text: say("  agent: " + text))
        except Exception as exc:
            agentops_otel.end_session("Fail", f"{type(exc).__name__}: {exc}")
            service.stop()
            raise
        agentops_otel.end_session("Success", "the research is summarised")
        service.stop()
        delivered = agentops_otel.get_client().flush(10)
        say("session ended Success; " + ("every span delivered" if delivered else "some spans NOT delivered"))
        print(f"\nagent says: {summary}")

        source = RemoteSource(backend_url, api_key)
        print("\n$ agentops-otel sessions --tag demo")
        print_sessions(source.list(["demo"], None, 5, 0), sys.stdout)
        print(f"\n$ agentops-otel sessions show {session_id}")
        shown = source.get(str(session_id))
        if shown is not None:
            print_session(shown, sys.stdout)

    print(_dashboard_hint(str(session_id), db, api_key))
    return 0 if shown is not None else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
