"""Auto-instrumentation: LLM SDK calls as GenAI CLIENT spans (OpenAI and OpenAI-compatible providers,
Anthropic, LiteLLM, Google Gen AI) and agent frameworks as agent, tool and action spans (OpenAI Agents
SDK, LangChain/LangGraph, CrewAI).

:func:`instrument_all` patches whatever part of those libraries is already imported and the rest when
the library itself imports it (wrapt post-import hooks; ``__import__`` is never patched). It imports
nothing of them, so it costs about a millisecond whichever order the user imports things in (see
``_patching``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from agentops_otel.instrumentation._patching import PATCHERS

__all__ = ["instrument_all", "instrumented", "uninstrument_all"]

logger = logging.getLogger("agentops_otel.instrumentation")


def instrument_all(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Instrument every supported library, now or as it is imported. Never raises.

    A library already instrumented (by an earlier call or its instrumentor) is left as it is.
    """
    for patcher in PATCHERS:
        try:
            patcher.instrument(tracer_provider, meter_provider)
        except Exception:
            logger.debug("agentops_otel: could not instrument %s", patcher.library, exc_info=True)


def uninstrument_all() -> None:
    """Undo :func:`instrument_all`; a library imported later is no longer instrumented. Never raises."""
    for patcher in PATCHERS:
        try:
            patcher.uninstrument()
        except Exception:
            logger.debug("agentops_otel: could not uninstrument %s", patcher.library, exc_info=True)


def instrumented() -> list[str]:
    """The imported libraries that are instrumented."""
    return sorted(p.library for p in PATCHERS if p.active and p.package in sys.modules)
