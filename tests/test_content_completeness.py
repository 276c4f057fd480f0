"""Captured content is complete: tool calls (plain and streamed), tool results in the input history,
Responses API function calls, reasoning/thinking; plus output type, system fingerprint, server port and
the provider of OpenAI-compatible endpoints. The real ``openai``/``anthropic`` SDKs on canned HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from agentops_otel import _runtime
from agentops_otel.instrumentation import uninstrument_all
from agentops_otel.instrumentation._providers import provider_for
from agentops_otel.instrumentation.anthropic import AnthropicInstrumentor
from agentops_otel.instrumentation.openai import OpenAIInstrumentor
from llm_fixtures import (
    RESPONSE_OBJECT,
    Recording,
    Server,
    anthropic_client,
    attrs,
    chat_chunk,
    httpx,
    json_response,
    make_recording,
    openai_client,
    sse,
    sse_response,
)


@pytest.fixture
def rec() -> Iterator[Recording]:
    recording = make_recording()
    uninstrument_all()
    previous = _runtime.config()
    _runtime.set_config(previous.replace(capture_content=True))
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=recording.provider, meter_provider=recording.meter_provider)
    try:
        yield recording
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
        _runtime.set_config(previous)


def _messages(span: Any, key: str) -> list[dict[str, Any]]:
    return json.loads(attrs(span)[f"gen_ai.{key}.messages"])


HISTORY = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
]

TOOL_COMPLETION = {
    "id": "chatcmpl-t1",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_44709d6fcb",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
                    },
                    {
                        "id": "call_3",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    },
                ],
            },
            "finish_reason": "tool_calls",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
}


def test_chat_tool_calls_history_fingerprint_and_output_type(rec: Recording) -> None:
    server = Server(json_response(TOOL_COMPLETION))
    openai_client(server).chat.completions.create(
        model="gpt-4o-mini", messages=HISTORY, response_format={"type": "json_object"}
    )
    span = rec.one_llm_span()
    a = attrs(span)
    assert a["openai.response.system_fingerprint"] == "fp_44709d6fcb"
    assert a["gen_ai.output.type"] == "json"
    assert a["openai.api.type"] == "chat_completions"
    inputs = _messages(span, "input")
    assert inputs[2] == {
        "role": "assistant",
        "parts": [
            {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
        ],
    }
    assert inputs[3] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18C and sunny"}],
    }
    (output,) = _messages(span, "output")
    assert output["finish_reason"] == "tool_calls"
    assert output["parts"] == [
        {"type": "tool_call", "id": "call_2", "name": "get_time", "arguments": {"tz": "CET"}},
        {"type": "tool_call", "id": "call_3", "name": "get_weather", "arguments": {}},
    ]


def _tool_delta(index: int, call_id: str | None, name: str | None, args: str) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": args}
    if name:
        function["name"] = name
    call: dict[str, Any] = {"index": index, "function": function}
    if call_id:
        call.update(id=call_id, type="function")
    chunk = chat_chunk()
    chunk["choices"][0]["delta"] = {"tool_calls": [call]}
    return chunk


def test_streamed_chat_tool_calls_are_rebuilt_from_their_fragments(rec: Recording) -> None:
    chunks = [
        _tool_delta(0, "call_a", "get_weather", ""),
        _tool_delta(0, None, None, '{"ci'),
        _tool_delta(0, None, None, 'ty": "Paris"}'),
        _tool_delta(1, "call_b", "get_time", '{"tz"'),
        _tool_delta(1, None, None, ': "CET"}'),
        chat_chunk(finish="tool_calls", system_fingerprint="fp_s"),
    ]
    stream = openai_client(Server(sse_response(sse(chunks)))).chat.completions.create(
        model="gpt-4o", messages=HISTORY, stream=True
    )
    seen = list(stream)
    assert len(seen) == len(chunks)
    span = rec.one_llm_span()
    assert attrs(span)["openai.response.system_fingerprint"] == "fp_s"
    (output,) = _messages(span, "output")
    assert output["finish_reason"] == "tool_calls"
    assert output["parts"] == [
        {"type": "tool_call", "id": "call_a", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"type": "tool_call", "id": "call_b", "name": "get_time", "arguments": {"tz": "CET"}},
    ]


def test_streamed_reasoning_content_of_compatible_providers(rec: Recording) -> None:
    """DeepSeek (and vLLM's reasoning parsers) stream ``reasoning_content`` before the answer."""
    thinking = [chat_chunk(), chat_chunk(), chat_chunk("42"), chat_chunk(finish="stop")]
    thinking[0]["choices"][0]["delta"] = {"reasoning_content": "Six times "}
    thinking[1]["choices"][0]["delta"] = {"reasoning_content": "seven."}
    client = openai_client(Server(sse_response(sse(thinking))))
    list(client.chat.completions.create(model="deepseek-reasoner", messages=HISTORY[:2], stream=True))
    (output,) = _messages(rec.one_llm_span(), "output")
    assert output["parts"] == [
        {"type": "reasoning", "content": "Six times seven."},
        {"type": "text", "content": "42"},
    ]


RESPONSE_WITH_CALL = {
    **RESPONSE_OBJECT,
    "output": [
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "Need the weather tool."}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_9",
            "name": "get_weather",
            "arguments": '{"city": "Oslo"}',
            "status": "completed",
        },
    ],
}


