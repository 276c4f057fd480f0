"""Entry points for ``opentelemetry-instrument`` (SPEC.md section 4).

- ``OTEL_PYTHON_DISTRO=agentops``: :class:`AgentOpsDistro` sets defaults (``OTEL_TRACES_EXPORTER=
  agentops``, no metrics or logs exporter), only where the user set nothing.
- ``OTEL_PYTHON_CONFIGURATOR=agentops``: :class:`AgentOpsConfigurator` calls ``init()``
  from the ``AGENTOPS_*``/``OTEL_*`` environment (attaching to an SDK provider if one exists, else
  creating one), adds the other exporters named in ``OTEL_TRACES_EXPORTER``, and leaves LLM
  instrumentation to the ``opentelemetry_instrumentor`` entry points, so that
  ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` decides.
- ``OTEL_TRACES_EXPORTER=agentops`` with the stock distro and configurator: :class:`AgentOpsTracesExporter`
  exports to the AgentOps backend (or the local store) configured by the environment, and the
  ``opentelemetry_post_instrument`` hook :func:`post_instrument` adds session stamping and starts the
  session (without a second export path).

``opentelemetry-instrument`` gives up on all instrumentation when any of these raises, so none of them
does: every failure is logged and the program runs on.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from agentops_otel import _sdk_compat

logger = logging.getLogger("agentops_otel")

#: Names in OTEL_TRACES_EXPORTER that mean "nothing to add": our own (init exports) and "none".
_OURS = frozenset({"agentops", "none", ""})

_lock = threading.Lock()
_exporter_made = False  # an AgentOpsTracesExporter exists: the stock pipeline exports for us
_configured_by_us = False


def _env_names(variable: str) -> list[str]:
    return [n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()]


def _agentops_env() -> bool:
    return any(os.environ.get(name) for name in ("AGENTOPS_API_KEY", "AGENTOPS_API_ENDPOINT", "AGENTOPS_DB"))


class AgentOpsDistro(BaseDistro):  # type: ignore[misc]
    """Defaults for ``opentelemetry-instrument`` with ``OTEL_PYTHON_DISTRO=agentops``."""

    def _configure(self, **kwargs: Any) -> None:
        try:
            # Read by whichever configurator runs next; a value the user set always wins.
            os.environ.setdefault("OTEL_TRACES_EXPORTER", "agentops")
            os.environ.setdefault("OTEL_METRICS_EXPORTER", "none")
            os.environ.setdefault("OTEL_LOGS_EXPORTER", "none")
        except Exception:
            logger.exception("agentops_otel: distro configuration failed; continuing without it")

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        # Our instrumentors never stop the others: a failure of theirs is logged, not raised.
        if str(getattr(entry_point, "value", "")).startswith("agentops_otel."):
            try:
                super().load_instrumentor(entry_point, **kwargs)
            except Exception:
                logger.exception("agentops_otel: instrumenting %s failed", entry_point.name)
            return
        super().load_instrumentor(entry_point, **kwargs)


class AgentOpsConfigurator(_sdk_compat.BaseConfigurator):  # type: ignore[misc]
    """``OTEL_PYTHON_CONFIGURATOR=agentops``: tracing set up by ``agentops_otel.init()``."""

    def _configure(self, **kwargs: Any) -> None:
        global _configured_by_us
        try:
            from agentops_otel._internal.client import init

            _default_propagators()
            init(instrument_llm_calls=False)  # instrumentors come from the entry points
            _configured_by_us = True
            _add_named_exporters(_env_names("OTEL_TRACES_EXPORTER"))
        except Exception:
            logger.exception("agentops_otel: configuration failed; the program runs without it")


def _default_propagators() -> None:
    """``OTEL_PROPAGATORS`` is read when ``opentelemetry.propagate`` is imported, before any distro runs,
    so a default set there has no effect; set the W3C pair here unless the user chose propagators."""
    if "OTEL_PROPAGATORS" in os.environ:
        return
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )


def _add_named_exporters(names: Sequence[str]) -> None:
    """Other exporters named in ``OTEL_TRACES_EXPORTER`` (``console``, ``otlp``...) each get a batch
    processor on the provider; an unknown name is logged and skipped, not fatal."""
    from importlib.metadata import entry_points

    provider = trace.get_tracer_provider()
    if not hasattr(provider, "add_span_processor"):
        return
    for name in names:
        if name in _OURS:
            continue
        try:
            if name == "otlp":
                protocol = os.environ.get(
                    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                    os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                )
                name = "otlp_proto_http" if protocol.strip() == "http/protobuf" else "otlp_proto_grpc"
            found = list(entry_points(group="opentelemetry_traces_exporter", name=name))
            if not found:
                logger.error("agentops_otel: no traces exporter named %r is installed; skipped", name)
                continue
            exporter_class = found[0].load()
            provider.add_span_processor(BatchSpanProcessor(exporter_class()))
        except Exception:
            logger.exception("agentops_otel: cannot add the traces exporter %r; skipped", name)


class AgentOpsTracesExporter(SpanExporter):
    """``OTEL_TRACES_EXPORTER=agentops``: the AgentOps (or local-store) exporter the environment
    configures, built on first use. Constructing it never fails and never touches the network."""

    def __init__(self, **kwargs: Any) -> None:
        global _exporter_made
        with _lock:
            _exporter_made = True
        self._lock = threading.Lock()
        self._delegate: SpanExporter | None = None
        self._failed = False

    def _exporter(self) -> SpanExporter | None:
        with self._lock:
            if self._delegate is None and not self._failed:
                try:
                    from agentops_otel._config import Configuration
                    from agentops_otel._internal.pipeline import make_exporter

                    config = Configuration.from_env()
                    self._delegate = make_exporter(config.replace(exporter=None))
                except Exception:
                    self._failed = True
                    logger.exception("agentops_otel: cannot create the AgentOps exporter")
            return self._delegate

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        exporter = self._exporter()
        if exporter is None:
            return SpanExportResult.FAILURE
        try:
            return exporter.export(spans)
        except Exception:
            logger.debug("agentops_otel: export failed", exc_info=True)
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        exporter = self._delegate
        try:
            return exporter.force_flush(timeout_millis) if exporter is not None else True
        except Exception:
            return False

    def shutdown(self) -> None:
        exporter = self._delegate
        if exporter is not None:
            try:
                exporter.shutdown()
            except Exception:
                logger.debug("agentops_otel: exporter shutdown failed", exc_info=True)


def post_instrument(**kwargs: Any) -> None:
    """After the configurator and instrumentors: with the stock configurator, add session stamping and
    start the session when AgentOps is configured (``OTEL_TRACES_EXPORTER=agentops`` or ``AGENTOPS_*``).

    When the stock pipeline already exports with :class:`AgentOpsTracesExporter`, ``init`` adds no
    export processor of its own (``export_spans=False``), so no span is sent twice.
    """
    try:
        if _configured_by_us:
            return
        from agentops_otel._internal.client import get_client

        if get_client().initialized:
            return
        exporting = _exporter_made
        if not exporting and not _agentops_env():
            return  # installed, not asked for: stay out of the way
        from agentops_otel._internal.client import init

        init(instrument_llm_calls=False, export_spans=not exporting)
    except Exception:
        logger.exception("agentops_otel: post-instrument set-up failed; the program runs without it")
