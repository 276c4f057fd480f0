"""A canned LLM provider over real HTTP on 127.0.0.1, for libraries that bring their own HTTP clients
(LiteLLM, LangChain, CrewAI, the Agents SDK, google-genai, and examples run as child processes).

It speaks enough of three APIs to drive real clients: OpenAI (``/chat/completions``, ``/responses``,
``/embeddings``, JSON or SSE when the body asks for ``stream``), Anthropic (``/messages``) and Google
(``:generateContent`` / ``:streamGenerateContent``). Replies come from a script: a list of *turns*, each
a tool call to make or a text to say, answered in order (the last one repeats); every request body is
recorded. Run as ``python tests/canned_http.py SCRIPT.json`` it serves in a child process and prints
its base URL (the examples use that).

:class:`ChatServer` is a chat completions endpoint alone, its answers computed from each request (and
:func:`chat_server` one made from an assistant message and a finish reason): the OpenAI SDK in child
processes talks to it (tests/canned_openai.py, the CLI and dashboard fixtures).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {"input": 120, "output": 30, "cached": 20}


@dataclass
class Turn:
    """One model reply: ``text``, or a tool call (``tool`` with ``args``)."""

    text: str = ""
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    model: str = "gpt-4o-mini-2024-07-18"

    @classmethod
    def of(cls, value: Any) -> Turn:
        return value if isinstance(value, Turn) else cls(**value)


def _openai_chat(turn: Turn, n: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
    if turn.tool:
        message["tool_calls"] = [
            {
                "id": f"call_{n}",
                "type": "function",
                "function": {"name": turn.tool, "arguments": json.dumps(turn.args)},
            }
        ]
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": turn.model,
        "system_fingerprint": "fp_canned",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if turn.tool else "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": USAGE["input"],
            "completion_tokens": USAGE["output"],
            "total_tokens": USAGE["input"] + USAGE["output"],
            "prompt_tokens_details": {"cached_tokens": USAGE["cached"]},
        },
    }


def _openai_chunks(turn: Turn, n: int, usage: bool) -> Iterator[dict[str, Any]]:
    base = {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": turn.model,
    }
    if turn.tool:
        call = {
            "index": 0,
            "id": f"call_{n}",
            "type": "function",
            "function": {"name": turn.tool, "arguments": ""},
        }
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}}]}
        args = json.dumps(turn.args)
        for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            yield {**base, "choices": [{"index": 0, "delta": delta}]}
    else:
        yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        for word in turn.text.split(" "):
            yield {**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]}
    reason = "tool_calls" if turn.tool else "stop"
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
    if usage:
        yield {**base, "choices": [], "usage": _openai_chat(turn, n)["usage"]}


def _response(turn: Turn, n: int) -> dict[str, Any]:
    if turn.tool:
        output: dict[str, Any] = {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": f"call_{n}",
            "name": turn.tool,
            "arguments": json.dumps(turn.args),
            "status": "completed",
        }
    else:
        output = {
            "type": "message",
            "id": f"msg_{n}",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": turn.text, "annotations": []}],
        }
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "model": turn.model,
        "output": [output],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": USAGE["input"],
            "output_tokens": USAGE["output"],
            "total_tokens": USAGE["input"] + USAGE["output"],
            "input_tokens_details": {"cached_tokens": USAGE["cached"]},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _response_events(turn: Turn, n: int) -> Iterator[dict[str, Any]]:
    final = _response(turn, n)
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    yield {"type": "response.created", "sequence_number": 0, "response": created}
    item = final["output"][0]
    yield {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": item}
    yield {"type": "response.output_item.done", "sequence_number": 2, "output_index": 0, "item": item}
    yield {"type": "response.completed", "sequence_number": 3, "response": final}


def _anthropic(turn: Turn, n: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    if turn.tool:
        content.append({"type": "tool_use", "id": f"toolu_{n}", "name": turn.tool, "input": turn.args})
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": content,
        "stop_reason": "tool_use" if turn.tool else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": USAGE["input"], "output_tokens": USAGE["output"]},
    }


def _google(turn: Turn, n: int) -> dict[str, Any]:
    part: dict[str, Any] = (
        {"functionCall": {"name": turn.tool, "args": turn.args}} if turn.tool else {"text": turn.text}
    )
    return {
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": USAGE["input"],
            "candidatesTokenCount": USAGE["output"],
            "totalTokenCount": USAGE["input"] + USAGE["output"],
            "cachedContentTokenCount": USAGE["cached"],
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": f"gresp-{n}",
    }


def _google_chunks(turn: Turn, n: int) -> Iterator[dict[str, Any]]:
    if turn.tool:
        yield _google(turn, n)
        return
    words = turn.text.split(" ")
    for i, word in enumerate(words):
        chunk = _google(Turn(text=word + (" " if i < len(words) - 1 else "")), n)
        if i < len(words) - 1:
            chunk["candidates"][0].pop("finishReason")
            chunk.pop("usageMetadata")
        yield chunk


class CannedLLM:
    """The server; ``with CannedLLM([...]) as llm: llm.url``. ``llm.bodies`` are the requests received."""

    def __init__(self, turns: list[Any] | None = None) -> None:
        self.turns = [Turn.of(t) for t in (turns or [Turn(text="Hello from the canned model")])]
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> CannedLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, path: str, body: dict[str, Any]) -> tuple[Turn, int]:
        with self._lock:
            n = len(self.bodies)
            self.bodies.append(body)
            self.paths.append(path)
            return self.turns[min(n, len(self.turns) - 1)], n

    def reply(self, path: str, body: dict[str, Any]) -> tuple[Any, bool]:
        """(payload, is_stream): a dict, or a list of SSE events when streamed."""
        turn, n = self._next(path, body)
        stream = bool(body.get("stream")) or "streamGenerateContent" in path
        if path.endswith("/embeddings"):
            inputs = body.get("input")
            count = len(inputs) if isinstance(inputs, list) else 1
            data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(count)]
            usage = {"prompt_tokens": 8, "total_tokens": 8}
            return {"object": "list", "data": data, "model": body.get("model"), "usage": usage}, False
        if path.endswith("/chat/completions"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return (list(_openai_chunks(turn, n, usage)) if stream else _openai_chat(turn, n)), stream
        if path.endswith("/responses"):
            return (list(_response_events(turn, n)) if stream else _response(turn, n)), stream
        if path.endswith("/messages"):
            return _anthropic(turn, n), False
        if "generateContent" in path or "GenerateContent" in path:
            return (list(_google_chunks(turn, n)) if stream else _google(turn, n)), stream
        return {"error": {"message": f"no canned reply for {path}"}}, False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                payload, stream = owner.reply(self.path.split("?")[0], body)
                if stream:
                    events = "".join(f"data: {json.dumps(e)}\n\n" for e in payload)
                    if "/chat/completions" in self.path:
                        events += "data: [DONE]\n\n"
                    data = events.encode()
                    kind = "text/event-stream"
                else:
                    data = json.dumps(payload).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


Reply = Callable[[dict[str, Any]], tuple[dict[str, Any], str]]
Events = Callable[[dict[str, Any]], list[dict[str, Any]]]


class ChatServer:
    """A chat completions endpoint (``url`` ends in ``/v1``): each request is answered with the
    completion ``completion(request body)``, or, when the body asks for a stream and ``events`` is
    given, with the SSE stream of ``events(request body)``. Request bodies and headers (lower-case
    names) are kept. Use as a context manager, or call :meth:`close`."""

    def __init__(self, completion: Callable[[dict[str, Any]], dict[str, Any]], events: Events | None = None):
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                owner.bodies.append(body)
                owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                if body.get("stream") and events is not None:
                    sse = "".join(f"data: {json.dumps(e)}\n\n" for e in events(body)) + "data: [DONE]\n\n"
                    payload, kind = sse.encode(), "text/event-stream"
                else:
                    payload, kind = json.dumps(completion(body)).encode(), "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        """What points the OpenAI SDK of a child process here."""
        return {"OPENAI_BASE_URL": self.url, "OPENAI_API_KEY": "sk-test"}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextmanager
def chat_server(reply: Reply, usage: tuple[int, int] = (1200, 300)) -> Iterator[str]:
    """A :class:`ChatServer` whose answer to each request is ``reply(request body)``: the assistant
    message and its finish reason. Yields the base URL (``.../v1``)."""

    def completion(request: dict[str, Any]) -> dict[str, Any]:
        message, finish = reply(request)
        return {
            "id": f"chatcmpl-{time.time_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        }

    with ChatServer(completion) as server:
        yield server.url


if __name__ == "__main__":  # a child process serving a script: prints its URL, serves until killed
    from pathlib import Path

    script = json.loads(Path(sys.argv[1]).read_text()) if len(sys.argv) > 1 else None
    with CannedLLM(script) as llm:
        print(llm.url, flush=True)
        threading.Event().wait()
