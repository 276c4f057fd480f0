"""``LiteLLMInstrumentor``: LiteLLM calls as GenAI CLIENT spans (what is covered: ``_litellm``)."""

from __future__ import annotations

from collections.abc import Collection

from agentops_otel.instrumentation._instrumentor import PatcherInstrumentor
from agentops_otel.instrumentation._patching import LITELLM

__all__ = ["LiteLLMInstrumentor"]


class LiteLLMInstrumentor(PatcherInstrumentor):
    """Records ``litellm.completion`` / ``acompletion`` (also streamed) and ``embedding`` / ``aembedding``."""

    _patcher = LITELLM

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("litellm >= 1.60",)