def test_responses_function_calls_reasoning_and_history(rec: Recording) -> None:
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
    ]
    openai_client(Server(json_response(RESPONSE_WITH_CALL))).responses.create(
        model="gpt-4.1", input=history, text={"format": {"type": "text"}}
    )
    span = rec.one_llm_span()
    a = attrs(span)
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert a["gen_ai.output.type"] == "text"
    assert a["openai.api.type"] == "responses"
    assert _messages(span, "input") == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18C"}]},
    ]
    (output,) = _messages(span, "output")
    assert output["parts"] == [
        {"type": "reasoning", "content": "Need the weather tool."},
        {"type": "tool_call", "id": "call_9", "name": "get_weather", "arguments": {"city": "Oslo"}},
    ]


ANTHROPIC_TOOLS = {
    "id": "msg_t",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [
        {"type": "thinking", "thinking": "The user wants the time.", "signature": "sig"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {"tz": "UTC"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 30, "output_tokens": 20},
}

ANTHROPIC_HISTORY = [
    {"role": "user", "content": "What time is it?"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Use the tool.", "signature": "s"},
            {"type": "tool_use", "id": "toolu_0", "name": "get_time", "input": {"tz": "CET"}},
        ],
    },
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_0", "content": "12:00"}]},
]


def test_anthropic_thinking_and_tools_plain(rec: Recording) -> None:
    anthropic_client(Server(json_response(ANTHROPIC_TOOLS))).messages.create(
        model="claude-sonnet-4-20250514", max_tokens=100, messages=ANTHROPIC_HISTORY
    )
    span = rec.one_llm_span()
    inputs = _messages(span, "input")
    assert inputs[1]["parts"] == [
        {"type": "reasoning", "content": "Use the tool."},
        {"type": "tool_call", "id": "toolu_0", "name": "get_time", "arguments": {"tz": "CET"}},
    ]
    assert inputs[2] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "toolu_0", "response": "12:00"}],
    }
    (output,) = _messages(span, "output")
    assert output["parts"] == [
        {"type": "reasoning", "content": "The user wants the time."},
        {"type": "text", "content": "Checking."},
        {"type": "tool_call", "id": "toolu_1", "name": "get_time", "arguments": {"tz": "UTC"}},
    ]


def _anthropic_tool_stream() -> bytes:
    def event(name: str, **data: Any) -> tuple[str, dict[str, Any]]:
        return name, {"type": name, **data}

    message = {
        **ANTHROPIC_TOOLS,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 30, "output_tokens": 1},
    }
    return sse(
        [
            event("message_start", message=message),
            event(
                "content_block_start",
                index=0,
                content_block={"type": "thinking", "thinking": "", "signature": ""},
            ),
            event("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "Time "}),
            event("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "tool."}),
            event("content_block_stop", index=0),
            event("content_block_start", index=1, content_block={"type": "text", "text": ""}),
            event("content_block_delta", index=1, delta={"type": "text_delta", "text": "Checking."}),
            event("content_block_stop", index=1),
            event(
                "content_block_start",
                index=2,
                content_block={"type": "tool_use", "id": "toolu_s", "name": "get_time", "input": {}},
            ),
            event(
                "content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": '{"tz": '}
            ),
            event(
                "content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": '"UTC"}'}
            ),
            event("content_block_stop", index=2),
            event(
                "message_delta",
                delta={"stop_reason": "tool_use", "stop_sequence": None},
                usage={"output_tokens": 25},
            ),
            event("message_stop"),
        ],
        done=False,
        events=True,
    )


