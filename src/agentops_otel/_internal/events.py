"""Manual events, as in the ``agentops`` SDK: ``record(ToolEvent(name="search", params=...))``.

Each recorded event becomes one child span of the current span (or of the session root), with the
event's own start and end: ``init_timestamp`` (default: when the event object was created) and
``end_timestamp`` (default: when it is recorded). Timestamps may be ``datetime`` objects (naive ones
are local time), epoch numbers (seconds, or ms/us/ns told apart by size) or ISO-8601 strings.

- ``ActionEvent``: span ``{action_type}``, kind ``action`` (the shape of ``@action``).
- ``ToolEvent``: span ``execute_tool {name}``, kind ``tool`` (the shape of ``@tool``).
- ``LLMEvent``: span ``chat {model}`` (CLIENT), kind ``llm``, GenAI usage attributes and the cost from
  the price table (or the event's ``cost``); prompt and completion only with content capture on.
- ``ErrorEvent``: span ``error {type}``, kind ``error``, status ERROR; with an exception, its type,
  message and traceback.

``record`` never raises: what it cannot read it logs at debug level and skips.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agentops_otel import _runtime, semconv
from agentops_otel._content import messages_json, serialize
from agentops_otel._content import text as _text
from agentops_otel._errors import error_type, record_error
from agentops_otel._internal.context import parent_context
from agentops_otel.semconv import (
    ACTION_TYPE,
    ENTITY_INPUT,
    ENTITY_OUTPUT,
    ERROR_CODE,
    ERROR_DETAILS,
    ERROR_LOGS,
    ERROR_TRIGGER_KIND,
    ERROR_TRIGGER_NAME,
    ERROR_TYPE,
    EVENT_LOGS,
    INPUT_MESSAGES,
    OPERATION_NAME,
    OUTPUT_MESSAGES,
    PROVIDER_NAME,
    REQUEST_MODEL,
    RESPONSE_MODEL,
    TOOL_CALL_ARGUMENTS,
    TOOL_CALL_RESULT,
    TOOL_NAME,
    TOOL_TYPE,
)
from agentops_otel.semconv import USAGE_INPUT_TOKENS as INPUT_TOKENS
from agentops_otel.semconv import USAGE_OUTPUT_TOKENS as OUTPUT_TOKENS

logger = logging.getLogger("agentops_otel.events")

Timestamp: TypeAlias = datetime | float | int | str | None


@dataclass(kw_only=True)
class Event:
    """Fields every event has. All keyword-only; the subclasses' own fields may also be positional."""

    init_timestamp: Timestamp = None
    end_timestamp: Timestamp = None
    #: The agent this event belongs to, when not recorded inside an ``@agent`` call.
    agent_id: str | None = None
    _created_ns: int = field(default_factory=time.time_ns, init=False, repr=False, compare=False)


@dataclass
class ActionEvent(Event):
    action_type: str | None = None
    params: Any = None
    returns: Any = None
    logs: Any = field(default=None, kw_only=True)
    screenshot: str | None = field(default=None, kw_only=True)


@dataclass
class ToolEvent(Event):
    name: str | None = None
    params: Any = None
    returns: Any = None
    logs: Any = field(default=None, kw_only=True)


@dataclass
class LLMEvent(Event):
    model: str | None = None
    prompt: Any = None
    completion: Any = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: Cost in USD when known; otherwise it comes from the price table.
    cost: float | None = field(default=None, kw_only=True)
    #: ``gen_ai.provider.name`` (``openai``, ``anthropic``, ...), when known.
    provider: str | None = field(default=None, kw_only=True)
    thread_id: str | None = field(default=None, kw_only=True)
    params: Any = field(default=None, kw_only=True)
    returns: Any = field(default=None, kw_only=True)


@dataclass
class ErrorEvent(Event):
    exception: BaseException | None = None
    #: Defaults to the exception's type (``module.Qualname``, builtins bare).
    error_type: str | None = None
    details: str | None = None
    #: The event that failed (an ActionEvent, ToolEvent, LLMEvent).
    trigger_event: Event | None = field(default=None, kw_only=True)
    code: str | None = field(default=None, kw_only=True)
    logs: str | None = field(default=None, kw_only=True)


# -- timestamps ------------------------------------------------------------------------------------


def _epoch_ns(number: float) -> int:
    magnitude = abs(number)
    if magnitude >= 1e17:
        return int(number)
    if magnitude >= 1e14:
        return int(number * 1e3)
    if magnitude >= 1e11:
        return int(number * 1e6)
    return int(number * 1e9)


