"""Implementation modules. Nothing here is public API: import from ``agentops_otel``."""
