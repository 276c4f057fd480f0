"""One LLM call: its span (started once the provider returned, or another instrumentation's, see
``_core``) and its end with cost and metrics (recorded by the instrumentor's ``Telemetry``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from agentops_otel import _runtime, semconv
from agentops_otel._errors import error_type
from agentops_otel._sdk_compat import add_valid_attributes, attributes_dropped
from agentops_otel.instrumentation._keys import LLM_WATCH, STAMPED, stamp
from agentops_otel.instrumentation._telemetry import Telemetry, debug_failure
from agentops_otel.pricing import call_cost


class _Pending(dict[str, Any]):
    """Stands for the span of a call until it is started (or for good, when another instrumentation
    records the call): the call's start attributes, to which the provider modules add by writing on
    ``call.span``; the span starts with them. A dict, so that making one runs no Python ``__init__``."""

    #: The status set before the span started (an instance gets its own once one is set).
    status: Status | None = None

    def set_attribute(self, key: str, value: Any) -> None:
        self[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.update(attributes)

    def set_status(self, status: Status, description: str | None = None) -> None:
        self.status = status

    def is_recording(self) -> bool:
        return True

    def end(self, end_time: int | None = None) -> None:
        pass


class CallTemplate(NamedTuple):
    """What every call of one operation, provider and model starts with, under one configuration: its
    start attributes (span kind, operation, provider, model and the caller's own), span name, and
    whether content is captured. Made per call, or kept per client by a provider module (openai's)."""

    operation: str
    provider: str
    request_model: str
    name: str
    attributes: dict[str, Any]
    capture: bool


def call_template(operation: str, provider: str, model: Any, attributes: dict[str, Any]) -> CallTemplate:
    """The template of calls to ``model`` (no model name unless a string) with ``attributes`` added to."""
    model_name = model if isinstance(model, str) else ""
    attributes[semconv.SPAN_KIND] = semconv.KIND_LLM
    attributes[semconv.OPERATION_NAME] = operation
    attributes[semconv.PROVIDER_NAME] = provider
    if model_name:
        attributes[semconv.REQUEST_MODEL] = model_name
    name = f"{operation} {model_name}" if model_name else operation
    return CallTemplate(operation, provider, model_name, name, attributes, _runtime.content_capture_enabled())


#: The types of attribute values the SDK stores unchanged (a tuple may hold strings only, so ``set``
#: leaves tuples to the SDK).
_VALID = frozenset({str, bool, int, float})
_STRINGS = frozenset({str})

#: What says which call a span records: kept among its attributes under a count limit.
_IDENTITY = (
    semconv.SPAN_KIND,
    semconv.OPERATION_NAME,
    semconv.PROVIDER_NAME,
    semconv.REQUEST_MODEL,
    semconv.SESSION_ID,
    semconv.AGENT_NAME,
    semconv.AGENT_ID,
)

_NOT_LENT = frozenset({semconv.INPUT_MESSAGES, semconv.OUTPUT_MESSAGES, semconv.SYSTEM_INSTRUCTIONS})


class LLMCall:
    """One LLM call: the span we start once the provider returned (:meth:`resolve`), or the span of
    another instrumentation that records it (:meth:`adopt`), and what is needed to end it once."""

    __slots__ = (
        "_ended",
        "_resolved",
        "_unchecked",
        "attributes",
        "cache_write_tokens",
        "cached_tokens",
        "capture",
        "first_chunk_at",
        "input_tokens",
        "name",
        "operation",
        "other",
        "output_tokens",
        "parent",
        "provider",
        "request_model",
        "response_model",
        "span",
        "start_attributes",
        "start_ns",
        "started",
        "tail_wanted",
        "telemetry",
        "tracer",
    )

    def __init__(
        self, telemetry: Telemetry, template: CallTemplate, parent: Context, tracer: Tracer | None = None
    ) -> None:
        self.telemetry = telemetry
        #: The tracer the span is started with (None: the telemetry's, when the span starts).
        self.tracer = tracer
        self.operation, self.provider, self.request_model, self.name, attributes, self.capture = template
        #: The start attributes (a copy of the template's): the span until it starts.
        pending = self.start_attributes = _Pending(attributes)
        self.span: Span | _Pending = pending
        self.parent = parent
        self.start_ns = time.time_ns()
        self.started = time.perf_counter()
        #: Another instrumentation's span that records this call: then we make none.
        self.other: Span | None = None
        #: The other instrumentation ended its span when the stream was returned and records the
        #: stream in a span of its own at the end (Logfire): the stream proxy lets that one be adopted.
        self.tail_wanted = False
        self.response_model: str | None = None
        self.first_chunk_at: float | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cached_tokens = 0
        self.cache_write_tokens = 0
        self._ended = False
        self._resolved = False
        # Response attributes, written at once when the span ends. Their values are ones the SDK
        # stores unchanged (``_sdk_compat.add_valid_attributes``), unless ``set`` was given another.
        self.attributes: dict[str, Any] = {}
        self._unchecked = False

    @classmethod
    def around(cls, telemetry: Telemetry, span: Span, operation: str, provider: str, model: str) -> LLMCall:
        """An LLM call recorded in ``span``, a span of ours already started (a framework's model run
        that no SDK wrapper recorded): ending the call ends it as our LLM span."""
        call = cls(telemetry, call_template(operation, provider, model, {}), otel_context.get_current())
        call.span = span
        call._resolved = True
        return call

    # -- whose span ------------------------------------------------------------------------------------

    def adopt(self, span: Span) -> bool:
        """Another instrumentation records this call in ``span``: we enrich it instead of adding ours.
        False when the call already has its span (ours, or another instrumentation's)."""
        if self.tail_wanted:
            self.tail_wanted = False
            self.other = span
            return True
        if self.other is not None or self._resolved:
            return False
        self.other = span
        return True

    @property
    def streamed(self) -> bool:
        """The call asked for a stream."""
        return self.start_attributes.get(semconv.REQUEST_STREAM) is True

    @property
    def resolved(self) -> bool:
        """The provider method has returned (or raised)."""
        return self._resolved

    def resolve(self) -> None:
        """Start our span (with the call's start time) unless another instrumentation records the call.
        Never raises (the wrappers call it beside the user's call): a failure leaves the call unrecorded."""
        if self._resolved:
            return
        self._resolved = True
        if self.other is not None:
            return
        pending = self.start_attributes
        try:
            tracer = self.tracer
            if tracer is None:
                tracer = self.telemetry.tracer()
            span = tracer.start_span(
                self.name,
                context=self.parent,
                kind=SpanKind.CLIENT,
                attributes=pending,
                start_time=self.start_ns,
            )
            self.span = span  # first: a span that started is ended by ``end`` whatever fails below
            if pending.status is not None:
                span.set_status(pending.status)
            if attributes_dropped(span):
                self._keep_identity(span)
        except Exception:
            debug_failure("starting an LLM span")

    def _keep_identity(self, span: Span) -> None:
        """A count limit dropped the span's oldest attributes: what says which call this is goes in
        again, as the newest (the SDK drops the oldest first)."""
        pending = self.start_attributes
        span.set_attributes({key: pending[key] for key in _IDENTITY if key in pending})

    # -- recording ------------------------------------------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        if value is not None:
            self.attributes[key] = value
            if type(value) not in _VALID:
                self._unchecked = True  # the SDK checks (and converts) it when the span ends

    def set_response(self, response_id: Any, model: Any, finish_reasons: list[str] | None) -> None:
        out = self.attributes
        if isinstance(response_id, str):
            out[semconv.RESPONSE_ID] = response_id
        if isinstance(model, str):
            self.response_model = model
            out[semconv.RESPONSE_MODEL] = model
        if finish_reasons:
            if not _STRINGS.issuperset(map(type, finish_reasons)):
                # The SDK takes exact str items only (it would drop the attribute): so do we.
                finish_reasons = [r for r in finish_reasons if type(r) is str]
            out[semconv.RESPONSE_FINISH_REASONS] = tuple(finish_reasons)  # as the SDK would store them

    def set_usage(
        self,
        input_tokens: Any,
        output_tokens: Any,
        cached: Any = None,
        cache_write: Any = None,
        reasoning: Any = None,
    ) -> None:
        out = self.attributes
        if isinstance(input_tokens, int):
            self.input_tokens = input_tokens
            out[semconv.USAGE_INPUT_TOKENS] = input_tokens
        if isinstance(output_tokens, int):
            self.output_tokens = output_tokens
            out[semconv.USAGE_OUTPUT_TOKENS] = output_tokens
        # The optional counts are mostly absent or 0: the truth test first.
        if cached and isinstance(cached, int):
            self.cached_tokens = cached
            out[semconv.USAGE_CACHE_READ_INPUT_TOKENS] = cached
        if cache_write and isinstance(cache_write, int):
            self.cache_write_tokens = cache_write
            out[semconv.USAGE_CACHE_CREATION_INPUT_TOKENS] = cache_write
        if reasoning and isinstance(reasoning, int):
            out[semconv.USAGE_REASONING_OUTPUT_TOKENS] = reasoning

    def mark_first_chunk(self) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()

    def lend(self) -> None:
        """Write what we read onto the other instrumentation's span while it is open: what it lacks,
        our span kind and the cost (e.g. the usage of a stream, whose usage chunk only we asked for)."""
        other = self.other
        if other is None or not other.is_recording():
            return
        try:
            theirs = getattr(other, "attributes", None) or {}
            lent = {k: v for k, v in self.attributes.items() if k not in theirs and k not in _NOT_LENT}
            lent[semconv.SPAN_KIND] = semconv.KIND_LLM
            cost = self._cost()
            if cost is not None:
                lent[semconv.COST_USD] = cost
            other.set_attributes(lent)
        except Exception:
            debug_failure("enriching another instrumentation's LLM span")

    # -- ending ---------------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._ended

    def end(self, error: BaseException | None = None, error_kind: str | None = None) -> None:
        """Ends the span once: status ERROR with ``error.type`` for a failure, cost and metrics."""
        if self._ended:
            return
        self._ended = True
        try:
            if not self._resolved:
                self.resolve()
            if self.other is not None:
                self.lend()  # their span, their status and metrics
                return
            self._end(error, error_kind)
        except Exception:
            debug_failure("ending an LLM span")
            with contextlib.suppress(Exception):
                self.span.end()

    def _cost(self) -> float | None:
        """Priced by the response's model (a dated snapshot), else by the requested one."""
        inp, out = self.input_tokens, self.output_tokens
        if inp is None and out is None:
            return None
        return call_cost(
            self.response_model,
            self.request_model,
            self.provider,
            inp or 0,
            out or 0,
            self.cached_tokens,
            self.cache_write_tokens,
        )

    def _end(self, error: BaseException | None, error_kind: str | None) -> None:
        span = self.span
        measuring = self.telemetry.measuring()
        now = time.perf_counter() if measuring else 0.0
        out = self.attributes
        err_type = error_kind
        if error is not None:
            err_type = error_type(error)
            span.set_status(Status(StatusCode.ERROR, f"{err_type}: {error}"[:1024]))
        if err_type is not None:
            out[semconv.ERROR_TYPE] = err_type
        ttfc = None
        if self.first_chunk_at is not None:
            ttfc = self.first_chunk_at - self.started
            out[semconv.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        cost = self._cost()
        if cost is not None:
            out[semconv.COST_USD] = cost
        if out and (self._unchecked or not add_valid_attributes(span, out)):
            span.set_attributes(out)
            if attributes_dropped(span):
                self._keep_identity(span)  # type: ignore[arg-type]
        span.end()
        if measuring:
            self._record_metrics(now, ttfc, err_type)

    def _record_metrics(self, now: float, ttfc: float | None, err_type: str | None) -> None:
        self.telemetry.record(
            (self.operation, self.provider, self.request_model, self.response_model, err_type),
            now - self.started,
            ttfc,
            self.input_tokens,
            self.output_tokens,
        )


def start_call(
    telemetry: Telemetry,
    operation: str,
    provider: str,
    model: Any,
    attributes: dict[str, Any],
    parent: Context | None = None,
) -> LLMCall | None:
    """Prepares the call in ``parent`` (default: the current context); its CLIENT span starts when the
    provider returns. None when nothing would record it (no provider, tracing disabled)."""
    tracer = telemetry.recording_tracer()
    if tracer is None:
        return None
    return open_call(telemetry, tracer, call_template(operation, provider, model, attributes), parent)


def open_call(
    telemetry: Telemetry, tracer: Tracer, template: CallTemplate, parent: Context | None = None
) -> LLMCall:
    """:func:`start_call` from a template, with the tracer that records it."""
    ctx = parent if parent is not None else otel_context.get_current()
    call = LLMCall(telemetry, template, ctx, tracer)
    if stamp(call.start_attributes, ctx):
        # The span starts stamped (``STAMPED`` in its parent context): the session span processor
        # has nothing to do for it.
        call.parent = Context({**ctx, STAMPED: True})
    watch = ctx.get(LLM_WATCH)
    if watch is not None:
        watch.append(call)  # type: ignore[attr-defined]
    return call
