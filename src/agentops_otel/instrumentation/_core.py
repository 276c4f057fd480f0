"""What every LLM wrapper shares: the span of one call, its end, metrics, and error isolation.

A wrapper does three things around the provider's method: prepare the call (``LLMCall``), run the
method under a context where the baggage member ``session.id`` is removed (so no HTTP header carries it
to the provider; it is held under :data:`HELD_SESSION` so spans made inside still get ``session.id``),
then read the result. Any failure of ours is logged at debug level and the call goes on untouched;
exceptions of the call are recorded and re-raised unchanged.

One LLM span per call, whichever GenAI instrumentations are loaded. Our CLIENT span is started only
once the provider method has returned (with the call's start time), so we know by then whether another
instrumentation recorded the call:

- it wraps ours (its LLM span is current when our wrapper runs), or
- it sits under ours (its LLM span starts inside our call; the session span processor tells the
  ``LLMCall`` in the context, :meth:`LLMCall.adopt`).

Then we make no span of our own and *enrich theirs* instead: ``agentops.span.kind=llm``, the cost, and
what we read that they lack (e.g. token usage of a stream whose usage chunk we asked for). Nothing of
the response is hidden from them; the usage chunk we add to a stream is hidden from the caller only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, MeterProvider, get_meter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from agentops_otel import _runtime, _sdk_compat, semconv
from agentops_otel._errors import error_type
from agentops_otel.instrumentation._keys import HELD_SESSION as HELD_SESSION
from agentops_otel.instrumentation._keys import IN_LLM_CALL as IN_LLM_CALL
from agentops_otel.instrumentation._keys import records_llm_call
from agentops_otel.pricing import cost_usd
from agentops_otel.version import __version__

logger = logging.getLogger("agentops_otel.instrumentation")

SCOPE = semconv.INSTRUMENTATION_SCOPE


# OpenLLMetry's key (a plain string) for "a framework already records this LLM call".
_SUPPRESS_INSTRUMENTATION_KEY = _sdk_compat.SUPPRESS_INSTRUMENTATION_KEY
_SUPPRESS_HTTP_KEY = _sdk_compat.SUPPRESS_HTTP_INSTRUMENTATION_KEY
_SUPPRESS_LLM_KEY = _sdk_compat.SUPPRESS_LLM_INSTRUMENTATION_KEY
_SPAN_KEY = _sdk_compat.SPAN_KEY

_OMITTED = frozenset({"Omit", "NotGiven"})


def given(value: Any) -> bool:
    """False for None and the SDKs' ``omit`` / ``NOT_GIVEN`` sentinels."""
    return value is not None and type(value).__name__ not in _OMITTED


def debug_failure(what: str) -> None:
    logger.debug("agentops_otel: %s failed; the call is unaffected", what, exc_info=True)


def unsuppressed_context() -> Context | None:
    """The current context, or None inside another LLM span of ours or when instrumentation is
    suppressed (contrib's key or OpenLLMetry's). A Context is a dict: plain ``get`` is what
    ``get_value`` does, without a call per key."""
    ctx = otel_context.get_current()
    if ctx.get(IN_LLM_CALL) or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_SUPPRESS_LLM_KEY):
        return None
    return ctx


def is_suppressed() -> bool:
    """Inside another LLM span of ours, or instrumentation suppressed (contrib's key or OpenLLMetry's)."""
    return unsuppressed_context() is None


def call_context(call: Any, ctx: Context | None = None) -> Context:
    """The context a provider call runs in: ``call`` marked as in progress, no ``session.id`` baggage
    member, and HTTP instrumentation suppressed.

    An HTTP client instrumentation (httpx, requests) would add a second client span and inject our
    ``traceparent`` into a request to the LLM provider, which must carry no trace headers of ours. The
    session member is kept under :data:`HELD_SESSION`, so a span another instrumentation makes inside
    still gets the session. ``ctx`` is the caller's context when already read (default: current).
    """
    if ctx is None:
        ctx = otel_context.get_current()
    held = baggage.get_all(ctx).get(semconv.BAGGAGE_SESSION_ID)
    if held is None:
        # One copy of the context instead of one per key.
        return Context({**ctx, IN_LLM_CALL: call, _SUPPRESS_HTTP_KEY: True})
    ctx = baggage.remove_baggage(semconv.BAGGAGE_SESSION_ID, ctx)
    return Context({**ctx, IN_LLM_CALL: call, _SUPPRESS_HTTP_KEY: True, HELD_SESSION: held})


