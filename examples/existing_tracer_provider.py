"""agentops_otel as a guest in a tracing setup you already have: your exporter keeps every span.

python examples/existing_tracer_provider.py
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import agentops_otel

if __name__ == "__main__":
    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(
            ConsoleSpanExporter(
                formatter=lambda s: f"{s.name} {dict(s.attributes or {}).get('session.id')}\n"
            )
        )
    )
    trace.set_tracer_provider(provider)

    session_id = agentops_otel.init(tags=["example"])  # adds its processors to your provider
    with trace.get_tracer("my-app").start_as_current_span("my-own-span"):
        pass  # carries session.id, and is a child of the session's root span
    agentops_otel.end_session()
    assert trace.get_tracer_provider() is provider  # never replaced
