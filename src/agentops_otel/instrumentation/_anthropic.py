"""Instrumentation of the ``anthropic`` SDK: ``messages.create`` (also ``stream=True``), ``messages.stream``.

Sync and async, ``beta.messages`` too. ``messages.stream(...)`` returns a manager whose request runs on
enter: the span starts there, and the helper stream's raw event stream is proxied so every way of
reading it (iteration, ``text_stream``, ``get_final_message()``) is seen.

The SDK's own OpenTelemetry tracing (``anthropic._tracing``, present in recent versions) would add a
second CLIENT span for the same call and writes ``traceparent`` and ``baggage`` headers into the
request. While this instrumentor is on:

- the client's ``_tracer`` reads as None while one of our LLM spans wraps the call, so the SDK makes
  no span of its own for it (its spans for endpoints we do not wrap are left alone);
- the SDK's trace-header injection is a no-op, so no request to Anthropic carries our trace context
  or baggage (SPEC section 3). Both are restored by ``uninstrument()``.

:func:`patch` is called by the anthropic ``Patcher`` once per target module, as anthropic imports it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from agentops_otel import semconv
from agentops_otel._content import to_json
from agentops_otel.instrumentation import _messages as m
from agentops_otel.instrumentation import _patching as p
from agentops_otel.instrumentation._core import (
    IN_LLM_CALL,
    LLMCall,
    Telemetry,
    debug_failure,
    get,
    is_suppressed,
    server_attributes,
    start_call,
    text_parts,
)
from agentops_otel.instrumentation._patching import Patcher
from agentops_otel.instrumentation._streams import StreamManagerProxy
from agentops_otel.instrumentation._wrapping import Switch, async_wrapper, sync_wrapper

_PARAMS = (
    ("temperature", semconv.REQUEST_TEMPERATURE),
    ("top_p", semconv.REQUEST_TOP_P),
    ("top_k", semconv.REQUEST_TOP_K),
)


def _set_usage(call: LLMCall, usage: Any) -> None:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; the convention's count includes them."""
    if usage is None:
        return
    raw_input = get(usage, "input_tokens")
    read = get(usage, "cache_read_input_tokens")
    written = get(usage, "cache_creation_input_tokens")
    read = read if isinstance(read, int) else 0
    written = written if isinstance(written, int) else 0
    total = raw_input + read + written if isinstance(raw_input, int) else None
    call.set_usage(total, get(usage, "output_tokens"), read, written)


class _StreamAccumulator:
    """Reads raw message stream events. ``message_delta`` usage is cumulative: the last value wins.

    With capture on, each content block is rebuilt from its start event and deltas: text, thinking
    (a ``reasoning`` part), and tool_use, whose input arrives as JSON fragments."""

    __slots__ = ("blocks", "capture", "id", "model", "stop_reason", "usage_delta", "usage_start")

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.id: Any = None
        self.model: Any = None
        self.stop_reason: Any = None
        self.usage_start: Any = None
        self.usage_delta: Any = None
        # index -> [block type, id, name, fragments]
        self.blocks: dict[int, list[Any]] = {}

    def item(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            if self.capture:
                self._delta(event)
        elif kind == "content_block_start":
            if self.capture:
                block = getattr(event, "content_block", None)
                first = getattr(block, "text", None) or getattr(block, "thinking", None)
                self.blocks[getattr(event, "index", 0) or 0] = [
                    getattr(block, "type", None),
                    getattr(block, "id", None),
                    getattr(block, "name", None),
                    [first] if isinstance(first, str) and first else [],
                ]
        elif kind == "message_start":
            message = getattr(event, "message", None)
            self.id = getattr(message, "id", None)
            self.model = getattr(message, "model", None)
            self.usage_start = getattr(message, "usage", None)
        elif kind == "message_delta":
            reason = getattr(getattr(event, "delta", None), "stop_reason", None)
            if reason is not None:
                self.stop_reason = reason
            usage = getattr(event, "usage", None)
            if usage is not None:
                self.usage_delta = usage
        return False

    def _delta(self, event: Any) -> None:
        delta = getattr(event, "delta", None)
        block = self.blocks.setdefault(getattr(event, "index", 0) or 0, ["text", None, None, []])
        for name in ("text", "thinking", "partial_json"):
            fragment = getattr(delta, name, None)
            if isinstance(fragment, str):
                block[3].append(fragment)
                return

    def _parts(self) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for index in sorted(self.blocks):
            kind, block_id, name, fragments = self.blocks[index]
            joined = "".join(fragments)
            if kind in ("tool_use", "server_tool_use"):
                parts.append(m.tool_call(block_id, name, joined or "{}"))
            elif kind == "thinking":
                parts.append({"type": "reasoning", "content": joined})
            elif kind == "redacted_thinking":
                parts.append({"type": "reasoning"})
            elif kind == "text":
                parts.append({"type": "text", "content": joined})
            elif kind is not None:
                parts.append({"type": str(kind)})
        return parts or [{"type": "text", "content": ""}]

    def finish(self, call: LLMCall) -> None:
        reasons = [self.stop_reason] if isinstance(self.stop_reason, str) else None
        call.set_response(self.id, self.model, reasons)
        start, delta = self.usage_start, self.usage_delta
        if start is not None or delta is not None:
            merged: dict[str, Any] = {}
            for source in (start, delta):
                for name in (
                    "input_tokens",
                    "output_tokens",
                    "cache_read_input_tokens",
                    "cache_creation_input_tokens",
                ):
                    value = get(source, name) if source is not None else None
                    if isinstance(value, int):
                        merged[name] = value
            _set_usage(call, merged)
        if self.capture and (self.blocks or reasons):
            message = {"role": "assistant", "parts": self._parts(), "finish_reason": self.stop_reason}
            call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json([message]))