@pytest.mark.parametrize("how", ["create", "stream"])
def test_anthropic_streamed_thinking_and_tool_use(rec: Recording, how: str) -> None:
    client = anthropic_client(Server(sse_response(_anthropic_tool_stream())))
    request = {"model": "claude-sonnet-4-20250514", "max_tokens": 100, "messages": ANTHROPIC_HISTORY[:1]}
    if how == "create":
        list(client.messages.create(stream=True, **request))
    else:
        with client.messages.stream(**request) as stream:
            final = stream.get_final_message()
        assert final.content[2].input == {"tz": "UTC"}
    (output,) = _messages(rec.one_llm_span(), "output")
    assert output["finish_reason"] == "tool_use"
    assert output["parts"] == [
        {"type": "reasoning", "content": "Time tool."},
        {"type": "text", "content": "Checking."},
        {"type": "tool_call", "id": "toolu_s", "name": "get_time", "arguments": {"tz": "UTC"}},
    ]


# -- providers and servers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "provider", "port"),
    [
        ("https://api.openai.com/v1", "openai", 443),
        ("https://my-res.openai.azure.com/openai/deployments/gpt-4o", "azure.ai.openai", 443),
        ("https://api.groq.com/openai/v1", "groq", 443),
        ("https://api.deepseek.com", "deepseek", 443),
        ("https://api.together.xyz/v1", "together_ai", 443),
        ("https://openrouter.ai/api/v1", "openrouter", 443),
        ("https://api.mistral.ai/v1", "mistral_ai", 443),
        ("https://generativelanguage.googleapis.com/v1beta/openai/", "gcp.gemini", 443),
        ("https://api.x.ai/v1", "x_ai", 443),
        ("http://localhost:11434/v1", "ollama", 11434),
        ("http://127.0.0.1:8000/v1", "openai", 8000),  # a vLLM server says nothing about itself
    ],
)
def test_provider_from_the_real_base_urls(base_url: str, provider: str, port: int) -> None:
    """The mapping on the real URL strings, parsed as the SDK parses them (no request is made)."""
    url = httpx.URL(base_url)
    assert provider_for(url.host, url.port, "openai") == provider
    from agentops_otel.instrumentation._core import server_attributes

    class Client:
        _base_url = url

    found: dict[str, Any] = {}
    server_attributes(Client(), found)
    assert found == {"server.address": url.host, "server.port": port}


def test_configured_hosts_name_self_hosted_servers_and_price_them(rec: Recording) -> None:
    """A vLLM server on 127.0.0.1, named by ``provider_hosts``: the span says vllm and has no cost,
    unless the user prices the model; Groq's host (injected for the test) gets Groq's prices."""
    from agentops_otel.pricing import set_prices

    server = Server(json_response({**TOOL_COMPLETION, "model": "llama-3.3-70b-versatile"}))
    client = openai_client(server)
    port = httpx.URL(str(client.base_url)).port
    config = _runtime.config()
    try:
        _runtime.set_config(config.replace(provider_hosts={f"127.0.0.1:{port}": "vllm"}))
        client.chat.completions.create(model="llama-3.3-70b-versatile", messages=HISTORY[:2])
        _runtime.set_config(config.replace(provider_hosts={"127.0.0.1": "groq"}))
        client.chat.completions.create(model="llama-3.3-70b-versatile", messages=HISTORY[:2])
        set_prices({"llama-3.3-70b-versatile": {"input": 1.0, "output": 1.0}})
        _runtime.set_config(config.replace(provider_hosts={f"127.0.0.1:{port}": "vllm"}))
        client.chat.completions.create(model="llama-3.3-70b-versatile", messages=HISTORY[:2])
    finally:
        set_prices(None)
        _runtime.set_config(config)
    vllm, groq, priced = (attrs(s) for s in rec.llm_spans())
    assert vllm["gen_ai.provider.name"] == "vllm" and "agentops.usage.cost_usd" not in vllm
    assert groq["gen_ai.provider.name"] == "groq"
    assert groq["agentops.usage.cost_usd"] == pytest.approx((50 * 0.59 + 20 * 0.79) / 1e6)
    assert priced["agentops.usage.cost_usd"] == pytest.approx(70 / 1e6)
