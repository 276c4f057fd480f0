"""Instrumentation of LiteLLM: ``completion`` / ``acompletion`` (also streamed) and ``embedding`` /
``aembedding``, one LLM span per call, with the real provider behind LiteLLM's model string.

LiteLLM talks to most providers with its own HTTP code, and to OpenAI through the SDK's low-level
``post``, so the SDK wrappers never see its calls: the span is made here, at LiteLLM's entry points.
While it is open the call runs under our LLM-call context, so if LiteLLM does go through an SDK method
we wrap (or LiteLLM's ``acompletion`` calls ``completion``), that inner wrapper passes through: one call,
one span. The provider is LiteLLM's own resolution (``get_llm_provider``), named as the GenAI
conventions name it; prices come from our table by that provider (not LiteLLM's cost map).

Streams: the caller's loop sees LiteLLM's chunks unchanged; token usage is asked for
(``stream_options={"include_usage": True}``) only when the caller did not set ``stream_options``, and
the usage-only chunk that adds is hidden, as for the OpenAI SDK.

LiteLLM's own OpenTelemetry callback (``callbacks=["otel"]``) writes its attributes onto whatever span
is current when its success handler runs (our LLM span, or the session root): its lookup of that span
is patched so it makes its own child span instead, and our spans keep our figures.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

from agentops_otel import semconv
from agentops_otel._content import to_json
from agentops_otel.instrumentation import _messages as m
from agentops_otel.instrumentation._around import LLMAround, wrapper
from agentops_otel.instrumentation._core import (
    LLMCall,
    debug_failure,
    get,
    start_call,
    unsuppressed_context,
)
from agentops_otel.instrumentation._openai import ChatAccumulator
from agentops_otel.instrumentation._openai_request import request_params, usage_of_chat
from agentops_otel.instrumentation._patching import Patcher
from agentops_otel.instrumentation._streams import wrap_stream

MAIN = "litellm"
OTEL_CALLBACK = "litellm.integrations.opentelemetry"

#: LiteLLM's provider names -> ``gen_ai.provider.name``; others are recorded as LiteLLM names them.
PROVIDERS = {
    "openai": semconv.PROVIDER_OPENAI,
    "text-completion-openai": semconv.PROVIDER_OPENAI,
    "anthropic": semconv.PROVIDER_ANTHROPIC,
    "azure": semconv.PROVIDER_AZURE_OPENAI,
    "azure_text": semconv.PROVIDER_AZURE_OPENAI,
    "azure_ai": semconv.PROVIDER_AZURE_INFERENCE,
    "gemini": semconv.PROVIDER_GCP_GEMINI,
    "vertex_ai": semconv.PROVIDER_GCP_VERTEX_AI,
    "vertex_ai_beta": semconv.PROVIDER_GCP_VERTEX_AI,
    "bedrock": semconv.PROVIDER_AWS_BEDROCK,
    "groq": semconv.PROVIDER_GROQ,
    "deepseek": semconv.PROVIDER_DEEPSEEK,
    "mistral": semconv.PROVIDER_MISTRAL,
    "xai": semconv.PROVIDER_X_AI,
    "cohere": semconv.PROVIDER_COHERE,
    "cohere_chat": semconv.PROVIDER_COHERE,
    "perplexity": semconv.PROVIDER_PERPLEXITY,
    "together_ai": semconv.PROVIDER_TOGETHER,
    "openrouter": semconv.PROVIDER_OPENROUTER,
    "fireworks_ai": semconv.PROVIDER_FIREWORKS,
    "cerebras": semconv.PROVIDER_CEREBRAS,
    "moonshot": semconv.PROVIDER_MOONSHOT,
    "ollama": semconv.PROVIDER_OLLAMA,
    "ollama_chat": semconv.PROVIDER_OLLAMA,
    "hosted_vllm": semconv.PROVIDER_VLLM,
    "vllm": semconv.PROVIDER_VLLM,
}

# Positional parameters of the wrapped functions, so a call made positionally is read like one made
# with keywords (and passed on as keywords: the same call).
_POSITIONAL = {
    "completion": ("model", "messages"),
    "acompletion": ("model", "messages"),
    "embedding": ("model", "input"),
    "aembedding": ("model", "input"),
}


def _provider_and_model(module: Any, kwargs: dict[str, Any]) -> tuple[str, str]:
    model = kwargs.get("model")
    model = model if isinstance(model, str) else ""
    try:
        found = module.get_llm_provider(
            model=model,
            custom_llm_provider=kwargs.get("custom_llm_provider"),
            api_base=kwargs.get("api_base"),
        )
        name, provider = str(found[0]), str(found[1])
    except Exception:
        name, provider = model, "litellm"
    return PROVIDERS.get(provider, provider), name


def begin_call(patcher: Patcher, module: Any, kwargs: dict[str, Any], embedding: bool) -> LLMCall | None:
    telemetry = patcher.telemetry
    if telemetry is None:
        return None
    provider, model = _provider_and_model(module, kwargs)
    attributes: dict[str, Any] = {}
    if not embedding:
        request_params(kwargs, attributes)
    call = start_call(
        telemetry, semconv.OP_EMBEDDINGS if embedding else semconv.OP_CHAT, provider, model, attributes
    )
    if call is not None and call.capture and not embedding:
        with contextlib.suppress(Exception):
            call.span.set_attribute(
                semconv.INPUT_MESSAGES, to_json(m.openai_chat_messages(kwargs.get("messages")))
            )
    return call


def _usage_request(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    if kwargs.get("stream") is not True or kwargs.get("stream_options") is not None:
        return None
    return {**kwargs, "stream_options": {"include_usage": True}}


def _read(call: LLMCall, result: Any, embedding: bool) -> None:
    if embedding:
        call.set_response(None, get(result, "model"), None)
        usage = get(result, "usage")
        call.set_usage(get(usage, "prompt_tokens"), None)
        data = get(result, "data") or ()
        if data:
            vector = get(data[0], "embedding")
            if isinstance(vector, list):
                call.set(semconv.EMBEDDINGS_DIMENSION_COUNT, len(vector))
        return
    choices = get(result, "choices") or ()
    reasons = [c.finish_reason for c in choices if isinstance(get(c, "finish_reason"), str)]
    call.set_response(get(result, "id"), get(result, "model"), reasons)
    fingerprint = get(result, "system_fingerprint")
    if isinstance(fingerprint, str):
        call.set(semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, fingerprint)
    usage_of_chat(call, get(result, "usage"))
    if call.capture:
        messages = []
        for choice in choices:
            entry = m.openai_chat_message(get(choice, "message"))
            entry["finish_reason"] = get(choice, "finish_reason")
            messages.append(entry)
        call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(messages))


class _Target:
    """One wrapped function: ``completion``, ``acompletion``, ``embedding`` or ``aembedding``."""

    __slots__ = ("embedding", "is_async", "module", "name", "patcher")

    def __init__(self, patcher: Patcher, module: Any, name: str) -> None:
        self.patcher = patcher
        self.module = module
        self.name = name
        self.embedding = name.endswith("embedding")
        self.is_async = name.startswith("a")

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LLMAround | None:
        """The call made with keywords only (positional arguments named), asking a stream for usage."""
        ctx = unsuppressed_context()
        if ctx is None:
            return None
        try:
            merged = dict(zip(_POSITIONAL[self.name], args, strict=False))
            if len(args) > len(merged):
                return None  # more positional arguments than we know: leave the call alone
            merged.update(kwargs)
            call = begin_call(self.patcher, self.module, merged, self.embedding)
            if call is None:
                return None
            asked = _usage_request(merged)
            # state: the usage-only chunk is ours to hide from the caller
            return LLMAround(self, call, ctx, (), asked or merged, asked is not None)
        except Exception:
            debug_failure("starting a LiteLLM span")
            return None

    def finish(self, around: LLMAround, result: Any) -> Any:
        """A stream proxy that ends the span with the stream, else ``result`` read, the span ended."""
        call = around.call
        try:
            if around.kwargs.get("stream") is True and hasattr(type(result), "__next__"):
                accumulator = ChatAccumulator(around.state, call.capture)
                return wrap_stream(result, call, accumulator, self.is_async)
            _read(call, result, self.embedding)
        except Exception:
            debug_failure("reading a LiteLLM response")
        call.end()
        return result


def _own_span(span: Any) -> bool:
    attributes = getattr(span, "attributes", None) or {}
    return semconv.SPAN_KIND in attributes


def _span_context(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """LiteLLM's OTel callback asks which span to write onto: never one of ours (it makes a child)."""
    ctx, parent = wrapped(*args, **kwargs)
    try:
        if parent is not None and _own_span(parent):
            return ctx, None
    except Exception:
        debug_failure("checking LiteLLM's parent span")
    return ctx, parent


def patch(patcher: Patcher, module: ModuleType) -> None:
    if module.__name__ == MAIN:
        main = getattr(module, "main", None)
        for name in _POSITIONAL:
            target = _Target(patcher, module, name)
            wrap = wrapper(patcher, target.begin, target.is_async)
            # ``litellm.completion`` (what users call) and ``litellm.main.completion`` (what LiteLLM's
            # own async functions and Router call) are bound separately.
            patcher.wrap(module, name, wrap)
            if main is not None:
                patcher.wrap(main, name, wrap)
    elif module.__name__ == OTEL_CALLBACK:
        patcher.wrap(module, "OpenTelemetry._get_span_context", _span_context)
