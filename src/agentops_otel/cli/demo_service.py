"""The demo's second service: a translator reached over HTTP, a separate process.

It is a plain WSGI app behind OpenTelemetry's WSGI middleware (``opentelemetry-instrumentation-wsgi``),
served by ``wsgiref`` on 127.0.0.1, and it calls the canned LLM with the instrumented ``openai`` client.
It runs ``agentops_otel.init(auto_start_session=False)``: it has no session of its own, so a request
whose ``traceparent`` and ``baggage`` headers name a session puts its server span and LLM call into that
session (SPEC.md section 4).

    python -m agentops_otel.cli.demo_service     # prints "ready <port>", serves until stdin closes

Settings come from the environment: ``AGENTOPS_API_ENDPOINT``/``AGENTOPS_API_KEY`` (where spans go) and
``OPENAI_BASE_URL`` (the canned LLM).
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_app() -> Any:
    import openai

    llm = openai.OpenAI(max_retries=0)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        text = json.loads(environ["wsgi.input"].read(length) or b"{}").get("text", "")
        completion = llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"Translate into French: {text}"}]
        )
        body = json.dumps({"translation": completion.choices[0].message.content}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def main() -> int:
    try:
        from opentelemetry.instrumentation.wsgi import OpenTelemetryMiddleware
    except ImportError:
        print("missing opentelemetry-instrumentation-wsgi (the [demo] extra)", flush=True)
        return 2
    import agentops_otel

    agentops_otel.init(auto_start_session=False, capture_content=True, service_name="translator")
    server = make_server("127.0.0.1", 0, OpenTelemetryMiddleware(make_app()), handler_class=_QuietHandler)

    def stop_when_stdin_closes() -> None:  # the demo closes it; then exit normally, delivering our spans
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    print(f"ready {server.server_port}", flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
