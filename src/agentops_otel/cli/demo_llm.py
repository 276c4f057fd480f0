"""A canned OpenAI-compatible LLM on 127.0.0.1 for the demo (and the tests that run user code).

``POST /v1/chat/completions`` answers like OpenAI would, streamed or not, with token usage; a prompt
containing ``please fail`` gets a 500, as an overloaded provider would answer. No API key is checked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAIL_MARKER = "please fail"


def answer(question: str) -> str:
    text = question.lower()
    if "plan" in text:
        return "1. search the literature 2. compare designs 3. summarise the trade-offs"
    if "translate" in text:
        return "Les voiles solaires échangent la poussée contre l'endurance."
    if "summar" in text:
        return "Solar sails trade thrust for endurance: no propellant, steady acceleration, slow starts."
    return "Noted."


class CannedLLM(BaseHTTPRequestHandler):
    """The request handler: one canned completion per request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        question = str((body.get("messages") or [{}])[-1].get("content", ""))
        if FAIL_MARKER in question:
            error = {"error": {"message": "the canned LLM is overloaded", "type": "server_error"}}
            self._send(500, "application/json", json.dumps(error).encode())
            return
        text = answer(question)
        model = body.get("model", "gpt-4o-mini")
        prompt_tokens = max(1, len(question.split()) * 4 // 3)
        completion_tokens = max(1, len(text.split()) * 4 // 3)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        base = {"id": f"chatcmpl-demo{time.time_ns()}", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            completion = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            self._send(200, "application/json", json.dumps(completion).encode())
            return
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
            for word in text.split()
        ]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": usage})
        payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send(200, "text/event-stream", payload.encode())

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def canned_llm() -> Iterator[str]:
    """Serve the canned LLM on a free port of 127.0.0.1; yields its OpenAI base URL (``.../v1``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), CannedLLM)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="demo-llm", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
