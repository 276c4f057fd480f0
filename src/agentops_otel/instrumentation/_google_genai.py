"""Instrumentation of the Google Gen AI SDK (``google-genai``): ``models.generate_content``,
``generate_content_stream`` and ``embed_content``, sync and async (``client.aio``).

One CLIENT span per call: ``generate_content {model}`` (the conventions' operation for Gemini) or
``embeddings {model}``; provider ``gcp.gemini`` (the Gemini API) or ``gcp.vertex_ai`` (a Vertex
client); tokens from ``usage_metadata`` (cached and thinking tokens too), the finish reason in lower
case (``stop``), and with content capture the contents in and out: text, thoughts as ``reasoning``
parts, function calls and responses. A stream's span ends with the stream (its last chunk carries
the usage).
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context

from agentops_otel import semconv
from agentops_otel._content import text as bounded
from agentops_otel._content import to_json
from agentops_otel.instrumentation import _messages as m
from agentops_otel.instrumentation._around import LLMAround, wrapper
from agentops_otel.instrumentation._core import (
    LLMCall,
    call_context,
    debug_failure,
    get,
    start_call,
    unsuppressed_context,
)
from agentops_otel.instrumentation._patching import Patcher
from agentops_otel.instrumentation._streams import wrap_stream

MODELS = "google.genai.models"

_PARAMS = {
    "temperature": semconv.REQUEST_TEMPERATURE,
    "top_p": semconv.REQUEST_TOP_P,
    "top_k": semconv.REQUEST_TOP_K,
    "max_output_tokens": semconv.REQUEST_MAX_TOKENS,
    "seed": semconv.REQUEST_SEED,
    "presence_penalty": semconv.REQUEST_PRESENCE_PENALTY,
    "frequency_penalty": semconv.REQUEST_FREQUENCY_PENALTY,
}


def _server(instance: Any, out: dict[str, Any]) -> bool:
    """``server.*`` from the client's base URL; True for a Vertex AI client."""
    client = getattr(instance, "_api_client", None)
    vertex = bool(getattr(client, "vertexai", False))
    base = get(getattr(client, "_http_options", None), "base_url")
    if isinstance(base, str) and base:
        parts = urlsplit(base)
        if parts.hostname:
            out[semconv.SERVER_ADDRESS] = parts.hostname
            out[semconv.SERVER_PORT] = parts.port or (443 if parts.scheme == "https" else 80)
    return vertex


def _model_name(model: Any) -> str:
    name = model if isinstance(model, str) else ""
    return name.rsplit("/", 1)[-1] if name.startswith(("models/", "publishers/", "projects/")) else name


