"""Each contrib server instrumentation, in a process with a session of its own: a request carrying a
valid session (traceparent + baggage ``session.id`` equal to the trace id) joins it, with a SERVER span
under the caller's span; a request without one, or with a spoofed one, stays in the service's session.
The real frameworks and instrumentations serve real requests (test clients in-process, and WSGI over
a socket on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import agentops_otel
from agentops_otel._internal import servers
from core_helpers import UserSetup, run_script

CALLER_SPAN = "ab" * 8


def caller_headers(session_id: str, trace_hex: str | None = None) -> dict[str, str]:
    trace_hex = trace_hex or uuid.UUID(session_id).hex
    return {"traceparent": f"00-{trace_hex}-{CALLER_SPAN}-01", "baggage": f"session.id={session_id}"}


def handler_work() -> None:
    trace.get_tracer("handler").start_span("handler-work").end()


def _starlette_app(instrument: str) -> Any:
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def work(request: Any) -> PlainTextResponse:
        handler_work()
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/work", work)])
    if instrument == "asgi":
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        return OpenTelemetryMiddleware(app)
    pytest.importorskip("opentelemetry.instrumentation.starlette")
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor

    StarletteInstrumentor.instrument_app(app)
    return app


def _fastapi_app() -> Any:
    pytest.importorskip("opentelemetry.instrumentation.fastapi")
    from fastapi import FastAPI
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = FastAPI()

    @app.get("/work")
    def work() -> str:
        handler_work()
        return "ok"

    FastAPIInstrumentor.instrument_app(app)
    return app


def asgi_get(app: Any) -> Callable[[dict[str, str]], None]:
    from starlette.testclient import TestClient

    client = TestClient(app)
    return lambda headers: client.get("/work", headers=headers).raise_for_status()


def flask_get() -> Callable[[dict[str, str]], None]:
    pytest.importorskip("opentelemetry.instrumentation.flask")
    from flask import Flask
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    app = Flask("svc")

    @app.get("/work")
    def work() -> str:
        handler_work()
        return "ok"

    FlaskInstrumentor().instrument_app(app)
    client = app.test_client()
    return lambda headers: client.get("/work", headers=headers)


def django_get() -> Callable[[dict[str, str]], None]:
    pytest.importorskip("opentelemetry.instrumentation.django")
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            SECRET_KEY="test",
            MIDDLEWARE=[],
        )
        django.setup()
    from django.test import Client
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument()
    client = Client()
    return lambda headers: client.get("/work", headers=headers)


def _django_view(request: Any) -> Any:
    from django.http import HttpResponse

    handler_work()
    return HttpResponse("ok")


def _urlpatterns() -> list[Any]:
    try:
        from django.urls import path
    except ImportError:
        return []
    return [path("work", _django_view)]


urlpatterns = _urlpatterns()


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def wsgi_get() -> Iterator[Callable[[dict[str, str]], None]]:
    """A WSGI app behind the contrib middleware, served by wsgiref on 127.0.0.1 in a thread."""
    from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        handler_work()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = make_server("127.0.0.1", 0, OpenTelemetryMiddleware(app), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()  # started inside the session: the thread inherits it, as a real server's would
    url = f"http://127.0.0.1:{server.server_port}/work"
    yield lambda headers: requests.get(url, headers=headers, timeout=10).raise_for_status()
    server.shutdown()
    server.server_close()


FRAMEWORKS = ["asgi", "starlette", "fastapi", "wsgi", "flask", "django"]


@pytest.fixture
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[[dict[str, str]], None]]:
    name = request.param
    if name == "wsgi":
        yield from wsgi_get()
    elif name == "flask":
        yield flask_get()
    elif name == "django":
        yield django_get()
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().uninstrument()
    elif name == "fastapi":
        yield asgi_get(_fastapi_app())
    else:
        yield asgi_get(_starlette_app(name))


@pytest.fixture
def own_session(user: UserSetup) -> Iterator[str]:
    """The service: a user's provider, init() with a session of its own."""
    sid = agentops_otel.init(
        tracer_provider=user.provider, exporter=InMemorySpanExporter(), instrument_llm_calls=False
    )
    assert sid is not None
    yield sid
    agentops_otel.end_session()


