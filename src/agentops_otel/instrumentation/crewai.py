"""``CrewAIInstrumentor``: CrewAI crews, tasks, agents and tools as our spans (``_crewai``)."""

from __future__ import annotations

from collections.abc import Collection

from agentops_otel.instrumentation._instrumentor import PatcherInstrumentor
from agentops_otel.instrumentation._patching import CREWAI

__all__ = ["CrewAIInstrumentor"]


class CrewAIInstrumentor(PatcherInstrumentor):
    """Records ``Crew.kickoff``, task and agent execution, and tool calls."""

    _patcher = CREWAI

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("crewai >= 1.15",)
