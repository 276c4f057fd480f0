"""The ``BaseInstrumentor`` face of a :class:`~._patching.Patcher` (for ``opentelemetry-instrument``).

Kept apart from the patching itself: importing ``opentelemetry.instrumentation.instrumentor`` costs
tens of milliseconds (it loads ``packaging``), which ``init()`` must not pay.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from agentops_otel.instrumentation._patching import Patcher


class PatcherInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments through the library's shared patcher, so this instrumentor and ``instrument_all``
    see one state: whichever switched it on, either can switch it off."""

    _patcher: Patcher

    @property
    def _is_instrumented_by_opentelemetry(self) -> bool:
        return self._patcher.active

    @_is_instrumented_by_opentelemetry.setter
    def _is_instrumented_by_opentelemetry(self, value: bool) -> None:
        pass  # the patcher's own flag is the state

    def _instrument(self, **kwargs: Any) -> None:
        self._patcher.instrument(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))

    def _uninstrument(self, **kwargs: Any) -> None:
        self._patcher.uninstrument()
