"""Provider messages as GenAI semantic-convention messages (``gen_ai.input.messages`` /
``gen_ai.output.messages``), with every part the conventions name:

- ``text`` (``content``), ``reasoning`` (``content``: thinking / reasoning summaries where returned);
- ``tool_call`` (``id``, ``name``, ``arguments`` as an object when the provider sent JSON);
- ``tool_call_response`` (``id`` of the call answered, ``response``);
- anything else as ``{"type": <provider block type>}`` (images, files: never their bytes).

Used only with content capture on. Texts are cut by :func:`agentops_otel._content.text`; the caller's
``to_json`` bounds the whole attribute. Inputs may be dicts (what users pass) or SDK objects (what
frameworks pass back): :func:`get` reads both.
"""

from __future__ import annotations

import json
from typing import Any

from agentops_otel._content import text as bounded
from agentops_otel.instrumentation._core import get

Part = dict[str, Any]
Message = dict[str, Any]


def arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they are JSON text (the conventions' preference)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return bounded(raw)
    return raw


def tool_call(call_id: Any, name: Any, args: Any) -> Part:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments(args)}


def _content_value(value: Any) -> Any:
    if isinstance(value, str):
        return bounded(value)
    if isinstance(value, (list, tuple)):
        texts = [get(block, "text") for block in value]
        if all(isinstance(t, str) for t in texts):
            return bounded("".join(texts))
    return value


# -- OpenAI chat completions ---------------------------------------------------------------------------


def openai_content_parts(content: Any) -> list[Part]:
    """A chat or Responses message's content: a string or a list of typed blocks."""
    if isinstance(content, str):
        return [{"type": "text", "content": bounded(content)}]
    parts: list[Part] = []
    for block in content or ():
        kind = get(block, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": bounded(get(block, "text") or "")})
        elif kind == "refusal":
            parts.append({"type": "text", "content": bounded(get(block, "refusal") or "")})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def _reasoning_of(message: Any) -> str | None:
    """DeepSeek, vLLM and others return reasoning as ``reasoning_content``; OpenRouter as ``reasoning``."""
    for name in ("reasoning_content", "reasoning"):
        value = get(message, name)
        if isinstance(value, str) and value:
            return value
    return None


def openai_chat_message(message: Any) -> Message:
    """One chat message (input history or a choice's message) with its tool calls and tool results."""
    role = get(message, "role") or "assistant"
    content = get(message, "content")
    if role == "tool":
        response = {"type": "tool_call_response", "id": get(message, "tool_call_id")}
        response["response"] = _content_value(content)
        return {"role": "tool", "parts": [response]}
    parts: list[Part] = []
    reasoning = _reasoning_of(message)
    if reasoning is not None:
        parts.append({"type": "reasoning", "content": bounded(reasoning)})
    if content is not None:
        parts.extend(openai_content_parts(content))
    for call in get(message, "tool_calls") or ():
        function = get(call, "function")
        parts.append(tool_call(get(call, "id"), get(function, "name"), get(function, "arguments")))
    legacy = get(message, "function_call")  # the pre-tools field
    if legacy is not None:
        parts.append(tool_call(None, get(legacy, "name"), get(legacy, "arguments")))
    out: Message = {"role": str(role), "parts": parts}
    name = get(message, "name")
    if isinstance(name, str):
        out["name"] = name
    return out


def openai_chat_messages(messages: Any) -> list[Message]:
    return [openai_chat_message(m) for m in messages or ()]


# -- OpenAI Responses API ------------------------------------------------------------------------------


def _reasoning_text(item: Any) -> str | None:
    texts = [get(s, "text") for s in get(item, "summary") or ()]
    texts += [get(c, "text") for c in get(item, "content") or ()]
    joined = "\n".join(t for t in texts if isinstance(t, str))
    return joined or None


def _item_parts(item: Any) -> tuple[str, list[Part]]:
    """A Responses item (input or output) as (role, parts)."""
    kind = get(item, "type")
    if kind == "function_call":
        return "assistant", [tool_call(get(item, "call_id"), get(item, "name"), get(item, "arguments"))]
    if kind == "function_call_output":
        output = {"type": "tool_call_response", "id": get(item, "call_id")}
        output["response"] = _content_value(get(item, "output"))
        return "tool", [output]
    if kind == "reasoning":
        content = _reasoning_text(item)
        return "assistant", [{"type": "reasoning", **({"content": bounded(content)} if content else {})}]
    if kind in (None, "message"):
        return str(get(item, "role") or "user"), openai_content_parts(get(item, "content"))
    # Built-in tools (web_search_call, file_search_call, computer_call, ...): the call, not its payload.
    name = str(kind).removesuffix("_call")
    return "assistant", [{"type": "tool_call", "id": get(item, "id"), "name": name}]


def responses_input(value: Any) -> list[Message]:
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": bounded(value)}]}]
    messages: list[Message] = []
    for item in value if isinstance(value, (list, tuple)) else ():
        role, parts = _item_parts(item)
        # Consecutive items of one assistant turn (reasoning, calls) make one message.
        if messages and role == "assistant" == messages[-1]["role"] and get(item, "type") != "message":
            messages[-1]["parts"].extend(parts)
        else:
            messages.append({"role": role, "parts": parts})
    return messages


def responses_finish_reason(response: Any) -> str | None:
    """A finish reason in the conventions' terms; the response ``status`` is not one."""
    status = get(response, "status")
    reason = get(get(response, "incomplete_details"), "reason")
    if isinstance(reason, str):
        return "length" if reason == "max_output_tokens" else reason
    if status == "completed":
        calls = any(get(item, "type") == "function_call" for item in get(response, "output") or ())
        return "tool_calls" if calls else "stop"
    if status == "failed":
        return "error"
    return status if isinstance(status, str) else None


def responses_output(response: Any) -> list[Message]:
    parts: list[Part] = []
    for item in get(response, "output") or ():
        parts.extend(_item_parts(item)[1])
    return [{"role": "assistant", "parts": parts, "finish_reason": responses_finish_reason(response)}]


# -- Anthropic -----------------------------------------------------------------------------------------


def anthropic_parts(content: Any) -> list[Part]:
    """An Anthropic message's content blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "content": bounded(content)}]
    parts: list[Part] = []
    for block in content or ():
        kind = get(block, "type")
        if kind == "text":
            parts.append({"type": "text", "content": bounded(get(block, "text") or "")})
        elif kind in ("tool_use", "server_tool_use"):
            parts.append(tool_call(get(block, "id"), get(block, "name"), get(block, "input")))
        elif kind == "tool_result":
            result = {"type": "tool_call_response", "id": get(block, "tool_use_id")}
            result["response"] = _content_value(get(block, "content"))
            parts.append(result)
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": bounded(get(block, "thinking") or "")})
        elif kind == "redacted_thinking":
            parts.append({"type": "reasoning"})  # encrypted by Anthropic: nothing readable to record
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def anthropic_messages(messages: Any) -> list[Message]:
    out = []
    for message in messages or ():
        parts = anthropic_parts(get(message, "content"))
        role = get(message, "role")
        # Tool results travel in a user message; the conventions give them the role "tool".
        if role == "user" and parts and all(p["type"] == "tool_call_response" for p in parts):
            role = "tool"
        out.append({"role": role, "parts": parts})
    return out
