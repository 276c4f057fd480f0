"""What a span is, whoever made it: the backend's reading of our ``agentops.span.kind``, of the GenAI
semantic conventions and of the other GenAI instrumentations' names (OpenLLMetry, OpenInference).

- A span with our kind is what its kind says (``llm``, ``tool``, ``agent``, ``action``, ``error``).
- Without it: a model call is a span with a ``gen_ai.operation.name`` of a model operation (chat,
  text_completion, generate_content, embeddings, ...), or OpenLLMetry's ``llm.request.type``, or
  OpenInference's ``openinference.span.kind`` LLM/EMBEDDING, or (with no operation named) the GenAI
  provider attributes; ``execute_tool`` (OpenInference TOOL, OpenLLMetry ``tool``) is a tool call;
  ``invoke_agent`` (OpenInference AGENT, OpenLLMetry ``agent``) an agent.

The SDK recognises other instrumentations' model calls by the same names (``instrumentation/_keys.py``);
this module is the store's copy, below that layer. Standard library only.
"""

from __future__ import annotations

import hashlib
from typing import Any

from agentops_otel import semconv

LLM = semconv.KIND_LLM
TOOL = semconv.KIND_TOOL
AGENT = semconv.KIND_AGENT
ACTION = semconv.KIND_ACTION
ERROR = semconv.KIND_ERROR
_OUR_KINDS = frozenset({LLM, TOOL, AGENT, ACTION, ERROR})

#: ``gen_ai.operation.name`` values of a call to a model.
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "completion"})
_OPENLLMETRY_MODEL_TYPES = frozenset({"chat", "completion", "embedding", "rerank"})
_OPENINFERENCE_KINDS = {"LLM": LLM, "EMBEDDING": LLM, "TOOL": TOOL, "AGENT": AGENT}
_OPENLLMETRY_KINDS = {"tool": TOOL, "agent": AGENT}
_INPUT_TOKENS = (
    semconv.USAGE_INPUT_TOKENS,
    semconv.USAGE_PROMPT_TOKENS_OLD,
    semconv.OPENINFERENCE_PROMPT_TOKENS,
)
_OUTPUT_TOKENS = (
    semconv.USAGE_OUTPUT_TOKENS,
    semconv.USAGE_COMPLETION_TOKENS_OLD,
    semconv.OPENINFERENCE_COMPLETION_TOKENS,
)
_COSTS = (semconv.COST_USD, semconv.OPENINFERENCE_COST_TOTAL)


def classify(kind: str | None, attributes: dict[str, Any]) -> str | None:
    """``llm``, ``tool``, ``agent``, ``action``, ``error`` or None, by the rules of the module docstring."""
    if kind is not None:
        return kind if kind in _OUR_KINDS else None
    operation = attributes.get(semconv.OPERATION_NAME)
    if operation is not None:
        if operation in MODEL_OPERATIONS:
            return LLM
        if operation == semconv.OP_EXECUTE_TOOL:
            return TOOL
        if operation == semconv.OP_INVOKE_AGENT:
            return AGENT
        return None
    other = attributes.get(semconv.OPENINFERENCE_SPAN_KIND)
    if isinstance(other, str) and other in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[other]
    if attributes.get(semconv.OPENLLMETRY_REQUEST_TYPE) in _OPENLLMETRY_MODEL_TYPES:
        return LLM
    other = attributes.get(semconv.OPENLLMETRY_SPAN_KIND)
    if isinstance(other, str) and other in _OPENLLMETRY_KINDS:
        return _OPENLLMETRY_KINDS[other]
    if semconv.SYSTEM_OLD in attributes or semconv.PROVIDER_NAME in attributes:
        return LLM
    return None


def _number(attributes: dict[str, Any], names: tuple[str, ...]) -> int | float | None:
    for name in names:
        value = attributes.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None


def tokens(attributes: dict[str, Any]) -> tuple[int, int]:
    """Input and output tokens of a model call (0 where not recorded; never negative)."""
    found_in = _number(attributes, _INPUT_TOKENS)
    found_out = _number(attributes, _OUTPUT_TOKENS)
    return max(0, int(found_in or 0)), max(0, int(found_out or 0))


def cost(attributes: dict[str, Any]) -> float | None:
    """The call's cost in USD, when recorded (ours: ``agentops.usage.cost_usd``; OpenInference's)."""
    value = _number(attributes, _COSTS)
    return None if value is None else float(value)


def own_cost(attributes: dict[str, Any]) -> float | None:
    """``agentops.usage.cost_usd`` of a span that is not a model call (summed as it is)."""
    value = attributes.get(semconv.COST_USD)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def model_names(attributes: dict[str, Any]) -> tuple[str | None, str | None]:
    """The response model and the request model of a model call (OpenInference: ``llm.model_name``)."""
    response = attributes.get(semconv.RESPONSE_MODEL)
    request = attributes.get(semconv.REQUEST_MODEL)
    if not isinstance(request, str) or not request:
        request = attributes.get(semconv.OPENINFERENCE_MODEL_NAME)
    return (
        response if isinstance(response, str) and response else None,
        request if isinstance(request, str) and request else None,
    )


def is_content_key(key: str) -> bool:
    return key in semconv.CONTENT_KEYS or key.startswith(semconv.CONTENT_PREFIXES)


def exception_signature(events: list[dict[str, Any]] | None) -> str | None:
    """The identity of the exception recorded on a span (its first ``exception`` event): a digest of
    ``exception.type`` and ``exception.message``; None when no exception is recorded."""
    if not events:
        return None
    for event in events:
        if event.get("name") != "exception":
            continue
        attributes = event.get("attributes") or {}
        text = f"{attributes.get('exception.type')}\x1f{attributes.get('exception.message')}"
        return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()
    return None
