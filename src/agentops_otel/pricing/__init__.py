"""Model prices and the cost of one LLM call.

Prices (USD per million tokens) come from Pydantic's maintained ``genai-prices`` data (see ``_table``):
the snapshot shipped as ``prices.json``, or the installed ``genai-prices`` package when it is a
different version (loaded in a background thread). On top of them, ``Configuration.pricing`` and then
:func:`set_prices` add or override prices; their keys match a model id itself or the id with a date or
version suffix (``my-model-2025-01-01`` is priced as ``my-model``). A model that matches nothing has no
cost: never a guessed one.

Prices depend on the provider: ``cost_usd(..., provider=...)`` takes the span's ``gen_ai.provider.name``
(mapped to genai-prices' ids by :data:`PROVIDER_IDS`); self-hosted servers (Ollama, vLLM) have no cost.

The hot path is one dict lookup per call: the answer for a (provider, model) pair is cached after the
first call (that first lookup scans the table: tens of microseconds). Nothing here does network I/O.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from agentops_otel import _daemon, _runtime
from agentops_otel.pricing import _table

__all__ = ["PROVIDER_IDS", "Price", "call_cost", "cost_usd", "price_of", "set_prices", "source", "warm_up"]

logger = logging.getLogger("agentops_otel.pricing")

Price = dict[str, Any]
_KEYS = ("input", "output", "cached_input", "cache_write")
# What may follow an override's key in a model id: a snapshot date or number, "-latest", a version.
_SNAPSHOT = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4}|-latest|@\d{8})?(?:-v\d+(?::\d+)?)?")

#: ``gen_ai.provider.name`` values -> genai-prices provider ids. None: no cost (self-hosted).
PROVIDER_IDS: dict[str, str | None] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "aws.bedrock": "aws",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "together_ai": "together",
    "openrouter": "openrouter",
    "fireworks_ai": "fireworks",
    "cerebras": "cerebras",
    "moonshot_ai": "moonshotai",
    "ollama": None,
    "vllm": None,
}

_lock = threading.Lock()
_table_now: _table.Table | None = None
_origin = "prices.json"
_loading: threading.Thread | None = None
_explicit: dict[str, Price] = {}
#: A price as four plain floats (input, cache read, cache write, output), where none is tiered: the
#: cost of a call after a model's first is then one dict hit and arithmetic.
_Flat = tuple[float, float, float, float]
# Resolved (price, flat price or None when tiered) per (provider, model). Emptied, and the generation
# bumped, whenever the explicit prices or the table change, or the configured prices are not the ones
# it was filled for (held, so that a reused id cannot hide a change).
_cache: dict[tuple[str | None, str], tuple[Price | None, _Flat | None]] = {}
_generation = 0
_seen_config: Any = None
_UNPRICED: tuple[None, None] = (None, None)


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


def set_prices(prices: Mapping[str, Mapping[str, float]] | None) -> None:
    """Add or override prices (USD per million tokens) for this process; ``None`` clears them.

    Wins over the maintained table and over ``Configuration.pricing``.
    """
    global _explicit
    cleaned = _clean(prices or {}, "set_prices")
    with _lock:
        _explicit = cleaned
        _empty_cache()


def _override(table: Mapping[str, Price], model: str) -> Price | None:
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


# -- the maintained table ------------------------------------------------------------------------------


def _load_installed() -> None:
    """Background thread: the installed genai-prices, when it is not the version prices.json came from."""
    global _table_now, _origin
    try:
        table = _shipped_table()
        installed = _table.installed_version()
        if installed is None or installed == table.version:
            return
        newer = _table.Table(_table.from_genai_prices(only=_table.PROVIDERS))
        with _lock:
            _table_now = newer
            _origin = "installed package"
            _empty_cache()
        logger.debug("agentops_otel: prices from genai-prices %s", installed)
    except Exception:
        logger.debug("agentops_otel: could not read genai-prices; using prices.json", exc_info=True)


def _shipped_table() -> _table.Table:
    global _table_now
    table = _table_now
    if table is None:
        with _lock:
            table = _table_now
            if table is None:
                table = _table_now = _table.shipped()
    return table


def warm_up() -> None:
    """Read the price table in a background thread (done once; called when an LLM SDK is imported),
    so no LLM call ever waits for it. Never raises."""
    global _loading
    try:
        with _lock:
            if _loading is not None:
                return
            _loading = _daemon.thread(_load_installed, "agentops-prices")
        _loading.start()
    except Exception:
        logger.debug("agentops_otel: could not start loading prices", exc_info=True)


def source() -> str:
    """Where the maintained prices come from now, e.g. ``"genai-prices 0.2.3 (prices.json)"``."""
    table = _shipped_table()
    return f"genai-prices {table.version} ({_origin})"


# -- lookups -------------------------------------------------------------------------------------------


def price_of(model: str | None, provider: str | None = None) -> Price | None:
    """Prices of ``model`` (served by ``provider``, a ``gen_ai.provider.name``), or None when unknown."""
    if not model:
        return None
    return _entry(model, provider)[0]


def _empty_cache() -> None:
    """Called holding ``_lock``."""
    global _generation
    _cache.clear()
    _generation += 1


def _entry(model: str, provider: str | None) -> tuple[Price | None, _Flat | None]:
    """The cached (price, flat price) of a (provider, model) pair."""
    global _seen_config
    generation = _generation  # before the configured prices: a change after this is seen below
    configured = _runtime.config().pricing
    if configured is not _seen_config:
        with _lock:
            _empty_cache()
            _seen_config = configured
            generation = _generation
    try:
        return _cache[(provider, model)]
    except KeyError:
        pass
    price = _resolve(model.strip().lower(), provider, configured)
    entry = (price, _flatten(price) if price is not None else None)
    with _lock:
        # Not kept when prices changed while it was resolved: it could be of the old ones.
        if generation == _generation and len(_cache) < 4096:
            _cache[(provider, model)] = entry
    return entry


def _resolve(model: str, provider: str | None, configured: Mapping[str, Any]) -> Price | None:
    for overrides in (_explicit, _clean(configured, "Configuration.pricing") if configured else {}):
        price = _override(overrides, model)
        if price is not None:
            return price
    if provider is not None and provider in PROVIDER_IDS:
        pid = PROVIDER_IDS[provider]
        if pid is None:
            return None  # self-hosted: no cost
    else:
        # An unknown provider name is tried as a genai-prices id; no provider: genai-prices' own guess.
        pid = provider
    try:
        return _shipped_table().find(pid, model)
    except Exception:
        logger.debug("agentops_otel: price lookup failed for %r", model, exc_info=True)
        return None


def _at(price: Any, total_input: int) -> float:
    """A per-million price, or the tier of a tiered one that ``total_input`` tokens reach."""
    if isinstance(price, dict):
        chosen = float(price["base"])
        for start, tier_price in price.get("tiers", ()):
            if total_input > start:
                chosen = float(tier_price)
        return chosen
    return float(price)


def _flatten(price: Price) -> _Flat | None:
    """``price`` as (input, cache read, cache write, output) floats, or None when a price is tiered."""
    values = [price.get("input"), price.get("cached_input"), price.get("cache_write"), price.get("output")]
    if any(isinstance(v, dict) for v in values):
        return None
    inp, cached, written, out = values
    in_price = float(inp)  # type: ignore[arg-type]
    return (
        in_price,
        in_price if cached is None else float(cached),
        in_price if written is None else float(written),
        float(out),  # type: ignore[arg-type]
    )


def cost_usd(
    model: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cached_input_tokens: int | None = 0,
    cache_write_input_tokens: int | None = 0,
    provider: str | None = None,
) -> float | None:
    """Cost in USD of one call, or None when the model's price is unknown.

    ``input_tokens`` counts every input token, cached ones included (the GenAI convention);
    ``cached_input_tokens`` (cache reads) and ``cache_write_input_tokens`` are the parts of it priced
    differently. Missing cached prices fall back to the input price. Tiered prices (by prompt size)
    apply the tier the input reaches to all tokens, as genai-prices does.
    """
    if not model or (input_tokens is None and output_tokens is None):
        return None
    price, flat = _entry(model, provider)
    if price is None:
        return None
    inp = max(int(input_tokens or 0), 0)
    out = max(int(output_tokens or 0), 0)
    cached = min(max(int(cached_input_tokens or 0), 0), inp)
    written = min(max(int(cache_write_input_tokens or 0), 0), inp - cached)
    return _priced(price, flat, inp, out, cached, written)


def call_cost(
    response_model: str | None,
    request_model: str,
    provider: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    cache_write_input_tokens: int,
) -> float | None:
    """:func:`cost_usd` of one recorded call: priced by the response's model (a dated snapshot), else by
    the requested one. The counts are ints as the instrumentation records them; the clamping of
    ``cost_usd`` (a few builtin calls per count, most of a call's pricing) runs only when one is out of
    range."""
    model = response_model
    price, flat = _entry(model, provider) if model else _UNPRICED
    if price is None:
        model = request_model
        if not model:
            return None
        price, flat = _entry(model, provider)
        if price is None:
            return None
    inp, cached, written = input_tokens, cached_input_tokens, cache_write_input_tokens
    # Any count negative: their bitwise or is (one comparison for the four).
    if (inp | output_tokens | cached | written) < 0 or cached + written > inp:
        return cost_usd(model, inp, output_tokens, cached, written, provider)
    return _priced(price, flat, inp, output_tokens, cached, written)


def _priced(price: Price, flat: _Flat | None, inp: int, out: int, cached: int, written: int) -> float:
    if flat is not None:
        in_p, cached_p, write_p, out_p = flat
        return ((inp - cached - written) * in_p + cached * cached_p + written * write_p + out * out_p) / 1e6
    in_price = _at(price["input"], inp)
    cached_price = price.get("cached_input")
    write_price = price.get("cache_write")
    total = (
        (inp - cached - written) * in_price
        + cached * (in_price if cached_price is None else _at(cached_price, inp))
        + written * (in_price if write_price is None else _at(write_price, inp))
        + out * _at(price["output"], inp)
    )
    return total / 1_000_000