def to_ns(value: Timestamp) -> int | None:
    """Epoch nanoseconds of a datetime, an epoch number or an ISO-8601 string; None if unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1e9)
    if isinstance(value, (int, float)):
        return _epoch_ns(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return _epoch_ns(float(text))
        except ValueError:
            pass
        if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not read "Z"
            text = text[:-1] + "+00:00"
        try:
            return int(datetime.fromisoformat(text).timestamp() * 1e9)
        except ValueError:
            pass
    logger.debug("agentops_otel: ignoring unreadable timestamp %r", value)
    return None


# -- recording -------------------------------------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _cost(event: LLMEvent, input_tokens: int | None, output_tokens: int | None) -> float | None:
    if event.cost is not None:
        try:
            return float(event.cost)
        except (TypeError, ValueError):
            return None
    if input_tokens is None and output_tokens is None:
        return None
    try:
        from agentops_otel.pricing import cost_usd
    except ImportError:
        return None
    try:
        return cost_usd(event.model, input_tokens, output_tokens)
    except Exception:
        logger.debug("agentops_otel: pricing failed for %r", event.model, exc_info=True)
        return None


def _event_name(event: Event) -> str | None:
    if isinstance(event, ActionEvent):
        return event.action_type
    if isinstance(event, ToolEvent):
        return event.name
    if isinstance(event, LLMEvent):
        return event.model
    return None


def _shape(event: Event) -> tuple[str, SpanKind, dict[str, Any]]:
    """Span name, kind and the attributes known before the span starts."""
    if isinstance(event, LLMEvent):
        model = str(event.model) if event.model else None
        a: dict[str, Any] = {semconv.SPAN_KIND: semconv.KIND_LLM, OPERATION_NAME: "chat"}
        if model:
            a[REQUEST_MODEL] = a[RESPONSE_MODEL] = model
        if event.provider:
            a[PROVIDER_NAME] = str(event.provider)
        return (f"chat {model}" if model else "chat"), SpanKind.CLIENT, a
    if isinstance(event, ToolEvent):
        name = str(event.name or "tool")
        a = {semconv.SPAN_KIND: semconv.KIND_TOOL, OPERATION_NAME: "execute_tool", TOOL_NAME: name}
        a[TOOL_TYPE] = "function"
        return f"execute_tool {name}", SpanKind.INTERNAL, a
    if isinstance(event, ActionEvent):
        name = str(event.action_type or "action")
        return name, SpanKind.INTERNAL, {semconv.SPAN_KIND: semconv.KIND_ACTION, ACTION_TYPE: name}
    if isinstance(event, ErrorEvent):
        etype = event.error_type or (error_type(event.exception) if event.exception is not None else None)
        a = {semconv.SPAN_KIND: semconv.KIND_ERROR, ERROR_TYPE: str(etype or "_OTHER")}
        return (f"error {etype}" if etype else "error"), SpanKind.INTERNAL, a
    raise TypeError(f"not an event: {type(event).__name__}")


def _fill(span: Span, event: Event, capture: bool) -> None:
    """Attributes that need the span (content, errors, costs)."""
    if isinstance(event, LLMEvent):
        input_tokens = _int_or_none(event.prompt_tokens)
        output_tokens = _int_or_none(event.completion_tokens)
        if input_tokens is not None:
            span.set_attribute(INPUT_TOKENS, input_tokens)
        if output_tokens is not None:
            span.set_attribute(OUTPUT_TOKENS, output_tokens)
        cost = _cost(event, input_tokens, output_tokens)
        if cost is not None:
            span.set_attribute(semconv.COST_USD, cost)
        if capture and event.prompt is not None:
            span.set_attribute(INPUT_MESSAGES, messages_json(event.prompt, "user"))
        if capture and event.completion is not None:
            span.set_attribute(OUTPUT_MESSAGES, messages_json(event.completion, "assistant"))
    elif isinstance(event, (ToolEvent, ActionEvent)):
        tool = isinstance(event, ToolEvent)
        if capture and event.params is not None:
            span.set_attribute(TOOL_CALL_ARGUMENTS if tool else ENTITY_INPUT, serialize(event.params))
        if capture and event.returns is not None:
            span.set_attribute(TOOL_CALL_RESULT if tool else ENTITY_OUTPUT, serialize(event.returns))
        if capture and event.logs is not None:
            span.set_attribute(EVENT_LOGS, _text(event.logs))
    elif isinstance(event, ErrorEvent):
        if event.exception is not None:
            record_error(span, event.exception)
            if event.error_type:  # the caller's name for it wins, as in agentops
                span.set_attribute(ERROR_TYPE, event.error_type)
        else:
            span.set_status(
                Status(StatusCode.ERROR, str(event.details or event.error_type or "error")[:1024])
            )
        if event.details is not None:
            span.set_attribute(ERROR_DETAILS, _text(event.details))
        if event.code is not None:
            span.set_attribute(ERROR_CODE, str(event.code))
        if event.logs is not None:
            span.set_attribute(ERROR_LOGS, _text(event.logs))
        trigger = event.trigger_event
        if isinstance(trigger, Event) and not isinstance(trigger, ErrorEvent):
            span.set_attribute(ERROR_TRIGGER_KIND, _shape(trigger)[2][semconv.SPAN_KIND])
            trigger_name = _event_name(trigger)
            if trigger_name:
                span.set_attribute(ERROR_TRIGGER_NAME, str(trigger_name))
    if event.agent_id:
        span.set_attribute(semconv.AGENT_ID, str(event.agent_id))


def record(event: Event) -> None:
    """Record ``event`` as a child span of the current span. Never raises."""
    try:
        _record(event)
    except Exception:
        logger.debug("agentops_otel: could not record %r", event, exc_info=True)


def _record(event: Event) -> None:
    if not isinstance(event, Event):
        logger.debug("agentops_otel: record() ignores %s: not an agentops_otel event", type(event).__name__)
        return
    name, kind, attributes = _shape(event)
    end = to_ns(event.end_timestamp) or time.time_ns()
    start = to_ns(event.init_timestamp) or event._created_ns
    start = min(start, end)
    span = _runtime.tracer().start_span(
        name, context=parent_context(), kind=kind, attributes=attributes, start_time=start
    )
    try:
        _fill(span, event, _runtime.content_capture_enabled())
    except Exception:
        logger.debug("agentops_otel: partial event %r", event, exc_info=True)
    finally:
        span.end(end_time=end)
