"""Units and formats shared by the CLI and the dashboard: durations, costs, token counts, bytes.

The rules are written as integer arithmetic on IEEE doubles (``floor(x * k + 0.5)``), so the Python
here and the dashboard's JavaScript give the same text for the same number: no language's own rounding
of ties (Python rounds half to even, JavaScript's ``toFixed`` half up) is involved. The cases both run
are in ``agentops_otel/backend/ui/format_cases.json``; a change here changes them too.

- A missing value (None, NaN, infinite, negative) is ``-``.
- Durations: ``0 ms``, ``4.20 ms``, ``216 ms``, ``4.21 s``, ``42.3 s``, ``1m 15s``, ``2h 05m``, ``3d 04h``.
  Each step is chosen by the rounded value, so 59.99 s is ``1m 00s``, never ``60.0 s``.
- Costs: ``$0`` is a known zero (a free model); ``unknown`` is a price nobody knows (no cost attribute
  on a call that used tokens, or did not fail); a failed call that used none has nothing to price: ``-``;
  ``$12.34`` from $1 up, four decimals down to a cent, two significant digits below
  (``$0.0019``, ``$0.00019``), ``<$0.000001`` below that.
- Counts (tokens): ``32,800``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from agentops_otel.store.calls import is_unpriced

MISSING = "-"
UNKNOWN = "unknown"

# gen_ai.operation.name values that make a span without our kind an LLM call (SPEC.md section 5).
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "completion"})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    if math.isnan(number) or math.isinf(number) or number < 0:
        return None
    return number


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def _pad(number: int, digits: int) -> str:
    return str(number).rjust(digits, "0")


def duration(seconds: Any) -> str:
    """A duration in seconds as the dashboard shows it (``1m 15s``)."""
    x = _number(seconds)
    if x is None:
        return MISSING
    if x == 0:
        return "0 ms"
    hundredths_ms = _round(x * 1e5)
    if hundredths_ms < 1000:
        return f"{hundredths_ms // 100}.{_pad(hundredths_ms % 100, 2)} ms"
    ms = _round(x * 1e3)
    if ms < 1000:
        return f"{ms} ms"
    centis = _round(x * 1e2)
    if centis < 1000:
        return f"{centis // 100}.{_pad(centis % 100, 2)} s"
    tenths = _round(x * 10)
    if tenths < 600:
        return f"{tenths // 10}.{tenths % 10} s"
    secs = _round(x)
    if secs < 3600:
        return f"{secs // 60}m {_pad(secs % 60, 2)}s"
    minutes = _round(x / 60)
    if minutes < 1440:
        return f"{minutes // 60}h {_pad(minutes % 60, 2)}m"
    hours = _round(x / 3600)
    return f"{hours // 24}d {_pad(hours % 24, 2)}h"


def count(value: Any) -> str:
    """A whole count with thousands separators (``32,800``)."""
    x = _number(value)
    if x is None:
        return MISSING
    return f"{_round(x):,}"


tokens = count


def cost(usd: Any) -> str:
    """A cost in US dollars; None means the price is unknown."""
    if usd is None:
        return UNKNOWN
    x = _number(usd)
    if x is None:
        return MISSING
    if x == 0:
        return "$0"
    cents = _round(x * 100)
    if cents >= 100:
        return f"${cents // 100:,}.{_pad(cents % 100, 2)}"
    tenth_mils = _round(x * 1e4)
    if tenth_mils >= 100:
        return f"$0.{_pad(tenth_mils, 4)}"
    # Two significant digits: the first scale at which the rounded value has two digits.
    for digits, scale in ((4, 1e4), (5, 1e5), (6, 1e6), (7, 1e7)):
        n = _round(x * scale)
        if n >= 10:
            return f"$0.{_pad(n, digits)}"
    return "<$0.000001"


def bytes_(value: Any) -> str:
    """A size in bytes with binary units (``23.5 GiB``)."""
    x = _number(value)
    if x is None:
        return MISSING
    n = _round(x)
    if n < 1024:
        return f"{n} B"
    units = ("KiB", "MiB", "GiB", "TiB", "PiB")
    unit = 0
    tenths = _round(n / 1024 * 10)
    while tenths >= 10240 and unit < len(units) - 1:  # 1024.0 of a unit is 1.0 of the next
        unit += 1
        tenths = _round(n / 1024 ** (unit + 1) * 10)
    return f"{tenths // 10}.{tenths % 10} {units[unit]}"


def session_cost(session: Mapping[str, Any]) -> str:
    """A session's cost. ``unpriced_llm_calls``, where known (the CLI counts it from the spans), says
    how many LLM calls had no price. Where it is not known (a session list), the rule is: no LLM call
    and no cost is ``-``; LLM calls and a cost of 0 is ``unknown`` (a call whose price is known to be
    0, a free model, is rare; a price table that lacks the model is not); a cost above 0 is shown."""
    usd = _number(session.get("cost_usd"))
    calls = _number(session.get("llm_calls")) or 0
    unpriced = _number(session.get("unpriced_llm_calls"))
    if unpriced is None:
        if not usd:
            return UNKNOWN if calls else MISSING
        return cost(usd)
    if calls == 0 and not usd:
        return MISSING
    if unpriced == 0:
        return cost(usd or 0.0)
    if unpriced >= calls and not usd:
        return UNKNOWN
    return f"{cost(usd or 0.0)} + {UNKNOWN}"


def span_cost(span: Mapping[str, Any]) -> str:
    """One span's cost: its ``cost_usd``; for an LLM call (``llm`` true) without one, ``unknown`` when
    the session's figure counts it as unpriced (``store.calls.is_unpriced``: it used tokens, or did not
    fail, by ``status``), else ``-`` (a failed call that used no ``input_tokens``/``output_tokens``)."""
    value = span.get("cost_usd")
    if _number(value) is not None:
        return cost(value)
    if not span.get("llm"):
        return MISSING
    used = [int(_number(span.get(key)) or 0) for key in ("input_tokens", "output_tokens")]
    return UNKNOWN if is_unpriced(None, span.get("status") == "ERROR", *used) else MISSING


def short_id(value: Any) -> str:
    """The first 8 characters of an id, as the dashboard shows it (enough for ``sessions show``)."""
    return str(value)[:8] if value else MISSING
