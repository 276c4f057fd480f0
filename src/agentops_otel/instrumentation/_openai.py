"""Instrumentation of the ``openai`` SDK: chat completions, the Responses API and embeddings.

Wrapped (sync and async): ``chat.completions.create`` and ``.parse``, ``responses.create`` and
``.parse``, ``embeddings.create``. The stream helpers (``chat.completions.stream(...)``,
``responses.stream(...)``, and ``beta.chat.completions.stream`` in older SDKs) call ``create(stream=True)``
and so go through the same wrapper; their ``close()`` is hooked so closing the helper ends the span.
``with_raw_response`` calls the same bound method with a marker header: the wrapper parses the raw
response (cached by the SDK, so the caller's ``parse()`` returns the same object) and, for a stream,
swaps the proxy into that cache. ``with_streaming_response`` is recorded without reading the body.

Streamed chat calls ask for token usage (``stream_options={"include_usage": True}``) only when the
caller did not set ``stream_options``; the extra usage-only chunk is then hidden from the caller.

:func:`patch` is called by the openai ``Patcher`` once per target module, as openai imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from agentops_otel import semconv
from agentops_otel._content import to_json
from agentops_otel.instrumentation import _messages as m
from agentops_otel.instrumentation import _patching as p
from agentops_otel.instrumentation._core import (
    LLMCall,
    Telemetry,
    debug_failure,
    get,
    given,
    raw_mode,
    server_attributes,
    start_call,
)
from agentops_otel.instrumentation._patching import Patcher
from agentops_otel.instrumentation._providers import provider_of_attributes
from agentops_otel.instrumentation._streams import finish_inner_stream
from agentops_otel.instrumentation._wrapping import Operation, async_wrapper, sync_wrapper

_NUMBER_PARAMS = {
    "temperature": semconv.REQUEST_TEMPERATURE,
    "top_p": semconv.REQUEST_TOP_P,
    "frequency_penalty": semconv.REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": semconv.REQUEST_PRESENCE_PENALTY,
    "seed": semconv.REQUEST_SEED,
}
_MAX_TOKENS_PARAMS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
_OTHER_PARAMS = frozenset({*_MAX_TOKENS_PARAMS, "stop", "n", "service_tier", "stream"})


def _request_params(kwargs: dict[str, Any], out: dict[str, Any]) -> None:
    # One pass over what the caller passed (usually a handful of names) instead of a lookup per
    # known parameter; the less common ones are read only when one of them is present.
    others = False
    for name, value in kwargs.items():
        key = _NUMBER_PARAMS.get(name)
        if key is not None:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[key] = value
        elif name in _OTHER_PARAMS:
            others = True
    if not others:
        return
    for name in _MAX_TOKENS_PARAMS:
        value = kwargs.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            out[semconv.REQUEST_MAX_TOKENS] = value
            break
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        out[semconv.REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        out[semconv.REQUEST_STOP_SEQUENCES] = list(stop)
    n = kwargs.get("n")
    if isinstance(n, int) and n != 1:
        out[semconv.REQUEST_CHOICE_COUNT] = n
    tier = kwargs.get("service_tier")
    if isinstance(tier, str):
        out[semconv.OPENAI_REQUEST_SERVICE_TIER] = tier
    if kwargs.get("stream") is True:
        out[semconv.REQUEST_STREAM] = True


def _output_type(kwargs: dict[str, Any]) -> str | None:
    """``gen_ai.output.type`` when a format is requested: chat ``response_format``, Responses ``text``."""
    fmt = kwargs.get("response_format")
    if fmt is None or not given(fmt):
        fmt = get(kwargs.get("text"), "format") if given(kwargs.get("text")) else None
    if fmt is None or not given(fmt):
        return None
    if isinstance(fmt, type):  # parse(response_format=SomeModel)
        return semconv.OUTPUT_JSON
    kind = get(fmt, "type")
    if kind in ("json_schema", "json_object"):
        return semconv.OUTPUT_JSON
    return semconv.OUTPUT_TEXT if kind == "text" else None


def _begin(
    telemetry: Telemetry, client: Any, kwargs: dict[str, Any], operation: str, api: str | None
) -> LLMCall | None:
    """The span of a chat, Responses or embeddings call, with its server and provider."""
    attributes: dict[str, Any] = {}
    server_attributes(client, attributes)
    if api is not None:
        _request_params(kwargs, attributes)
        attributes[semconv.OPENAI_API_TYPE] = api
        output_type = _output_type(kwargs)
        if output_type is not None:
            attributes[semconv.OUTPUT_TYPE] = output_type
    provider = provider_of_attributes(attributes, semconv.PROVIDER_OPENAI)
    return start_call(telemetry, operation, provider, kwargs.get("model"), attributes)


def _usage_of_chat(call: LLMCall, usage: Any) -> None:
    if usage is None:
        return
    cached = get(get(usage, "prompt_tokens_details"), "cached_tokens")
    reasoning = get(get(usage, "completion_tokens_details"), "reasoning_tokens")
    call.set_usage(get(usage, "prompt_tokens"), get(usage, "completion_tokens"), cached, None, reasoning)


# -- chat completions -----------------------------------------------------------------------------


def _index(choice: Any) -> int:
    index = getattr(choice, "index", 0)
    return index if isinstance(index, int) else 0


class _ChatState:
    __slots__ = ("hide_usage",)

    def __init__(self, hide_usage: bool) -> None:
        self.hide_usage = hide_usage


class _ChatAccumulator:
    """Reads chat completion chunks: id, model, finish reasons, usage and (if captured) the content:
    text, reasoning and tool calls, whose name and argument fragments arrive over many chunks."""

    __slots__ = (
        "capture",
        "fingerprint",
        "hide_usage",
        "id",
        "model",
        "reasoning",
        "reasons",
        "service_tier",
        "texts",
        "tools",
        "usage",
    )

    def __init__(self, hide_usage: bool, capture: bool) -> None:
        self.hide_usage = hide_usage
        self.capture = capture
        self.id: Any = None
        self.model: Any = None
        self.usage: Any = None
        self.service_tier: Any = None
        self.fingerprint: Any = None
        self.reasons: dict[int, str] = {}
        self.texts: dict[int, list[str]] = {}
        self.reasoning: dict[int, list[str]] = {}
        # (choice, tool call index) -> [id, name, argument fragments]
        self.tools: dict[tuple[int, int], list[Any]] = {}

    def item(self, chunk: Any) -> bool:
        # Per chunk: a few attribute reads; a choice's index is read only when it carries something.
        if self.id is None:
            self.id = getattr(chunk, "id", None)
            self.model = getattr(chunk, "model", None)
        if self.fingerprint is None:  # some providers send it on the later chunks only
            self.fingerprint = getattr(chunk, "system_fingerprint", None)
        tier = getattr(chunk, "service_tier", None)
        if tier is not None:
            self.service_tier = tier
        usage = getattr(chunk, "usage", None)
        choices = getattr(chunk, "choices", None)
        if choices:
            capture = self.capture
            for choice in choices:
                reason = getattr(choice, "finish_reason", None)
                if capture:
                    self._content(choice)
                if isinstance(reason, str):
                    self.reasons[_index(choice)] = reason
        if usage is None:
            return False
        self.usage = usage
        # The usage-only chunk we asked for: the caller would not have seen it.
        return self.hide_usage and isinstance(choices, list) and not choices

    def _content(self, choice: Any) -> None:
        delta = getattr(choice, "delta", None)
        if delta is None:
            return
        text = getattr(delta, "content", None)
        if isinstance(text, str):
            self.texts.setdefault(_index(choice), []).append(text)
        thought = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
        if isinstance(thought, str):
            self.reasoning.setdefault(_index(choice), []).append(thought)
        calls = getattr(delta, "tool_calls", None)
        if calls:
            for call in calls:
                key = (_index(choice), getattr(call, "index", 0) or 0)
                entry = self.tools.setdefault(key, [None, None, []])
                function = getattr(call, "function", None)
                entry[0] = getattr(call, "id", None) or entry[0]
                entry[1] = getattr(function, "name", None) or entry[1]
                fragment = getattr(function, "arguments", None)
                if isinstance(fragment, str):
                    entry[2].append(fragment)

    def finish(self, call: LLMCall) -> None:
        call.set_response(self.id, self.model, [self.reasons[i] for i in sorted(self.reasons)])
        if isinstance(self.service_tier, str):
            call.set(semconv.OPENAI_RESPONSE_SERVICE_TIER, self.service_tier)
        if isinstance(self.fingerprint, str):
            call.set(semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, self.fingerprint)
        _usage_of_chat(call, self.usage)
        if self.capture and (self.texts or self.reasons or self.tools or self.reasoning):
            call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(self._messages()))

    def _messages(self) -> list[dict[str, Any]]:
        indexes = set(self.texts) | set(self.reasons) | set(self.reasoning) | {i for i, _ in self.tools}
        messages = []
        for i in sorted(indexes):
            parts: list[dict[str, Any]] = []
            if i in self.reasoning:
                parts.append({"type": "reasoning", "content": "".join(self.reasoning[i])})
            if i in self.texts or not any(k[0] == i for k in self.tools):
                parts.append({"type": "text", "content": "".join(self.texts.get(i, ()))})
            for (choice, _), (call_id, name, fragments) in sorted(self.tools.items()):
                if choice == i:
                    parts.append(m.tool_call(call_id, name, "".join(fragments)))
            messages.append({"role": "assistant", "parts": parts, "finish_reason": self.reasons.get(i)})
        return messages


def _usage_request(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The ``extra_body`` asking a stream for its token usage, or None when the caller set stream options.

    Set by the caller means ``stream_options`` present and not the SDK's omit sentinel (None counts as
    set), or a ``stream_options`` key in their ``extra_body``. It is sent as ``extra_body`` rather than
    as the ``stream_options`` argument: the SDK merges that into the JSON body as is, where the
    argument would go through its typed-dict transform (~10 us a call); the body sent is the same.
    """
    if "stream_options" in kwargs:
        options = kwargs["stream_options"]
        if options is None or given(options):
            return None
    extra = kwargs.get("extra_body")
    if extra is None or not given(extra):
        return {"stream_options": {"include_usage": True}}
    if isinstance(extra, Mapping) and "stream_options" not in extra:
        return {**extra, "stream_options": {"include_usage": True}}
    return None