@pytest.fixture
def global_user_provider(user: UserSetup) -> Iterator[None]:
    """The instrumentations use the global provider: make it the user's for the test."""
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = user.provider
    yield
    trace._TRACER_PROVIDER = previous


@pytest.mark.parametrize("serve", FRAMEWORKS, indirect=True)
def test_request_with_a_session_joins_it(
    global_user_provider: None, user: UserSetup, own_session: str, serve: Callable[[dict[str, str]], None]
) -> None:
    caller = str(uuid.uuid4())
    serve(caller_headers(caller))
    serve({})  # no inbound session: the service's own
    spoofed_trace = uuid.uuid4().hex
    serve(caller_headers(caller, spoofed_trace))  # a session id that is not its trace's: ignored
    servers_spans = [s for s in user.spans() if s.name.endswith("/work") or s.name in ("GET", "GET work")]
    assert len(servers_spans) == 3, [s.name for s in user.spans()]
    joined, own, spoofed = sorted(servers_spans, key=lambda s: s.start_time or 0)
    # The joined request: a SERVER span under the caller's span, in the caller's trace and session.
    assert joined.kind is SpanKind.SERVER
    assert joined.parent is not None and joined.parent.span_id == int(CALLER_SPAN, 16)
    assert format(joined.context.trace_id, "032x") == uuid.UUID(caller).hex
    assert joined.attributes["session.id"] == caller
    work = [s for s in user.named("handler-work") if s.context.trace_id == joined.context.trace_id]
    assert len(work) == 1 and work[0].attributes["session.id"] == caller
    # The others: in the service's own session, as before.
    for span in (own, spoofed):
        assert span.attributes["session.id"] == own_session
        assert format(span.context.trace_id, "032x") == uuid.UUID(own_session).hex


def test_helper_is_restored_by_disable() -> None:
    from opentelemetry.instrumentation import utils

    assert servers.enable()
    assert utils._start_internal_or_server_span is servers.start_server_span
    servers.disable()
    assert utils._start_internal_or_server_span is not servers.start_server_span
    assert servers.enable()


def test_instrumentation_imported_after_init_gets_the_helper(tmp_path: Path) -> None:
    """init() leaves the contrib utils module unimported (nothing can hold its helper before it is
    imported); a server instrumentation imported later gets ours, by name and through utils."""
    proc = run_script(
        """
        import json, sys
        import agentops_otel
        from agentops_otel._internal import servers
        agentops_otel.init(api_key="00000000-0000-4000-8000-000000000000", endpoint="http://127.0.0.1:9",
                           auto_start_session=False)
        before = "opentelemetry.instrumentation.utils" in sys.modules
        from opentelemetry.instrumentation import asgi, utils
        print(json.dumps({"before": before,
                          "asgi": asgi._start_internal_or_server_span is servers.start_server_span,
                          "utils": utils._start_internal_or_server_span is servers.start_server_span}))
        """,
        tmp_path,
        env={"AGENTOPS_DB": str(tmp_path / "store.db")},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"before": False, "asgi": True, "utils": True}


def test_a_failing_replacement_does_not_reach_the_users_import(tmp_path: Path) -> None:
    """The hook runs inside the user's ``import``: an object in ``sys.modules`` with no ``__dict__``
    neither breaks that import nor stops the replacement."""
    proc = run_script(
        """
        import sys
        import agentops_otel
        agentops_otel.init(api_key="00000000-0000-4000-8000-000000000000", endpoint="http://127.0.0.1:9",
                           auto_start_session=False)
        sys.modules["opentelemetry.instrumentation.not_a_module"] = 42  # vars(42) raises TypeError
        from opentelemetry.instrumentation import utils
        from agentops_otel._internal import servers
        print("imported", utils._start_internal_or_server_span is servers.start_server_span)
        """,
        tmp_path,
        env={"AGENTOPS_DB": str(tmp_path / "store.db")},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "imported True"
