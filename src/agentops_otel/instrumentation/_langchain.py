"""Instrumentation of LangChain and LangGraph: a callback handler attached to every callback manager.

``BaseCallbackManager.__init__`` is wrapped so each manager LangChain makes (per invoke, stream, node,
tool...) carries our handler as an inheritable handler; nothing needs passing in ``config``. The
handler runs inline (also for async runs), so each span is current in the run's own context while the
run is open, and what runs inside nests under it:

- a LangGraph graph run at the top (``create_agent``, ``create_react_agent``, a ``StateGraph``): agent
  ``invoke_agent {name}``; its nodes: action ``{node}`` (``agentops.action.type=node``);
- other chains and runnables: action ``{name}`` (``chain``); retrievers: action (``retriever``);
  LangChain's hidden bookkeeping runs (``langsmith:hidden``) get no span;
- tools: tool ``execute_tool {name}`` with ``gen_ai.tool.call.id``, arguments and result;
- chat and LLM model runs: a span named after the model class (``ChatOpenAI``), under which the SDK
  instrumentation records the call (``chat gpt-4o``, the LLM span). If the model reaches its provider
  through no SDK we instrument, nothing inside records it, and this span becomes the LLM span itself
  (``chat {model}``, tokens and cost from LangChain's result): each model call counts once either way.
"""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace

from agentops_otel import _runtime, semconv
from agentops_otel._content import to_json
from agentops_otel.instrumentation import _messages as m
from agentops_otel.instrumentation._core import LLM_WATCH, LLMCall, debug_failure, get
from agentops_otel.instrumentation._framework import (
    Spans,
    action_attributes,
    agent_attributes,
    content,
    tool_attributes,
)
from agentops_otel.instrumentation._langchain_context import (
    STREAM_STEP,
    config_context,
    generate,
    stream_steps,
)
from agentops_otel.instrumentation._patching import Patcher

FRAMEWORK = "langchain"
CALLBACKS = "langchain_core.callbacks.base"
CONFIG = "langchain_core.runnables.config"
CHAT_MODELS = "langchain_core.language_models.chat_models"
MODULES = (CALLBACKS, CONFIG, CHAT_MODELS)
_HIDDEN = "langsmith:hidden"
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}
#: LangChain's ``ls_provider`` -> ``gen_ai.provider.name``.
_PROVIDERS = {
    "openai": semconv.PROVIDER_OPENAI,
    "azure": semconv.PROVIDER_AZURE_OPENAI,
    "anthropic": semconv.PROVIDER_ANTHROPIC,
    "google_genai": semconv.PROVIDER_GCP_GEMINI,
    "google_vertexai": semconv.PROVIDER_GCP_VERTEX_AI,
    "amazon_bedrock": semconv.PROVIDER_AWS_BEDROCK,
    "bedrock": semconv.PROVIDER_AWS_BEDROCK,
    "groq": semconv.PROVIDER_GROQ,
    "deepseek": semconv.PROVIDER_DEEPSEEK,
    "mistralai": semconv.PROVIDER_MISTRAL,
    "xai": semconv.PROVIDER_X_AI,
    "ollama": semconv.PROVIDER_OLLAMA,
    "together": semconv.PROVIDER_TOGETHER,
    "fireworks": semconv.PROVIDER_FIREWORKS,
    "cohere": semconv.PROVIDER_COHERE,
}