class _Chat:
    operation = semconv.OP_CHAT

    def begin(
        self, telemetry: Telemetry, client: Any, kwargs: dict[str, Any]
    ) -> tuple[LLMCall, dict[str, Any], Any] | None:
        call = _begin(telemetry, client, kwargs, semconv.OP_CHAT, "chat_completions")
        if call is None:
            return None
        if call.capture:
            try:
                call.span.set_attribute(
                    semconv.INPUT_MESSAGES, to_json(m.openai_chat_messages(kwargs.get("messages")))
                )
            except Exception:
                debug_failure("recording input messages")
        hide = False
        if kwargs.get("stream") is True and raw_mode(kwargs) is None:
            extra = _usage_request(kwargs)
            if extra is not None:
                kwargs = {**kwargs, "extra_body": extra}
                hide = True
        return call, kwargs, _ChatState(hide)

    def response(self, call: LLMCall, result: Any) -> None:
        choices = getattr(result, "choices", None) or ()
        reasons = [c.finish_reason for c in choices if isinstance(getattr(c, "finish_reason", None), str)]
        call.set_response(getattr(result, "id", None), getattr(result, "model", None), reasons)
        tier = getattr(result, "service_tier", None)
        if isinstance(tier, str):
            call.set(semconv.OPENAI_RESPONSE_SERVICE_TIER, tier)
        fingerprint = getattr(result, "system_fingerprint", None)
        if isinstance(fingerprint, str):
            call.set(semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, fingerprint)
        _usage_of_chat(call, getattr(result, "usage", None))
        if call.capture:
            messages = []
            for choice in choices:
                entry = m.openai_chat_message(getattr(choice, "message", None))
                entry["finish_reason"] = getattr(choice, "finish_reason", None)
                messages.append(entry)
            call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(messages))

    def accumulator(self, call: LLMCall, state: Any) -> _ChatAccumulator:
        return _ChatAccumulator(bool(getattr(state, "hide_usage", False)), call.capture)


