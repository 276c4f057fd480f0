"""Requests to LLM providers carry no trace headers of ours, even with HTTP client instrumentation on."""

from __future__ import annotations

import json
from pathlib import Path

from core_helpers import run_script

SCRIPT = r"""
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = []

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
        if self.path.endswith("/messages"):
            body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 3, "output_tokens": 1}}
        else:
            body = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{server.server_address[1]}"

from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor
HTTPX2ClientInstrumentor().instrument()
HTTPXClientInstrumentor().instrument()

import agentops_otel, anthropic, openai
sid = agentops_otel.init(db_path=DB)

openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0).chat.completions.create(
    model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
anthropic.Anthropic(base_url=base, api_key="k", max_retries=0).messages.create(
    model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hello"}])
# A request to a service that is not an LLM provider keeps its propagation.
import httpx2
httpx2.post(base + "/other-service", content=b"{}")
agentops_otel.end_session()
print(json.dumps({"sid": sid, "seen": seen}))
"""


def test_no_traceparent_or_baggage_to_llm_providers(tmp_path: Path) -> None:
    proc = run_script(SCRIPT.replace("DB", repr(str(tmp_path / "s.db"))), tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    by_path = {r["path"]: r["headers"] for r in result["seen"]}
    for path in ("/v1/chat/completions", "/v1/messages"):
        headers = by_path[path]
        assert "traceparent" not in headers, (path, headers)
        assert "session.id" not in headers.get("baggage", ""), (path, headers)
    other = by_path["/other-service"]
    assert other["traceparent"].split("-")[1] == result["sid"].replace("-", "")
    assert f"session.id={result['sid']}" in other["baggage"]
