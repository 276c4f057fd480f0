"""``AnthropicInstrumentor``: Anthropic SDK calls as GenAI CLIENT spans (what is covered: ``_anthropic``)."""

from __future__ import annotations

from collections.abc import Collection

from agentops_otel.instrumentation._instrumentor import PatcherInstrumentor
from agentops_otel.instrumentation._patching import ANTHROPIC

__all__ = ["AnthropicInstrumentor"]


class AnthropicInstrumentor(PatcherInstrumentor):
    """Records Anthropic SDK calls: ``messages.create`` and ``messages.stream``, beta too, sync and async."""

    _patcher = ANTHROPIC

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 0.40",)