def _name(serialized: Any, kwargs: dict[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if isinstance(serialized, dict):
        if isinstance(serialized.get("name"), str):
            return str(serialized["name"])
        ids = serialized.get("id")
        if isinstance(ids, list) and ids:
            return str(ids[-1])
    return default


def lc_message(message: Any) -> dict[str, Any]:
    """A LangChain message (``HumanMessage``, ``AIMessage``, ``ToolMessage``...) in the conventions' form."""
    role = _ROLES.get(str(get(message, "type")), str(get(message, "type")))
    if role == "tool":
        part = {"type": "tool_call_response", "id": get(message, "tool_call_id")}
        part["response"] = content(get(message, "content"))
        return {"role": "tool", "parts": [part]}
    parts = m.openai_content_parts(get(message, "content"))
    for call in get(message, "tool_calls") or ():
        parts.append(m.tool_call(get(call, "id"), get(call, "name"), get(call, "args")))
    return {"role": role, "parts": parts}


def _is_agent(name: str, serialized: Any) -> bool:
    """A top-level LangGraph graph (what ``create_agent`` builds) or a classic ``AgentExecutor``."""
    return name in ("LangGraph", "AgentExecutor") or "langgraph" in str(get(serialized, "id") or "")


class _ModelRun:
    __slots__ = ("messages", "model", "provider", "started", "watch")

    def __init__(self, model: str, provider: str, messages: Any) -> None:
        self.model = model
        self.provider = provider
        self.messages = messages
        self.started = time.perf_counter()
        self.watch: list[Any] = []


class Recorder:
    """The handler's work, kept apart from LangChain's handler class (made when langchain_core loads)."""

    def __init__(self, patcher: Patcher) -> None:
        self.patcher = patcher
        self.spans = Spans(FRAMEWORK)
        self.models: dict[UUID, _ModelRun] = {}
        # Runs with no span of their own (hidden ones) -> the nearest ancestor with one.
        self.skipped: dict[UUID, UUID | None] = {}

    def _parent(self, parent_run_id: UUID | None) -> UUID | None:
        while parent_run_id is not None and parent_run_id in self.skipped:
            parent_run_id = self.skipped[parent_run_id]
        return parent_run_id

    def _start(self, run_id: UUID, parent_run_id: UUID | None, name: str, attributes: dict[str, Any]) -> None:
        telemetry = self.patcher.telemetry
        if not self.patcher.active or telemetry is None:
            return
        self.spans.start(telemetry, run_id, name, attributes, parent=self._parent(parent_run_id))

    # -- chains and graph nodes -------------------------------------------------------------------

    def chain_start(
        self, serialized: Any, inputs: Any, run_id: UUID, parent_run_id: UUID | None, kwargs: dict[str, Any]
    ) -> None:
        tags = kwargs.get("tags") or ()
        metadata = kwargs.get("metadata") or {}
        if _HIDDEN in tags:
            self.skipped[run_id] = parent_run_id
            return
        name = _name(serialized, kwargs, "chain")
        node = metadata.get("langgraph_node")
        if parent_run_id is None and _is_agent(name, serialized):
            attributes = agent_attributes(name, FRAMEWORK)
        elif node is not None and node == name:
            attributes = action_attributes("node", FRAMEWORK)
        else:
            attributes = action_attributes("chain", FRAMEWORK)
        if _runtime.content_capture_enabled():
            attributes[semconv.ENTITY_INPUT] = content(inputs)
        self._start(run_id, parent_run_id, name, attributes)

    def chain_end(self, outputs: Any, run_id: UUID, error: BaseException | None = None) -> None:
        if self.skipped.pop(run_id, None) is not None or run_id not in self.spans._open:
            return
        done: dict[str, Any] = {}
        if error is None and _runtime.content_capture_enabled():
            done[semconv.ENTITY_OUTPUT] = content(outputs)
        # LangGraph interrupts and jumps are control flow, not failures.
        if error is not None and type(error).__name__ in ("GraphInterrupt", "ParentCommand", "GraphBubbleUp"):
            error = None
        self.spans.end(run_id, done, error=error)

    # -- tools and retrievers -----------------------------------------------------------------------

    def tool_start(
        self,
        serialized: Any,
        input_str: Any,
        run_id: UUID,
        parent_run_id: UUID | None,
        kwargs: dict[str, Any],
    ) -> None:
        name = _name(serialized, kwargs, "tool")
        attributes = tool_attributes(name, FRAMEWORK, kwargs.get("tool_call_id"))
        description = get(serialized, "description")
        if isinstance(description, str) and description:
            attributes[semconv.TOOL_DESCRIPTION] = description[:1024]
        if _runtime.content_capture_enabled():
            inputs = kwargs.get("inputs")
            attributes[semconv.TOOL_CALL_ARGUMENTS] = content(inputs if inputs is not None else input_str)
        self._start(run_id, parent_run_id, name, attributes)

    def tool_end(self, output: Any, run_id: UUID, error: BaseException | None = None) -> None:
        done: dict[str, Any] = {}
        if error is None and _runtime.content_capture_enabled():
            done[semconv.TOOL_CALL_RESULT] = content(
                get(output, "content") if hasattr(output, "content") else output
            )
        self.spans.end(run_id, done, error=error)

    def retriever_start(
        self, serialized: Any, query: Any, run_id: UUID, parent: UUID | None, kw: Any
    ) -> None:
        attributes = action_attributes("retriever", FRAMEWORK)
        if _runtime.content_capture_enabled():
            attributes[semconv.ENTITY_INPUT] = content(query)
        self._start(run_id, parent, _name(serialized, kw, "retriever"), attributes)

    def retriever_end(self, documents: Any, run_id: UUID, error: BaseException | None = None) -> None:
        self.spans.end(run_id, error=error)

    # -- model runs ---------------------------------------------------------------------------------

    def model_start(
        self, serialized: Any, messages: Any, run_id: UUID, parent_run_id: UUID | None, kwargs: dict[str, Any]
    ) -> None:
        metadata = kwargs.get("metadata") or {}
        params = kwargs.get("invocation_params") or {}
        model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name") or ""
        provider = str(metadata.get("ls_provider") or "langchain")
        attributes: dict[str, Any] = {semconv.FRAMEWORK: FRAMEWORK}
        if isinstance(model, str) and model:
            attributes[semconv.REQUEST_MODEL] = model
        self._start(run_id, parent_run_id, _name(serialized, kwargs, "model"), attributes)
        if self.spans.get(run_id) is not None:
            self.models[run_id] = _ModelRun(str(model), _PROVIDERS.get(provider, provider), messages)
            step = STREAM_STEP.get()
            if step is not None and step.run_id is None:  # a model's own stream(): see _stream_steps
                step.run_id = run_id
                step.token = self.enter(run_id)

    def model_end(self, response: Any, run_id: UUID, error: BaseException | None = None) -> None:
        run = self.models.pop(run_id, None)
        if run is None or run.watch:  # an SDK span recorded the call inside: this span only groups it
            self.spans.end(run_id, error=error)
            return
        span = self.spans.take(run_id)
        if span is not None:
            self._as_llm_call(span, run, response, error)

    def _as_llm_call(self, span: Any, run: _ModelRun, response: Any, error: BaseException | None) -> None:
        telemetry = self.patcher.telemetry
        if telemetry is None:
            span.end()
            return
        model = run.model
        span.update_name(f"{semconv.OP_CHAT} {model}" if model else semconv.OP_CHAT)
        span.set_attributes(
            {
                semconv.SPAN_KIND: semconv.KIND_LLM,
                semconv.OPERATION_NAME: semconv.OP_CHAT,
                semconv.PROVIDER_NAME: run.provider,
            }
        )
        call = LLMCall.around(telemetry, span, semconv.OP_CHAT, run.provider, model)
        call.started = run.started
        if error is None:
            _read_result(call, response, run)
        call.end(error)

    # -- making our spans current where LangChain runs the work ------------------------------------

    def enter(self, run_id: UUID | None) -> object | None:
        """Makes the span of ``run_id`` (or of its nearest recorded ancestor) current in this context,
        with the LLM-span watch of a model run; returns the token, or None when there is no span."""
        run_id = self._parent(run_id)
        span = self.spans.get(run_id) if run_id is not None else None
        if span is None:
            return None
        ctx = trace.set_span_in_context(span)
        model = self.models.get(run_id)  # type: ignore[arg-type]
        if model is not None:
            ctx = otel_context.set_value(LLM_WATCH, model.watch, ctx)
        return otel_context.attach(ctx)


def _read_result(call: LLMCall, response: Any, run: _ModelRun) -> None:
    """Model, id, usage and (with capture) messages from a LangChain ``LLMResult``."""
    generations = [g for batch in get(response, "generations") or () for g in batch]
    message = get(generations[0], "message") if generations else None
    meta = get(message, "response_metadata") or {}
    output = get(response, "llm_output") or {}
    call.set_response(get(message, "id"), meta.get("model_name") or output.get("model_name"), None)
    reason = meta.get("finish_reason") or meta.get("stop_reason")
    if isinstance(reason, str):
        call.set(semconv.RESPONSE_FINISH_REASONS, [reason])
    usage = get(message, "usage_metadata")
    if usage:
        details = get(usage, "input_token_details") or {}
        out_details = get(usage, "output_token_details") or {}
        call.set_usage(
            get(usage, "input_tokens"),
            get(usage, "output_tokens"),
            get(details, "cache_read"),
            get(details, "cache_creation"),
            get(out_details, "reasoning"),
        )
    elif isinstance(output.get("token_usage"), dict):
        tokens = output["token_usage"]
        call.set_usage(tokens.get("prompt_tokens"), tokens.get("completion_tokens"))
    if call.capture:
        batches = run.messages if isinstance(run.messages, list) else []
        prompt = batches[0] if batches and isinstance(batches[0], list) else batches
        inputs = [lc_message(x) if not isinstance(x, str) else m.responses_input(x)[0] for x in prompt]
        call.span.set_attribute(semconv.INPUT_MESSAGES, to_json(inputs))
        outputs = [lc_message(get(g, "message")) if get(g, "message") else _text(g) for g in generations]
        call.span.set_attribute(semconv.OUTPUT_MESSAGES, to_json(outputs))


def _text(generation: Any) -> dict[str, Any]:
    return {"role": "assistant", "parts": [{"type": "text", "content": str(get(generation, "text") or "")}]}


def _handler_class(base: type) -> type:
    """LangChain's handler class over a :class:`Recorder`; every method is guarded. LangChain passes
    ``run_id`` and ``parent_run_id`` by keyword; the rest of its keywords go to the recorder."""

    def start(method: str) -> Any:
        def run(self: Any, serialized: Any, value: Any, **kw: Any) -> None:
            try:
                run_id, parent = kw.pop("run_id"), kw.pop("parent_run_id", None)
                getattr(self.recorder, method)(serialized, value, run_id, parent, kw)
            except Exception:
                debug_failure("recording a LangChain callback")

        return run

    def end(method: str, failed: bool) -> Any:
        def run(self: Any, value: Any, **kw: Any) -> None:
            try:
                if failed:
                    getattr(self.recorder, method)(None, kw["run_id"], value)
                else:
                    getattr(self.recorder, method)(value, kw["run_id"])
            except Exception:
                debug_failure("recording a LangChain callback")

        return run

    methods = {
        "on_chain_start": start("chain_start"),
        "on_chain_end": end("chain_end", False),
        "on_chain_error": end("chain_end", True),
        "on_tool_start": start("tool_start"),
        "on_tool_end": end("tool_end", False),
        "on_tool_error": end("tool_end", True),
        "on_retriever_start": start("retriever_start"),
        "on_retriever_end": end("retriever_end", False),
        "on_retriever_error": end("retriever_end", True),
        "on_chat_model_start": start("model_start"),
        "on_llm_start": start("model_start"),
        "on_llm_end": end("model_end", False),
        "on_llm_error": end("model_end", True),
    }
    return type("AgentOpsCallbackHandler", (base,), {"run_inline": True, "raise_error": False, **methods})


_HANDLERS: dict[int, Any] = {}


def handler_for(patcher: Patcher, base: type) -> Any:
    found = _HANDLERS.get(id(patcher))
    if found is None:
        found = _HANDLERS[id(patcher)] = _handler_class(base)()
        found.recorder = Recorder(patcher)
    return found


def _manager_init(patcher: Patcher, handler: Any) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        wrapped(*args, **kwargs)
        try:
            if patcher.active and not any(h is handler for h in instance.inheritable_handlers):
                instance.add_handler(handler, inherit=True)
        except Exception:
            debug_failure("attaching the LangChain callback handler")

    return wrapper


def patch(patcher: Patcher, module: ModuleType) -> None:
    if module.__name__ == CALLBACKS:
        handler = handler_for(patcher, module.BaseCallbackHandler)
        patcher.wrap(module, "BaseCallbackManager.__init__", _manager_init(patcher, handler))
        return
    base = importlib.import_module(CALLBACKS)  # loaded before either module below
    recorder = handler_for(patcher, base.BaseCallbackHandler).recorder
    if module.__name__ == CONFIG:
        patcher.wrap(module, "_set_config_context", config_context(recorder))
    elif module.__name__ == CHAT_MODELS:
        patcher.wrap(module, "BaseChatModel._generate_with_cache", generate(recorder, False))
        patcher.wrap(module, "BaseChatModel._agenerate_with_cache", generate(recorder, True))
        patcher.wrap(module, "BaseChatModel.stream", stream_steps(recorder, False))
        patcher.wrap(module, "BaseChatModel.astream", stream_steps(recorder, True))
