"""``OpenAIInstrumentor``: OpenAI SDK calls as GenAI CLIENT spans (what is covered: ``_openai``)."""

from __future__ import annotations

from collections.abc import Collection

from agentops_otel.instrumentation._instrumentor import PatcherInstrumentor
from agentops_otel.instrumentation._patching import OPENAI

__all__ = ["OpenAIInstrumentor"]


class OpenAIInstrumentor(PatcherInstrumentor):
    """Records OpenAI SDK calls: chat completions, the Responses API and embeddings, sync and async."""

    _patcher = OPENAI

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.40",)