class _Messages:
    def begin(
        self, telemetry: Telemetry, client: Any, kwargs: dict[str, Any], ctx: Context | None = None
    ) -> tuple[LLMCall, dict[str, Any], Any] | None:
        attributes: dict[str, Any] = {}
        server_attributes(client, attributes)
        for name, key in _PARAMS:
            value = kwargs.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[key] = value
        max_tokens = kwargs.get("max_tokens")
        if isinstance(max_tokens, int):
            attributes[semconv.REQUEST_MAX_TOKENS] = max_tokens
        stop = kwargs.get("stop_sequences")
        if isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
            attributes[semconv.REQUEST_STOP_SEQUENCES] = list(stop)
        if kwargs.get("stream") is True:
            attributes[semconv.REQUEST_STREAM] = True
        call = start_call(
            telemetry, semconv.OP_CHAT, semconv.PROVIDER_ANTHROPIC, kwargs.get("model"), attributes, ctx
        )
        if call is None:
            return None
        if call.capture:
            try:
                system = kwargs.get("system")
                if system is not None and type(system).__name__ not in ("Omit", "NotGiven"):
                    call.span.set_attribute(semconv.SYSTEM_INSTRUCTIONS, to_json(text_parts(system)))
                messages = m.anthropic_messages(kwargs.get("messages"))
                call.span.set_attribute(semconv.INPUT_MESSAGES, to_json(messages))
            except Exception:
                debug_failure("recording input messages")
        return call, kwargs, None

    def response(self, call: LLMCall, result: Any) -> None:
        reason = getattr(result, "stop_reason", None)
        call.set_response(
            getattr(result, "id", None),
            getattr(result, "model", None),
            [reason] if isinstance(reason, str) else None,
        )
        _set_usage(call, getattr(result, "usage", None))
        if call.capture:
            message = {
                "role": getattr(result, "role", "assistant"),
                "parts": m.anthropic_parts(getattr(result, "content", None)),
                "finish_reason": reason,
            }
            call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json([message]))

    def accumulator(self, call: LLMCall, state: Any, stream: Any) -> _StreamAccumulator:
        return _StreamAccumulator(call.capture)


def _no_trace_headers(span: Any, headers: Any) -> None:
    """Stands in for the SDK's ``inject_trace_headers``: requests to the provider carry no trace context."""


def _stream_wrapper(switch: Switch, op: _Messages) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        manager = wrapped(*args, **kwargs)
        telemetry = switch.telemetry
        if not switch.active or telemetry is None or is_suppressed():
            return manager
        try:
            client = getattr(instance, "_client", None)
            request = {**kwargs, "stream": True}

            def start() -> LLMCall | None:
                begun = op.begin(telemetry, client, request)
                return None if begun is None else begun[0]

            return StreamManagerProxy(manager, start, lambda call: _StreamAccumulator(call.capture))
        except Exception:
            debug_failure("wrapping a message stream manager")
            return manager

    return wrapper


def _silence_native_tracing(patcher: Patcher, base: ModuleType) -> None:
    client_cls: Any = getattr(base, "BaseClient", None)
    prop = vars(client_cls).get("_tracer") if client_cls is not None else None
    if isinstance(prop, property) and prop.fget is not None:
        native = prop.fget

        def tracer(client: Any) -> Any:
            if otel_context.get_value(IN_LLM_CALL):
                return None
            return native(client)

        patcher.replace(client_cls, "_tracer", property(tracer, doc=prop.__doc__))
    if callable(vars(base).get("inject_trace_headers")):
        patcher.replace(base, "inject_trace_headers", _no_trace_headers)


_MESSAGES = _Messages()


def patch(patcher: Patcher, module: ModuleType) -> None:
    """Patches what ``module`` (one of the anthropic target modules of ``_patching``) defines."""
    name = module.__name__
    if name == p.ANTHROPIC_BASE_CLIENT:
        _silence_native_tracing(patcher, module)
    elif name in (p.ANTHROPIC_MESSAGES, p.ANTHROPIC_BETA_MESSAGES):
        op = _MESSAGES
        patcher.wrap(module, "Messages.create", sync_wrapper(patcher, op))
        patcher.wrap(module, "AsyncMessages.create", async_wrapper(patcher, op))
        patcher.wrap(module, "Messages.stream", _stream_wrapper(patcher, op))
        patcher.wrap(module, "AsyncMessages.stream", _stream_wrapper(patcher, op))
