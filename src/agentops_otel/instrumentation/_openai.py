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
from operator import attrgetter
from types import ModuleType
from typing import Any

from opentelemetry.context import Context

from agentops_otel import semconv
from agentops_otel._content import to_json
from agentops_otel.instrumentation import _messages as m
from agentops_otel.instrumentation import _patching as p
from agentops_otel.instrumentation._core import (
    LLMCall,
    Telemetry,
    debug_failure,
    given,
    raw_mode,
)
from agentops_otel.instrumentation._openai_request import begin_call, usage_of_chat
from agentops_otel.instrumentation._openai_responses import Embeddings, Responses
from agentops_otel.instrumentation._patching import Patcher
from agentops_otel.instrumentation._streams import finish_inner_stream
from agentops_otel.instrumentation._wrapping import Operation, async_wrapper, sync_wrapper

# -- chat completions -----------------------------------------------------------------------------


def _index(choice: Any) -> int:
    index = getattr(choice, "index", 0)
    return index if isinstance(index, int) else 0


_CHAT_NAMES = ("id", "model", "choices", "service_tier", "system_fingerprint", "usage")
_CHAT_FIELDS = attrgetter(*_CHAT_NAMES)
_FINISH_REASON = attrgetter("finish_reason")


class _ChatState:
    __slots__ = ("hide_usage",)

    def __init__(self, hide_usage: bool) -> None:
        self.hide_usage = hide_usage


class ChatAccumulator:
    """Reads chat completion chunks: id, model, finish reasons, usage and (if captured) the content:
    text, reasoning and tool calls, whose name and argument fragments arrive over many chunks. Also
    LiteLLM's reader: its streams carry chunks of the same shape."""

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
        usage_of_chat(call, self.usage)
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
        self, telemetry: Telemetry, client: Any, kwargs: dict[str, Any], ctx: Context | None = None
    ) -> tuple[LLMCall, dict[str, Any], Any] | None:
        call = begin_call(telemetry, client, kwargs, semconv.OP_CHAT, "chat_completions", ctx)
        if call is None:
            return None
        if call.capture:
            try:
                call.span.set_attribute(
                    semconv.INPUT_MESSAGES, to_json(m.openai_chat_messages(kwargs.get("messages")))
                )
            except Exception:
                debug_failure("recording input messages")
        if kwargs.get("stream") is not True:
            return call, kwargs, None
        hide = False
        if raw_mode(kwargs) is None:
            extra = _usage_request(kwargs)
            if extra is not None:
                kwargs = {**kwargs, "extra_body": extra}
                hide = True
        return call, kwargs, _ChatState(hide)

    def response(self, call: LLMCall, result: Any) -> None:
        # The SDK's ChatCompletion: its fields in one C call (``attrgetter``), a third of what a
        # ``getattr`` with a default per field costs; any other object is read field by field.
        try:
            rid, model, choices, tier, fingerprint, usage = _CHAT_FIELDS(result)
            reasons = list(map(_FINISH_REASON, choices))
        except (AttributeError, TypeError):
            rid, model, choices, tier, fingerprint, usage = (getattr(result, n, None) for n in _CHAT_NAMES)
            choices = choices or ()
            reasons = [getattr(choice, "finish_reason", None) for choice in choices]
        call.set_response(rid, model, reasons)  # which keeps the str ones (the SDK does not validate)
        out = call.attributes
        if isinstance(tier, str):
            out[semconv.OPENAI_RESPONSE_SERVICE_TIER] = tier
        if isinstance(fingerprint, str):
            out[semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint
        usage_of_chat(call, usage)
        if call.capture:
            messages = []
            for choice in choices:
                entry = m.openai_chat_message(getattr(choice, "message", None))
                entry["finish_reason"] = getattr(choice, "finish_reason", None)
                messages.append(entry)
            call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(messages))

    def accumulator(self, call: LLMCall, state: Any, stream: Any) -> ChatAccumulator:
        hide = bool(getattr(state, "hide_usage", False))
        if hide:
            _tap_usage_chunk(stream)
        return ChatAccumulator(hide, call.capture)


class _UsageChunk:
    """The usage-only chunk we asked for, read from its JSON. The caller never sees it, so the SDK is
    spared building a typed chunk for it: that costs as much as one content chunk, about a tenth of a
    10-chunk stream's parsing."""

    __slots__ = ("choices", "id", "model", "service_tier", "system_fingerprint", "usage")

    def __init__(self, data: dict[str, Any]) -> None:
        self.choices: list[Any] = []
        self.id = data.get("id")
        self.model = data.get("model")
        self.service_tier = data.get("service_tier")
        self.system_fingerprint = data.get("system_fingerprint")
        self.usage = data["usage"]


class _UsageTap:
    """Stands in for a stream's client, whose ``_process_response_data`` the SDK's stream generator
    reads once when it starts: a usage-only chunk becomes a :class:`_UsageChunk`, every other event
    goes to the client as before, and any other attribute is the client's."""

    __slots__ = ("_tapped",)

    def __init__(self, client: Any) -> None:
        self._tapped = client

    def __getattr__(self, name: str) -> Any:
        if name == "_tapped":  # a copy made without __init__: no recursion through ourselves
            raise AttributeError(name)
        return getattr(self._tapped, name)

    def _process_response_data(self, *args: Any, **kwargs: Any) -> Any:
        data = kwargs.get("data")
        if type(data) is dict and data.get("choices") == [] and data.get("usage"):
            return _UsageChunk(data)
        return self._tapped._process_response_data(*args, **kwargs)


_SDK_STREAMS = frozenset({"Stream", "AsyncStream"})


def _tap_usage_chunk(stream: Any) -> None:
    """Taps the SDK's own ``Stream``/``AsyncStream`` only (``type`` sees through no proxy): another
    instrumentation's stream wrapper would otherwise read our stand-in chunk. A stream whose generator
    already started has read its client; the tap then changes nothing and the typed chunk is read."""
    try:
        kind = type(stream)
        if kind.__name__ in _SDK_STREAMS and kind.__module__.partition(".")[0] == "openai":
            client = vars(stream).get("_client")
            if client is not None:
                stream._client = _UsageTap(client)
    except Exception:
        debug_failure("tapping a stream's usage chunk")


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
_RESPONSES = Responses()
_EMBEDDINGS = Embeddings()


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
