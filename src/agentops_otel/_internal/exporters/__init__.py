"""Exporters: the AgentOps backend over OTLP/HTTP, and the embedded local store."""
