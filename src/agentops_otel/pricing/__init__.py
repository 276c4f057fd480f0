"""Model prices and the cost of one LLM call.

Prices are USD per million tokens, from ``prices.json`` (shipped with the package, with its source and
date), overridden by ``Configuration.pricing`` and by :func:`set_prices`. A model id matches the
price-table key that is the id itself or the id without a date or version suffix (so
``gpt-4o-2024-08-06`` is priced as ``gpt-4o``, ``claude-sonnet-4-20250514`` as ``claude-sonnet-4``).
Other suffixes (``-realtime-preview``, ``-deep-research``, ...) name differently priced models and
do not match. A model that matches nothing has no cost: never a guessed one.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any

from agentops_otel import _runtime

__all__ = ["Price", "cost_usd", "price_of", "set_prices", "shipped_prices"]

logger = logging.getLogger("agentops_otel.pricing")

Price = dict[str, float]
_KEYS = ("input", "output", "cached_input", "cache_write")
# What may follow a price-table key in a model id: a snapshot date or number, "-latest", a version.
_SNAPSHOT = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|-latest|@\d{8})?(?:-v\d+(?::\d+)?)?")

_lock = threading.Lock()
_shipped: dict[str, Price] | None = None
_explicit: dict[str, Price] = {}
# Resolved prices per model id, valid for one (config pricing, explicit) pair.
_cache: dict[str, Price | None] = {}
_cache_key: tuple[int, int] = (0, 0)
_explicit_version = 0


def _clean(table: Mapping[str, Any], origin: str) -> dict[str, Price]:
    out: dict[str, Price] = {}
    for model, entry in table.items():
        if not isinstance(model, str) or not isinstance(entry, Mapping):
            logger.debug("agentops_otel: ignoring price entry %r from %s", model, origin)
            continue
        price: Price = {}
        for key in _KEYS:
            value = entry.get(key)
            if value is None:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = -1.0
            if number < 0 or number != number:
                logger.warning(
                    "agentops_otel: ignoring bad %s price %r of %r (%s)", key, value, model, origin
                )
                continue
            price[key] = number
        if "input" in price and "output" in price:
            out[model.lower()] = price
        else:
            logger.warning("agentops_otel: price of %r (%s) needs input and output; ignored", model, origin)
    return out


def shipped_prices() -> dict[str, Price]:
    """The table shipped in ``prices.json`` (model -> prices), read once."""
    global _shipped
    if _shipped is None:
        text = resources.files(__name__).joinpath("prices.json").read_text(encoding="utf-8")
        _shipped = _clean(json.loads(text)["models"], "prices.json")
    return _shipped


def set_prices(prices: Mapping[str, Mapping[str, float]] | None) -> None:
    """Add or override prices (USD per million tokens) for this process; ``None`` clears them.

    Wins over the shipped table and over ``Configuration.pricing``.
    """
    global _explicit, _explicit_version
    with _lock:
        _explicit = _clean(prices or {}, "set_prices")
        _explicit_version += 1
        _cache.clear()


def _lookup(table: Mapping[str, Price], model: str) -> Price | None:
    price = table.get(model)
    if price is not None:
        return price
    # Longest key the id starts with, followed only by a snapshot suffix.
    best: str | None = None
    for key in table:
        if (
            model.startswith(key)
            and (best is None or len(key) > len(best))
            and _SNAPSHOT.fullmatch(model, len(key)) is not None
        ):
            best = key
    return table[best] if best is not None else None


def price_of(model: str | None) -> Price | None:
    """Prices of ``model``, or None when unknown."""
    global _cache_key
    if not model:
        return None
    model = model.strip().lower()
    configured = _runtime.config().pricing
    key = (id(configured), _explicit_version)
    if key != _cache_key:
        with _lock:
            _cache.clear()
            _cache_key = key
    try:
        return _cache[model]
    except KeyError:
        pass
    price = None
    for table in (_explicit, _clean(configured, "Configuration.pricing") if configured else {}):
        price = _lookup(table, model)
        if price is not None:
            break
    if price is None:
        price = _lookup(shipped_prices(), model)
    if len(_cache) < 4096:
        _cache[model] = price
    return price


def cost_usd(
    model: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_input_tokens: int | None = 0,
    cache_write_input_tokens: int | None = 0,
) -> float | None:
    """Cost in USD of one call, or None when the model's price is unknown.

    ``input_tokens`` counts every input token, cached ones included (the GenAI convention);
    ``cached_input_tokens`` (cache reads) and ``cache_write_input_tokens`` are the parts of it priced
    differently. Missing cached prices fall back to the input price.
    """
    price = price_of(model)
    if price is None or (input_tokens is None and output_tokens is None):
        return None
    inp = max(int(input_tokens or 0), 0)
    out = max(int(output_tokens or 0), 0)
    cached = min(max(int(cached_input_tokens or 0), 0), inp)
    written = min(max(int(cache_write_input_tokens or 0), 0), inp - cached)
    in_price = price["input"]
    total = (
        (inp - cached - written) * in_price
        + cached * price.get("cached_input", in_price)
        + written * price.get("cache_write", in_price)
        + out * price["output"]
    )
    return total / 1_000_000
