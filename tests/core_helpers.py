"""Shared helpers for the core SDK tests: a user's own TracerProvider, and child-process scripts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

REPO = Path(__file__).resolve().parents[1]


class UserSetup:
    """What a user who already traces has: an SDK provider with their own in-memory exporter."""

    def __init__(self, *processors: SpanProcessor) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        for processor in processors:
            self.provider.add_span_processor(processor)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("user-app")

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"expected one span named {name!r}, got {[s.name for s in self.spans()]}"
        return found[0]


def run_script(
    body: str, tmp_path: Path, *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter with the repo's ``src`` importable."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_"))}
    full_env = {**inherited, "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.run(
        [sys.executable, str(script)], env=full_env, capture_output=True, text=True, timeout=timeout
    )


# A span exporter for child processes: one JSON line per span in the file named by SPANS_FILE.
JSONL_EXPORTER = """
import json, os
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

class JsonLinesExporter(SpanExporter):
    def __init__(self, path):
        self.path = path
    def export(self, spans):
        with open(self.path, "a") as f:
            for s in spans:
                f.write(json.dumps({
                    "name": s.name,
                    "trace_id": format(s.context.trace_id, "032x"),
                    "span_id": format(s.context.span_id, "016x"),
                    "parent": format(s.parent.span_id, "016x") if s.parent else None,
                    "status": s.status.status_code.name,
                    "description": s.status.description,
                    "attributes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.attributes.items()},
                    "pid": os.getpid(),
                }) + "\\n")
        return SpanExportResult.SUCCESS
"""


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_name(spans: list[dict[str, Any]], name: str) -> Iterator[dict[str, Any]]:
    return (s for s in spans if s["name"] == name)


def interruptible() -> None:
    """``preexec_fn`` of a child that a test sends SIGINT: the default disposition, as at a terminal.
    A shell without job control starts background jobs with SIGINT ignored, and a child inherits that
    (CPython then installs no KeyboardInterrupt handler), so such a test would wait in vain."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
