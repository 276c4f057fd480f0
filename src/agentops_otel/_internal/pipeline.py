"""The export pipeline the client attaches to a tracer provider: our two processors on it, the private
provider of bookkeeping spans, and their flush and shutdown.

It is a guest in the user's tracing setup: an SDK ``TracerProvider`` that is already set (or passed in)
gets our processors and is never replaced; only when none is set is one created (and then owned).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from agentops_otel import _runtime
from agentops_otel._config import Configuration
from agentops_otel._internal import exporters, providers
from agentops_otel._internal.processors import ExportProcessor
from agentops_otel._internal.session_processor import SessionSpanProcessor

logger = logging.getLogger("agentops_otel")

# Providers that already have our processors, so a second init (or a second client) adds none.
_attached = providers.Attached()


def make_exporter(config: Configuration) -> SpanExporter:
    """The exporter for the configured destination (called on the export worker thread)."""
    if config.exporter is not None:
        return config.exporter
    return exporters.make_exporter(config)


class Pipeline:
    """What one client attached: the provider it records with and the processors it added there."""

    def __init__(self, config: Configuration, tracer_provider: trace.TracerProvider | None) -> None:
        self.config = config
        self.export_processor: ExportProcessor | None = None
        self._bookkeeping_processor: ExportProcessor | None = None  # with export_spans=False only
        self._internal_provider: SdkTracerProvider | None = None
        provider, self._owns_provider = providers.choose(tracer_provider, config.service_name)
        self.provider: trace.TracerProvider = provider
        if providers.takes_processors(provider) and provider not in _attached:
            self._attach(provider)

    def _attach(self, provider: Any) -> None:
        config = self.config
        provider.add_span_processor(SessionSpanProcessor(config.trust_inbound_session))
        _attached.add(provider)
        processor = ExportProcessor(
            lambda: make_exporter(config),
            max_queue_size=config.max_queue_size,
            max_export_batch_size=config.max_export_batch_size,
            schedule_delay=config.schedule_delay,
            export_timeout=config.export_timeout,
            shutdown_timeout=config.shutdown_timeout,
        )
        if config.export_spans:
            self.export_processor = processor
            provider.add_span_processor(processor)
        else:
            # The provider's own pipeline exports the spans (OTEL_TRACES_EXPORTER=agentops); the
            # bookkeeping spans take this processor, so they stay out of any other exporter there.
            self._bookkeeping_processor = processor
        # The private provider of bookkeeping spans (start markers, heartbeats), see providers.
        internal = providers.internal_provider(
            getattr(provider, "resource", None),
            SessionSpanProcessor(config.trust_inbound_session),
            processor,
        )
        if internal is not None:
            _runtime.set_internal_provider(internal)
        self._internal_provider = internal

    def start(self) -> None:
        """Start the export worker, so the exporter is built while the program runs (at the end of
        ``init``: the worker's imports then do not compete for the GIL with ``init``'s own work)."""
        for processor in (self.export_processor, self._bookkeeping_processor):
            if processor is not None:
                processor.start()

    def settled(self) -> bool:
        """False in a forked child whose at-fork hooks have not reset our processors yet: their state
        (queue, worker) is still the parent's copy."""
        ours = (self.export_processor, self._bookkeeping_processor)
        return all(p.pid == os.getpid() for p in ours if p is not None)

    def flush(self, seconds: float) -> bool:
        """Deliver queued spans, waiting at most ``seconds``. True when all were delivered."""
        processor = self.export_processor
        if processor is not None:
            return processor.flush(seconds)
        # With export_spans=False the provider's own processors export (e.g. under the stock
        # opentelemetry-instrument pipeline): flush those, and our bookkeeping spans.
        deadline = time.monotonic() + seconds
        bookkeeping = self._bookkeeping_processor
        marked = bookkeeping.flush(seconds) if bookkeeping is not None else True
        force_flush = getattr(self.provider, "force_flush", None)
        if force_flush is None:
            return marked
        try:
            left = max(deadline - time.monotonic(), 0.0)
            return bool(force_flush(int(left * 1000))) and marked
        except Exception:
            logger.debug("agentops_otel: provider flush failed", exc_info=True)
            return False

    def shutdown(self, seconds: float) -> bool:
        """Flush within ``seconds`` and stop exporting; an owned provider is shut down too."""
        ok = True
        for processor in (self.export_processor, self._bookkeeping_processor):
            if processor is not None:
                ok = processor.shutdown(seconds) and ok
        internal = self._internal_provider
        if internal is not None:
            try:
                internal.shutdown()  # its export processor (ours) is already shut down: quick
            except Exception:
                logger.debug("agentops_otel: internal provider shutdown failed", exc_info=True)
        if self._owns_provider and isinstance(self.provider, SdkTracerProvider):
            try:
                self.provider.shutdown()
            except Exception:
                logger.debug("agentops_otel: provider shutdown failed", exc_info=True)
        return ok

    def detach(self) -> None:
        """Forget the provider, so a new client attaches to it afresh (its processors stay there)."""
        _attached.discard(self.provider)
