"""LLM auto-instrumentation: OpenAI and Anthropic SDK calls as GenAI CLIENT spans.

:func:`instrument_all` patches whatever part of ``openai`` / ``anthropic`` is already imported and
the rest when the SDK itself imports it (wrapt post-import hooks; ``__import__`` is never patched).
It imports nothing of the SDKs, so it costs about a millisecond whichever order the user imports
things in (see ``_patching``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from agentops_otel.instrumentation._patching import PATCHERS

__all__ = ["instrument_all", "instrumented", "uninstrument_all"]

logger = logging.getLogger("agentops_otel.instrumentation")


def instrument_all(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Instrument openai and anthropic, now or as they are imported. Never raises.

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
    return sorted(p.library for p in PATCHERS if p.active and p.library in sys.modules)
