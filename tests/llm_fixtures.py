"""Canned provider HTTP responses and helpers for the LLM instrumentation tests.

The real ``openai`` / ``anthropic`` clients talk to an in-process ``MockTransport`` (the SDKs' own
HTTP library: ``httpx2`` for current releases, ``httpx`` for older ones); nothing leaves the process
and the base URL is 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

try:  # openai >= 3 / anthropic >= 2 use the httpx2 fork
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDKs
    import httpx  # type: ignore[no-redef]

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

BASE_URL = "http://127.0.0.1:9"

CHAT_COMPLETION = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there!"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 200},
    },
    "service_tier": "default",
}


def chat_chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}],
    }
    chunk.update(extra)
    return chunk


USAGE_CHUNK = {
    "id": "chatcmpl-s1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-4o-2024-08-06",
    "choices": [],
    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
}

CHAT_CHUNKS = [chat_chunk("Hel"), chat_chunk("lo"), chat_chunk("!"), chat_chunk(finish="stop")]

RESPONSE_OBJECT = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1700000000,
    "status": "completed",
    "model": "gpt-4.1-2025-04-14",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi from responses", "annotations": []}],
        }
    ],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 50,
        "output_tokens": 20,
        "total_tokens": 70,
        "input_tokens_details": {"cached_tokens": 10},
        "output_tokens_details": {"reasoning_tokens": 5},
    },
}

EMBEDDING_RESPONSE = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3, 0.4]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}

ANTHROPIC_MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Bonjour"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 100,
        "output_tokens": 40,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 50,
    },
}


def anthropic_events(text_parts: tuple[str, ...] = ("Bon", "jour")) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_s1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-3-5-haiku-20241022",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 25, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    for part in text_parts:
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}},
            )
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 4},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def sse(items: list[Any], *, done: bool = True, events: bool = False) -> bytes:
    """An SSE body: ``items`` are JSON objects, or (event, object) pairs when ``events``."""
    out = []
    for item in items:
        if events:
            name, data = item
            out.append(f"event: {name}\ndata: {json.dumps(data)}\n\n")
        else:
            out.append(f"data: {json.dumps(item)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


class _CutStream(httpx.SyncByteStream):
    """A body that sends ``body`` then fails as a dropped connection would."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        yield self.body
        raise httpx.ReadError("connection dropped")


class _AsyncCutStream(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> Any:
        yield self.body
        raise httpx.ReadError("connection dropped")


@dataclass
class Server:
    """A canned-response handler that records every request it receives."""

    respond: Callable[[httpx.Request], httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.respond(request)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    async def _async(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return self.respond(request)

    def async_transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._async)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Callable[..., Any]:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return respond


def sse_response(body: bytes) -> Callable[..., Any]:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return respond


def cut_sse_response(body: bytes, is_async: bool = False) -> Callable[..., Any]:
    def respond(request: httpx.Request) -> httpx.Response:
        stream = _AsyncCutStream(body) if is_async else _CutStream(body)
        return httpx.Response(200, stream=stream, headers={"content-type": "text/event-stream"})

    return respond


def openai_client(server: Server, is_async: bool = False) -> Any:
    import openai

    if is_async:
        return openai.AsyncOpenAI(
            api_key="sk-test",
            base_url=BASE_URL + "/v1",
            max_retries=0,
            http_client=httpx.AsyncClient(transport=server.async_transport()),
        )
    return openai.OpenAI(
        api_key="sk-test",
        base_url=BASE_URL + "/v1",
        max_retries=0,
        http_client=httpx.Client(transport=server.transport()),
    )


def anthropic_client(server: Server, is_async: bool = False, **options: Any) -> Any:
    import anthropic

    if is_async:
        return anthropic.AsyncAnthropic(
            api_key="sk-ant-test",
            base_url=BASE_URL,
            max_retries=0,
            http_client=httpx.AsyncClient(transport=server.async_transport()),
            **options,
        )
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url=BASE_URL,
        max_retries=0,
        http_client=httpx.Client(transport=server.transport()),
        **options,
    )


@dataclass
class Recording:
    provider: TracerProvider
    exporter: InMemorySpanExporter
    meter_provider: MeterProvider
    metric_reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def llm_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if (s.attributes or {}).get("agentops.span.kind") == "llm"]

    def one_llm_span(self) -> ReadableSpan:
        spans = self.llm_spans()
        assert len(spans) == 1, [s.name for s in self.spans()]
        return spans[0]


def make_recording() -> Recording:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return Recording(provider, exporter, MeterProvider(metric_readers=[reader]), reader)


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.fixture(name="rec")
def openai_recording() -> Iterator[Recording]:
    """``rec`` for the OpenAI tests: a recording provider with the OpenAI instrumentor on it."""
    from agentops_otel.instrumentation import uninstrument_all
    from agentops_otel.instrumentation.openai import OpenAIInstrumentor

    recording = make_recording()
    # Start from nothing instrumented, so these providers (not an earlier test's) are the ones used.
    uninstrument_all()
    instrumentor = OpenAIInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=recording.provider, meter_provider=recording.meter_provider)
    try:
        yield recording
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
