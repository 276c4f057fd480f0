"""``LangChainInstrumentor``: LangChain and LangGraph runs as agent, tool and action spans."""

from __future__ import annotations

from collections.abc import Collection

from agentops_otel.instrumentation._instrumentor import PatcherInstrumentor
from agentops_otel.instrumentation._patching import LANGCHAIN

__all__ = ["LangChainInstrumentor"]


class LangChainInstrumentor(PatcherInstrumentor):
    """Attaches a callback handler to every LangChain callback manager (graphs, chains, tools, models)."""

    _patcher = LANGCHAIN

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("langchain-core >= 0.3",)