def _request(config: Any, out: dict[str, Any]) -> None:
    for name, key in _PARAMS.items():
        value = get(config, name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = value
    stops = get(config, "stop_sequences")
    if isinstance(stops, (list, tuple)) and stops:
        out[semconv.REQUEST_STOP_SEQUENCES] = [str(s) for s in stops]
    count = get(config, "candidate_count")
    if isinstance(count, int) and count != 1:
        out[semconv.REQUEST_CHOICE_COUNT] = count
    mime = get(config, "response_mime_type")
    if isinstance(mime, str):
        out[semconv.OUTPUT_TYPE] = semconv.OUTPUT_JSON if "json" in mime else semconv.OUTPUT_TEXT


def _parts(parts: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts or ():
        if isinstance(part, str):
            out.append({"type": "text", "content": bounded(part)})
            continue
        text = get(part, "text")
        call = get(part, "function_call")
        response = get(part, "function_response")
        if isinstance(text, str):
            kind = "reasoning" if get(part, "thought") else "text"
            out.append({"type": kind, "content": bounded(text)})
        elif call is not None:
            out.append(m.tool_call(get(call, "id"), get(call, "name"), get(call, "args")))
        elif response is not None:
            out.append(
                {
                    "type": "tool_call_response",
                    "id": get(response, "id"),
                    "response": get(response, "response"),
                }
            )
        elif get(part, "inline_data") is not None or get(part, "file_data") is not None:
            out.append({"type": "blob" if get(part, "inline_data") is not None else "file"})
    return out


def _contents(contents: Any) -> list[dict[str, Any]]:
    """``contents``: a string, a part, a Content, or a list of them (strings and parts are one user turn)."""
    items = contents if isinstance(contents, (list, tuple)) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[Any] = []
    for item in items:
        if get(item, "parts") is not None and not isinstance(item, str):
            role = get(item, "role") or "user"
            messages.append(
                {"role": "assistant" if role == "model" else str(role), "parts": _parts(get(item, "parts"))}
            )
        else:
            loose.append(item)
    if loose:
        messages.insert(0, {"role": "user", "parts": _parts(loose)})
    return messages


def _reason(candidate: Any) -> str | None:
    reason = get(candidate, "finish_reason")
    if reason is None:
        return None
    value = getattr(reason, "value", reason)
    return str(value).lower() if value else None


class _Result:
    """What a response (or a stream of them) says; chunks of a stream are folded in one by one."""

    __slots__ = ("capture", "id", "model", "parts", "reasons", "usage")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.id: Any = None
        self.model: Any = None
        self.usage: Any = None
        self.reasons: dict[int, str] = {}
        self.parts: dict[int, list[dict[str, Any]]] = {}

    def item(self, response: Any) -> bool:
        self.id = get(response, "response_id") or self.id
        self.model = get(response, "model_version") or self.model
        usage = get(response, "usage_metadata")
        if usage is not None:
            self.usage = usage
        for i, candidate in enumerate(get(response, "candidates") or ()):
            index = get(candidate, "index")
            index = index if isinstance(index, int) else i
            reason = _reason(candidate)
            if reason is not None:
                self.reasons[index] = reason
            if self.capture:
                self._merge(self.parts.setdefault(index, []), _parts(get(get(candidate, "content"), "parts")))
        return False

    @staticmethod
    def _merge(into: list[dict[str, Any]], parts: list[dict[str, Any]]) -> None:
        for part in parts:  # a stream's text arrives in pieces: one part per kind, in order
            last = into[-1] if into else None
            if last is not None and part["type"] in ("text", "reasoning") and last["type"] == part["type"]:
                last["content"] += part["content"]
            else:
                into.append(dict(part))

    def finish(self, call: LLMCall) -> None:
        call.set_response(self.id, self.model, [self.reasons[i] for i in sorted(self.reasons)])
        usage = self.usage
        if usage is not None:
            output = get(usage, "candidates_token_count")
            thoughts = get(usage, "thoughts_token_count")
            if isinstance(output, int) and isinstance(thoughts, int):
                output += thoughts  # billed as output; the conventions count reasoning in output tokens
            call.set_usage(
                get(usage, "prompt_token_count"),
                output,
                get(usage, "cached_content_token_count"),
                None,
                thoughts,
            )
        if self.capture and (self.parts or self.reasons):
            messages = [
                {"role": "assistant", "parts": self.parts.get(i, []), "finish_reason": self.reasons.get(i)}
                for i in sorted(set(self.parts) | set(self.reasons))
            ]
            call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(messages))


def _begin(patcher: Patcher, instance: Any, kwargs: dict[str, Any], operation: str) -> LLMCall | None:
    telemetry = patcher.telemetry
    if telemetry is None:
        return None
    attributes: dict[str, Any] = {}
    vertex = _server(instance, attributes)
    config = kwargs.get("config")
    if operation != semconv.OP_EMBEDDINGS:
        _request(config, attributes)
    provider = semconv.PROVIDER_GCP_VERTEX_AI if vertex else semconv.PROVIDER_GCP_GEMINI
    call = start_call(telemetry, operation, provider, _model_name(kwargs.get("model")), attributes)
    if call is not None and call.capture and operation != semconv.OP_EMBEDDINGS:
        with contextlib.suppress(Exception):
            system = get(config, "system_instruction")
            if system is not None:
                call.span.set_attribute(semconv.SYSTEM_INSTRUCTIONS, to_json(_contents(system)[0]["parts"]))
            call.span.set_attribute(semconv.INPUT_MESSAGES, to_json(_contents(kwargs.get("contents"))))
    return call


def _read(call: LLMCall, result: Any, operation: str) -> None:
    if operation == semconv.OP_EMBEDDINGS:
        embeddings = get(result, "embeddings") or ()
        values = get(embeddings[0], "values") if embeddings else None
        if isinstance(values, list):
            call.set(semconv.EMBEDDINGS_DIMENSION_COUNT, len(values))
        return
    found = _Result(call.capture)
    found.item(result)
    found.finish(call)


def _steps(inner: Any, call: LLMCall) -> Any:
    """A sync stream whose request is made on its first ``next``: each step runs in the call's context
    (no session baggage or trace headers to the provider, no second HTTP span)."""
    while True:
        token = otel_context.attach(call_context(call))
        try:
            item = next(inner)
        except StopIteration:
            return
        finally:
            otel_context.detach(token)
        yield item


async def _async_steps(inner: Any, call: LLMCall) -> Any:
    while True:
        token = otel_context.attach(call_context(call))
        try:
            item = await inner.__anext__()
        except StopAsyncIteration:
            return
        finally:
            otel_context.detach(token)
        yield item


class _Target:
    """One wrapped method: its operation, whether it streams, sync or async."""

    __slots__ = ("is_async", "operation", "patcher", "stream")

    def __init__(self, patcher: Patcher, operation: str, stream: bool, is_async: bool) -> None:
        self.patcher = patcher
        self.operation = operation
        self.stream = stream
        self.is_async = is_async

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LLMAround | None:
        ctx = unsuppressed_context()
        if ctx is None:
            return None
        try:
            call = _begin(self.patcher, instance, kwargs, self.operation)
            return None if call is None else LLMAround(self, call, ctx, args, kwargs)
        except Exception:
            debug_failure("starting a Google Gen AI span")
            return None

    def finish(self, around: LLMAround, result: Any) -> Any:
        call = around.call
        try:
            if self.stream:
                steps = _async_steps(result, call) if self.is_async else _steps(result, call)
                return wrap_stream(steps, call, _Result(call.capture), self.is_async)
            _read(call, result, self.operation)
        except Exception:
            debug_failure("reading a Google Gen AI response")
        call.end()
        return result


def patch(patcher: Patcher, module: ModuleType) -> None:
    if module.__name__ != MODELS:
        return
    gen, emb = semconv.OP_GENERATE_CONTENT, semconv.OP_EMBEDDINGS
    for cls, is_async in (("Models", False), ("AsyncModels", True)):
        for method, operation, stream in (
            ("generate_content", gen, False),
            ("generate_content_stream", gen, True),
            ("embed_content", emb, False),
        ):
            target = _Target(patcher, operation, stream, is_async)
            patcher.wrap(module, f"{cls}.{method}", wrapper(patcher, target.begin, is_async))
