"""Exporters: the AgentOps backend over OTLP/HTTP (with its spool), and the embedded local store.

The pieces (``base.py`` has their typed interfaces): ``otlp_encoding`` (spans to OTLP bytes),
``http`` (the transport), ``agentops`` (token and answers), ``rules`` (what each answer means),
``spooling`` (what is left at exit), ``local`` (the local store).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentops_otel._config import Configuration
    from agentops_otel._internal.exporters.base import DeliveringExporter


def make_exporter(config: Configuration) -> DeliveringExporter:
    """Our exporter for the configured destination (built on the export worker thread: the imports
    happen there)."""
    if config.destination == "local":
        from agentops_otel._internal.exporters.local import LocalStoreSpanExporter

        return LocalStoreSpanExporter.from_config(config)
    from agentops_otel._internal.exporters.agentops import AgentOpsSpanExporter

    remote = AgentOpsSpanExporter.from_config(config)
    if not config.spool_undelivered:
        return remote
    from agentops_otel._internal.exporters.spooling import SpoolingExporter

    return SpoolingExporter(
        remote, config.store_path, max_bytes=config.spool_max_bytes, max_age=config.spool_max_age
    )
