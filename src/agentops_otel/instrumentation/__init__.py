"""LLM auto-instrumentation: OpenAI and Anthropic SDK calls as GenAI CLIENT spans.

:func:`instrument_all` instruments whichever of ``openai`` / ``anthropic`` is importable, now or when
it is first imported later (wrapt post-import hooks; ``__import__`` is never patched).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

import wrapt

__all__ = ["instrument_all", "instrumented", "uninstrument_all"]

logger = logging.getLogger("agentops_otel.instrumentation")

# library module -> instrumentor class path
_LIBRARIES = {
    "openai": ("agentops_otel.instrumentation.openai", "OpenAIInstrumentor"),
    "anthropic": ("agentops_otel.instrumentation.anthropic", "AnthropicInstrumentor"),
}

_lock = threading.Lock()
_wanted = False
_options: dict[str, Any] = {}
_hooked: set[str] = set()
_done: set[str] = set()


def _instrumentor(library: str) -> Any:
    module_name, class_name = _LIBRARIES[library]
    module = __import__(module_name, fromlist=[class_name])
    return getattr(module, class_name)()


def _on_import(library: str) -> None:
    with _lock:
        if not _wanted or library in _done:
            return
        options = dict(_options)
        _done.add(library)
    try:
        instrumentor = _instrumentor(library)
        if not instrumentor.is_instrumented_by_opentelemetry:
            # The dependency check reads package metadata; the import just succeeded, and every target
            # is looked up defensively, so it is skipped to keep init fast.
            instrumentor.instrument(skip_dep_check=True, **options)
    except Exception:
        logger.debug("agentops_otel: could not instrument %s", library, exc_info=True)


def _hook_for(library: str) -> Any:
    def hook(_module: Any) -> None:
        _on_import(library)

    return hook


def instrument_all(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Instrument openai and anthropic, whichever is installed, now or at their first import. Never raises."""
    global _wanted
    try:
        with _lock:
            _wanted = True
            _options.clear()
            if tracer_provider is not None:
                _options["tracer_provider"] = tracer_provider
            if meter_provider is not None:
                _options["meter_provider"] = meter_provider
            pending = [lib for lib in _LIBRARIES if lib not in _hooked]
            _hooked.update(pending)
        for library in pending:
            if importlib.util.find_spec(library) is None:
                continue
            # Runs at once if the library is already imported, else right after its import.
            wrapt.register_post_import_hook(_hook_for(library), library)
        # Libraries whose hook ran before (then uninstrument_all) are re-instrumented here.
        with _lock:
            again = [lib for lib in _hooked if lib not in _done and lib in _imported()]
        for library in again:
            _on_import(library)
    except Exception:
        logger.debug("agentops_otel: instrument_all failed", exc_info=True)


def _imported() -> set[str]:
    import sys

    return {lib for lib in _LIBRARIES if lib in sys.modules}


def uninstrument_all() -> None:
    """Undo :func:`instrument_all`; a library imported later is no longer instrumented. Never raises."""
    global _wanted
    with _lock:
        _wanted = False
        done = list(_done)
        _done.clear()
    for library in done:
        try:
            instrumentor = _instrumentor(library)
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()
        except Exception:
            logger.debug("agentops_otel: could not uninstrument %s", library, exc_info=True)


def instrumented() -> list[str]:
    """The libraries instrumented by :func:`instrument_all`."""
    with _lock:
        return sorted(_done)
