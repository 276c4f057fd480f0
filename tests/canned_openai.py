"""A canned OpenAI server on 127.0.0.1 for child processes: ``POST /v1/chat/completions`` answers with
a fixed completion, or with an SSE stream when the request asks for one (a usage chunk last only when
``stream_options.include_usage`` is set, as OpenAI does). Request bodies and headers are kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from llm_fixtures import CHAT_CHUNKS, CHAT_COMPLETION, USAGE_CHUNK, sse


class CannedChat:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                canned.bodies.append(body)
                canned.headers.append({k.lower(): v for k, v in self.headers.items()})
                if body.get("stream"):
                    usage = (body.get("stream_options") or {}).get("include_usage")
                    data = sse([*CHAT_CHUNKS, *([USAGE_CHUNK] if usage else [])])
                    kind = "text/event-stream"
                else:
                    data = json.dumps(CHAT_COMPLETION).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": "sk-test"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned_chat() -> Iterator[CannedChat]:
    server = CannedChat()
    yield server
    server.close()


# A child-process prelude: the user's own provider, exporting to a JSON-lines file (SPANS_FILE).
USER_PROVIDER = """
import json, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class JsonLines(SpanExporter):
    def export(self, spans):
        with open(os.environ["SPANS_FILE"], "a") as f:
            for s in spans:
                f.write(json.dumps({
                    "name": s.name,
                    "scope": s.instrumentation_scope.name if s.instrumentation_scope else None,
                    "span_id": format(s.context.span_id, "016x"),
                    "parent": format(s.parent.span_id, "016x") if s.parent else None,
                    "attributes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.attributes.items()},
                }) + "\\n")
        return SpanExportResult.SUCCESS
"""