def context_without_session_baggage() -> Context | None:
    """For calls we do not record: a context without the baggage member, or None if there is none."""
    ctx = otel_context.get_current()
    held = baggage.get_all(ctx).get(semconv.BAGGAGE_SESSION_ID)
    if held is None:
        return None
    return otel_context.set_value(HELD_SESSION, held, baggage.remove_baggage(semconv.BAGGAGE_SESSION_ID, ctx))


def foreign_llm_span(ctx: Context) -> Span | None:
    """The current span of ``ctx`` when it is another instrumentation's open LLM span (it wraps ours)."""
    span: Any = ctx.get(_SPAN_KEY)
    if span is None or not span.is_recording():
        return None
    return span if records_llm_call(getattr(span, "attributes", None)) else None  # type: ignore[no-any-return]


def text_parts(content: Any) -> list[dict[str, Any]]:
    """Semconv message parts from a string or a list of provider content blocks."""
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, (list, tuple)):
        for block in content:
            kind = _get(block, "type")
            if kind in ("text", "input_text", "output_text"):
                parts.append({"type": "text", "content": _get(block, "text")})
            elif kind is not None:
                parts.append({"type": str(kind)})
    return parts


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` of a mapping, else the attribute; None when missing."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    # The Mapping ABC check is slow: only made when the attribute read found nothing.
    if value is None and isinstance(obj, Mapping):
        return obj.get(name)
    return value


get = _get


_histograms_lock = threading.Lock()


class Telemetry:
    """Tracer and metric instruments of one instrumentor; the instruments are made at first use."""

    def __init__(self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._histograms: tuple[Histogram, Histogram, Histogram] | None = None

    def histograms(self) -> tuple[Histogram, Histogram, Histogram]:
        """Token usage, operation duration and time to first chunk."""
        found = self._histograms
        if found is None:
            with _histograms_lock:
                found = self._histograms
                if found is None:
                    found = self._histograms = self._make_histograms()
        return found

    def _make_histograms(self) -> tuple[Histogram, Histogram, Histogram]:
        meter = get_meter(SCOPE, __version__, self._meter_provider)
        return (
            meter.create_histogram(
                semconv.METRIC_TOKEN_USAGE,
                unit="{token}",
                description="Number of input and output tokens used",
                explicit_bucket_boundaries_advisory=list(semconv.TOKEN_BUCKETS),
            ),
            meter.create_histogram(
                semconv.METRIC_OPERATION_DURATION,
                unit="s",
                description="GenAI operation duration",
                explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS),
            ),
            meter.create_histogram(
                semconv.METRIC_TIME_TO_FIRST_CHUNK,
                unit="s",
                description="Time to receive the first chunk of a streamed response",
                explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS),
            ),
        )

    def tracer(self) -> Tracer:
        # Resolved per call (cached by provider) so a provider set up after instrument() is used.
        return _runtime.tracer(SCOPE, self._tracer_provider)


class _Pending:
    """Stands for the span of a call until it is started (or for good, when another instrumentation
    records the call): what the provider modules write on ``call.span`` is kept here."""

    __slots__ = ("attributes", "status")

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}
        self.status: Status | None = None

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_status(self, status: Status, description: str | None = None) -> None:
        self.status = status

    def is_recording(self) -> bool:
        return True

    def end(self, end_time: int | None = None) -> None:
        pass


_NOT_LENT = frozenset({semconv.INPUT_MESSAGES, semconv.OUTPUT_MESSAGES, semconv.SYSTEM_INSTRUCTIONS})


class LLMCall:
    """One LLM call: the span we start once the provider returned (:meth:`resolve`), or the span of
    another instrumentation that records it (:meth:`adopt`), and what is needed to end it once."""

    __slots__ = (
        "_ended",
        "_resolved",
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
        "streamed",
        "tail_wanted",
        "telemetry",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        operation: str,
        provider: str,
        request_model: str,
        start_attributes: dict[str, Any] | None = None,
        parent: Context | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.operation = operation
        self.provider = provider
        self.request_model = request_model
        self.name = f"{operation} {request_model}" if request_model else operation
        self.start_attributes = start_attributes or {}
        self.parent = parent if parent is not None else otel_context.get_current()
        self.start_ns = time.time_ns()
        self.started = time.perf_counter()
        self.span: Span | _Pending = _Pending()
        #: Another instrumentation's span that records this call: then we make none.
        self.other: Span | None = None
        self.streamed = bool(start_attributes and start_attributes.get(semconv.REQUEST_STREAM))
        #: The other instrumentation ended its span when the stream was returned and records the
        #: stream in a span of its own at the end (Logfire): the stream proxy lets that one be adopted.
        self.tail_wanted = False
        self.response_model: str | None = None
        self.first_chunk_at: float | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cached_tokens = 0
        self.cache_write_tokens = 0
        self.capture = _runtime.content_capture_enabled()
        self._ended = False
        self._resolved = False
        # Response attributes, written with one set_attributes call when the span ends.
        self.attributes: dict[str, Any] = {}

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
    def resolved(self) -> bool:
        """The provider method has returned (or raised)."""
        return self._resolved

    def resolve(self) -> None:
        """Start our span (with the call's start time) unless another instrumentation records the call."""
        if self._resolved:
            return
        self._resolved = True
        if self.other is not None:
            return
        pending = self.span
        attributes = self.start_attributes
        if isinstance(pending, _Pending) and pending.attributes:
            attributes = {**attributes, **pending.attributes}
        span = self.telemetry.tracer().start_span(
            self.name,
            context=self.parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=self.start_ns,
        )
        if isinstance(pending, _Pending) and pending.status is not None:
            span.set_status(pending.status)
        self.span = span

    # -- recording ------------------------------------------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        if value is not None:
            self.attributes[key] = value

    def set_response(self, response_id: Any, model: Any, finish_reasons: list[str] | None) -> None:
        out = self.attributes
        if isinstance(response_id, str):
            out[semconv.RESPONSE_ID] = response_id
        if isinstance(model, str):
            self.response_model = model
            out[semconv.RESPONSE_MODEL] = model
        if finish_reasons:
            out[semconv.RESPONSE_FINISH_REASONS] = finish_reasons

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
        if isinstance(cached, int) and cached:
            self.cached_tokens = cached
            out[semconv.USAGE_CACHE_READ_INPUT_TOKENS] = cached
        if isinstance(cache_write, int) and cache_write:
            self.cache_write_tokens = cache_write
            out[semconv.USAGE_CACHE_CREATION_INPUT_TOKENS] = cache_write
        if isinstance(reasoning, int) and reasoning:
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
        if self.input_tokens is None and self.output_tokens is None:
            return None
        models = [self.response_model, self.request_model] if self.response_model else [self.request_model]
        for model in models:
            cost = cost_usd(
                model or "",
                self.input_tokens,
                self.output_tokens,
                self.cached_tokens,
                self.cache_write_tokens,
            )
            if cost is not None:
                return cost
        return None

    def _end(self, error: BaseException | None, error_kind: str | None) -> None:
        span = self.span
        now = time.perf_counter()
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
        if out:
            span.set_attributes(out)
        span.end()
        self._record_metrics(now, ttfc, err_type)

    def _record_metrics(self, now: float, ttfc: float | None, err_type: str | None) -> None:
        token_usage, duration, time_to_first_chunk = self.telemetry.histograms()
        labels, input_labels, output_labels = _metric_labels(
            self.operation, self.provider, self.request_model, self.response_model, err_type
        )
        duration.record(now - self.started, labels)
        if ttfc is not None:
            time_to_first_chunk.record(ttfc, labels)
        if self.input_tokens is not None:
            token_usage.record(self.input_tokens, input_labels)
        if self.output_tokens is not None:
            token_usage.record(self.output_tokens, output_labels)


_Labels = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
_labels: dict[tuple[str, str, str, str | None, str | None], _Labels] = {}


def _metric_labels(
    operation: str, provider: str, request_model: str, response_model: str | None, err_type: str | None
) -> _Labels:
    """Metric attribute dicts (all, input tokens, output tokens), built once per combination.

    The dicts are shared between calls and never changed after they are built.
    """
    key = (operation, provider, request_model, response_model, err_type)
    found = _labels.get(key)
    if found is not None:
        return found
    labels: dict[str, Any] = {
        semconv.OPERATION_NAME: operation,
        semconv.PROVIDER_NAME: provider,
        semconv.REQUEST_MODEL: request_model,
    }
    if response_model:
        labels[semconv.RESPONSE_MODEL] = response_model
    if err_type is not None:
        labels[semconv.ERROR_TYPE] = err_type
    found = (
        labels,
        {**labels, semconv.TOKEN_TYPE: semconv.TOKEN_INPUT},
        {**labels, semconv.TOKEN_TYPE: semconv.TOKEN_OUTPUT},
    )
    if len(_labels) < 4096:
        _labels[key] = found
    return found


def start_call(
    telemetry: Telemetry,
    operation: str,
    provider: str,
    model: Any,
    attributes: dict[str, Any],
) -> LLMCall | None:
    """Prepares the call in the current context; its CLIENT span starts when the provider returns.
    None when nothing would record it (no provider, tracing disabled)."""
    if _sdk_compat.records_nothing(telemetry.tracer()):
        return None
    model_name = model if isinstance(model, str) else ""
    attributes[semconv.SPAN_KIND] = semconv.KIND_LLM
    attributes[semconv.OPERATION_NAME] = operation
    attributes[semconv.PROVIDER_NAME] = provider
    if model_name:
        attributes[semconv.REQUEST_MODEL] = model_name
    return LLMCall(telemetry, operation, provider, model_name, attributes)


_servers: dict[int, tuple[Any, tuple[tuple[str, Any], ...]]] = {}


def server_attributes(client: Any, out: dict[str, Any]) -> None:
    """``server.address``/``server.port`` from the SDK client's base URL (read once per URL object)."""
    # The SDKs keep the URL in ``_base_url``; the public ``base_url`` property of openai >= 3 runs an
    # import statement on every read (~1 us), so the stored value is read first.
    url = getattr(client, "_base_url", None)
    if url is None:
        url = getattr(client, "base_url", None)
        if url is None:
            return
    # Keyed by identity; the entry holds the URL, so its id is not reused while cached.
    entry = _servers.get(id(url))
    if entry is None or entry[0] is not url:
        found: list[tuple[str, Any]] = []
        host = getattr(url, "host", None)
        if isinstance(host, str) and host:
            found.append((semconv.SERVER_ADDRESS, host))
            port = getattr(url, "port", None)
            if isinstance(port, int):
                found.append((semconv.SERVER_PORT, port))
        entry = (url, tuple(found))
        if len(_servers) >= 256:
            _servers.clear()
        _servers[id(url)] = entry
    out.update(entry[1])


# Raw responses: ``with_raw_response`` returns the SDK's response object, whose ``parse()`` caches
# the parsed value per type. The wrapper parses (what the user does next anyway) and, for a stream,
# puts its proxy in that cache so ``parse()`` hands the user the proxy.
_RAW_HEADER = "X-Stainless-Raw-Response"


def raw_mode(kwargs: Mapping[str, Any]) -> str | None:
    """``"raw"`` for with_raw_response, ``"stream"`` for with_streaming_response, else None."""
    headers = kwargs.get("extra_headers")
    if not headers:
        return None
    try:
        value = headers.get(_RAW_HEADER)
    except Exception:
        return None
    if value is None:
        return None
    return "stream" if value == "stream" else "raw"


def replace_parsed(raw: Any, parsed: Any, replacement: Any) -> bool:
    cache = getattr(raw, "_parsed_by_type", None)
    if not isinstance(cache, dict):
        return False
    for key, value in list(cache.items()):
        if value is parsed:
            cache[key] = replacement
            return True
    return False


Finisher = Callable[[LLMCall, Any], None]
