"""``GoogleGenAIInstrumentor``: Google Gen AI SDK calls as GenAI CLIENT spans (``_google_genai``)."""

from __future__ import annotations

from collections.abc import Collection

from agentops_otel.instrumentation._instrumentor import PatcherInstrumentor
from agentops_otel.instrumentation._patching import GOOGLE_GENAI

__all__ = ["GoogleGenAIInstrumentor"]


class GoogleGenAIInstrumentor(PatcherInstrumentor):
    """Records ``generate_content`` (also streamed) and ``embed_content``, sync and async."""

    _patcher = GOOGLE_GENAI

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("google-genai >= 1.0",)
