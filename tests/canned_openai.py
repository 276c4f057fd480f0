"""The canned OpenAI server of the child-process tests: ``POST /v1/chat/completions`` answers with
llm_fixtures' fixed completion, or with its chunks as an SSE stream when the request asks for one (a
usage chunk last only when ``stream_options.include_usage`` is set, as OpenAI does). The server is
canned_http's :class:`ChatServer`: request bodies and headers are kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from canned_http import ChatServer
from llm_fixtures import CHAT_CHUNKS, CHAT_COMPLETION, USAGE_CHUNK


def _events(body: dict[str, Any]) -> list[dict[str, Any]]:
    usage = (body.get("stream_options") or {}).get("include_usage")
    return [*CHAT_CHUNKS, *([USAGE_CHUNK] if usage else [])]


class CannedChat(ChatServer):
    def __init__(self) -> None:
        super().__init__(lambda body: CHAT_COMPLETION, _events)


@pytest.fixture
def canned_chat() -> Iterator[CannedChat]:
    with CannedChat() as server:
        yield server


# A child-process prelude: the user's own provider, exporting to a JSON-lines file (SPANS_FILE).
USER_PROVIDER = """
import json, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

class JsonLines(SpanExporter):
    def export(self, spans):
        with open(os.environ["SPANS_FILE"], "a") as f:
            for s in spans:
                f.write(json.dumps({
                    "name": s.name,
                    "scope": s.instrumentation_scope.name if s.instrumentation_scope else None,
                    "span_id": format(s.context.span_id, "016x"),
                    "parent": format(s.parent.span_id, "016x") if s.parent else None,
                    "attributes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.attributes.items()},
                }) + "\\n")
        return SpanExportResult.SUCCESS
"""
