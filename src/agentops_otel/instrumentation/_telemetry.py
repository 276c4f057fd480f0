"""What an instrumentor records with: its tracer (resolved per call, cached by provider) and its GenAI
metric instruments (made at first use), with the metric attributes of each call built once per
combination of operation, provider, models and error."""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry.metrics import Histogram, MeterProvider, get_meter
from opentelemetry.trace import Tracer, TracerProvider

from agentops_otel import _runtime, _sdk_compat, semconv
from agentops_otel.version import __version__

logger = logging.getLogger("agentops_otel.instrumentation")

SCOPE = semconv.INSTRUMENTATION_SCOPE


def debug_failure(what: str) -> None:
    logger.debug("agentops_otel: %s failed; the call is unaffected", what, exc_info=True)


_histograms_lock = threading.Lock()


class Telemetry:
    """Tracer and metric instruments of one instrumentor; the instruments are made at first use."""

    def __init__(self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._histograms: tuple[Histogram, Histogram, Histogram] | None = None
        # (provider, its tracer) of the last call that had something to record it.
        self._recording: tuple[TracerProvider, Tracer] | None = None

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

    def measuring(self) -> bool:
        """False while the instruments are the global meter's and no global meter provider is set:
        they would drop what they are given (a call's three records and their attributes)."""
        return self._meter_provider is not None or _sdk_compat.global_meter_provider_set()

    def record(
        self,
        key: tuple[str, str, str, str | None, str | None],
        duration_s: float,
        ttfc: float | None,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        """The metrics of one call; ``key`` is (operation, provider, request model, response model,
        error type)."""
        token_usage, duration, time_to_first_chunk = self.histograms()
        labels, input_labels, output_labels = _metric_labels(key)
        duration.record(duration_s, labels)
        if ttfc is not None:
            time_to_first_chunk.record(ttfc, labels)
        if input_tokens is not None:
            token_usage.record(input_tokens, input_labels)
        if output_tokens is not None:
            token_usage.record(output_tokens, output_labels)

    def tracer(self) -> Tracer:
        # Resolved per call (cached by provider) so a provider set up after instrument() is used.
        return _runtime.tracer(SCOPE, self._tracer_provider)

    def recording_tracer(self) -> Tracer | None:
        """:meth:`tracer`, or None when it would record nothing (no provider, tracing disabled). A
        tracer that records is kept with its provider: a proxy tracer, once real, stays real."""
        source = self._tracer_provider
        if source is None:
            source = _runtime.provider()
        last = self._recording
        if last is not None and last[0] is source:
            return last[1]
        tracer = _runtime.tracer(SCOPE, source)
        if _sdk_compat.records_nothing(tracer):
            return None
        self._recording = (source, tracer)
        return tracer


_Labels = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]
_labels: dict[tuple[str, str, str, str | None, str | None], _Labels] = {}


def _metric_labels(key: tuple[str, str, str, str | None, str | None]) -> _Labels:
    """Metric attribute dicts (all, input tokens, output tokens), built once per combination.

    The dicts are shared between calls and never changed after they are built.
    """
    found = _labels.get(key)
    if found is not None:
        return found
    operation, provider, request_model, response_model, err_type = key
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
