"""The ``openai`` Responses API and embeddings: request and response attributes, and the Responses
stream's reader (chat completions are in ``_openai``)."""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context

from agentops_otel import semconv
from agentops_otel._content import to_json
from agentops_otel.instrumentation import _messages as m
from agentops_otel.instrumentation._core import LLMCall, Telemetry, debug_failure, get
from agentops_otel.instrumentation._openai_request import begin_call

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


class Responses:
    def begin(
        self, telemetry: Telemetry, client: Any, kwargs: dict[str, Any], ctx: Context | None = None
    ) -> tuple[LLMCall, dict[str, Any], Any] | None:
        call = begin_call(telemetry, client, kwargs, semconv.OP_CHAT, "responses", ctx)
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

    def accumulator(self, call: LLMCall, state: Any, stream: Any) -> _ResponsesAccumulator:
        return _ResponsesAccumulator()


# -- embeddings -----------------------------------------------------------------------------------


class Embeddings:
    def begin(
        self, telemetry: Telemetry, client: Any, kwargs: dict[str, Any], ctx: Context | None = None
    ) -> tuple[LLMCall, dict[str, Any], Any] | None:
        call = begin_call(telemetry, client, kwargs, semconv.OP_EMBEDDINGS, None, ctx)
        if call is None:
            return None
        attributes = call.start_attributes
        fmt = kwargs.get("encoding_format")
        if isinstance(fmt, str):
            attributes[semconv.REQUEST_ENCODING_FORMATS] = [fmt]
        dimensions = kwargs.get("dimensions")
        if isinstance(dimensions, int):
            attributes[semconv.EMBEDDINGS_DIMENSION_COUNT] = dimensions
        return call, kwargs, None

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

    def accumulator(self, call: LLMCall, state: Any, stream: Any) -> _ResponsesAccumulator:  # never streamed
        return _ResponsesAccumulator()
