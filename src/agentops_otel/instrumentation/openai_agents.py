"""``OpenAIAgentsInstrumentor``: Agents SDK runs as agent, tool and action spans (``_openai_agents``)."""

from __future__ import annotations

from collections.abc import Collection

from agentops_otel.instrumentation._instrumentor import PatcherInstrumentor
from agentops_otel.instrumentation._patching import OPENAI_AGENTS

__all__ = ["OpenAIAgentsInstrumentor"]


class OpenAIAgentsInstrumentor(PatcherInstrumentor):
    """Records Agents SDK traces and spans (agents, turns, tools, handoffs, guardrails)."""

    _patcher = OPENAI_AGENTS

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai-agents >= 0.2",)
