"""agentops_otel: sessions, LLM instrumentation and export for AI agents, on OpenTelemetry."""

from agentops_otel.version import __version__

__all__ = ["__version__"]