# -- responses API --------------------------------------------------------------------------------


def _responses_result(call: LLMCall, response: Any) -> None:
    reason = m.responses_finish_reason(response)
    reasons = [reason] if reason is not None else None
    call.set_response(getattr(response, "id", None), getattr(response, "model", None), reasons)
    usage = getattr(response, "usage", None)
    if usage is not None:
        call.set_usage(
            get(usage, "input_tokens"),
            get(usage, "output_tokens"),
            get(get(usage, "input_tokens_details"), "cached_tokens"),
            None,
            get(get(usage, "output_tokens_details"), "reasoning_tokens"),
        )
    if call.capture:
        call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(m.responses_output(response)))


class _ResponsesAccumulator:
    __slots__ = ("final", "id", "model")

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self) -> None:
        self.final: Any = None
        self.id: Any = None
        self.model: Any = None

    def item(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind in self._FINAL:
            self.final = getattr(event, "response", None)
        elif kind == "response.created":
            response = getattr(event, "response", None)
            self.id = getattr(response, "id", None)
            self.model = getattr(response, "model", None)
        return False

    def finish(self, call: LLMCall) -> None:
        if self.final is not None:
            _responses_result(call, self.final)
        else:
            call.set_response(self.id, self.model, None)


class _Responses:
    def begin(
        self, telemetry: Telemetry, client: Any, kwargs: dict[str, Any]
    ) -> tuple[LLMCall, dict[str, Any], Any] | None:
        call = _begin(telemetry, client, kwargs, semconv.OP_CHAT, "responses")
        if call is None:
            return None
        if call.capture:
            try:
                instructions = kwargs.get("instructions")
                if isinstance(instructions, str):
                    call.span.set_attribute(
                        semconv.SYSTEM_INSTRUCTIONS, to_json([{"type": "text", "content": instructions}])
                    )
                messages = m.responses_input(kwargs.get("input"))
                call.span.set_attribute(semconv.INPUT_MESSAGES, to_json(messages))
            except Exception:
                debug_failure("recording input messages")
        return call, kwargs, None

    def response(self, call: LLMCall, result: Any) -> None:
        _responses_result(call, result)

    def accumulator(self, call: LLMCall, state: Any) -> _ResponsesAccumulator:
        return _ResponsesAccumulator()


# -- embeddings -----------------------------------------------------------------------------------


class _Embeddings:
    def begin(
        self, telemetry: Telemetry, client: Any, kwargs: dict[str, Any]
    ) -> tuple[LLMCall, dict[str, Any], Any] | None:
        attributes: dict[str, Any] = {}
        server_attributes(client, attributes)
        fmt = kwargs.get("encoding_format")
        if isinstance(fmt, str):
            attributes[semconv.REQUEST_ENCODING_FORMATS] = [fmt]
        dimensions = kwargs.get("dimensions")
        if isinstance(dimensions, int):
            attributes[semconv.EMBEDDINGS_DIMENSION_COUNT] = dimensions
        provider = provider_of_attributes(attributes, semconv.PROVIDER_OPENAI)
        call = start_call(telemetry, semconv.OP_EMBEDDINGS, provider, kwargs.get("model"), attributes)
        return None if call is None else (call, kwargs, None)

    def response(self, call: LLMCall, result: Any) -> None:
        call.set_response(None, getattr(result, "model", None), None)
        usage = getattr(result, "usage", None)
        if usage is not None:
            call.set_usage(get(usage, "prompt_tokens"), None)
        data = getattr(result, "data", None)
        if data:
            vector = getattr(data[0], "embedding", None)
            if isinstance(vector, list):
                call.set(semconv.EMBEDDINGS_DIMENSION_COUNT, len(vector))

    def accumulator(self, call: LLMCall, state: Any) -> _ResponsesAccumulator:  # never streamed
        return _ResponsesAccumulator()


def _helper_close(is_async: bool) -> Any:
    if is_async:

        async def async_close(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            try:
                return await wrapped(*args, **kwargs)
            finally:
                finish_inner_stream(instance)

        return async_close

    def close(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            return wrapped(*args, **kwargs)
        finally:
            finish_inner_stream(instance)

    return close


_CHAT = _Chat()
_RESPONSES = _Responses()
_EMBEDDINGS = _Embeddings()


def patch(patcher: Patcher, module: ModuleType) -> None:
    """Wraps what ``module`` (one of the openai target modules of ``_patching``) defines."""
    name = module.__name__
    if name in (p.OPENAI_CHAT, p.OPENAI_CHAT_OLD):
        ops: list[tuple[str, Operation]] = [("Completions", _CHAT)]
    elif name == p.OPENAI_RESPONSES:
        ops = [("Responses", _RESPONSES)]
    elif name == p.OPENAI_EMBEDDINGS:
        ops = [("Embeddings", _EMBEDDINGS)]
    elif name == p.OPENAI_CHAT_STREAM:
        patcher.wrap(module, "ChatCompletionStream.close", _helper_close(False))
        patcher.wrap(module, "AsyncChatCompletionStream.close", _helper_close(True))
        return
    elif name == p.OPENAI_RESPONSE_STREAM:
        patcher.wrap(module, "ResponseStream.close", _helper_close(False))
        patcher.wrap(module, "AsyncResponseStream.close", _helper_close(True))
        return
    else:
        return
    for cls, op in ops:
        for method in ("create", "parse"):
            patcher.wrap(module, f"{cls}.{method}", sync_wrapper(patcher, op))
            patcher.wrap(module, f"Async{cls}.{method}", async_wrapper(patcher, op))
