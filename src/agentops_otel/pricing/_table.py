"""Model prices from Pydantic's ``genai-prices`` data, as plain data we can match in microseconds.

``genai-prices`` (MIT, kept current by Pydantic; Logfire prices calls with it) describes each provider's
models with match clauses (``equals``, ``starts_with``, ``contains``, ``regex``, ``or``, ``and``), prices
per million tokens (some tiered by prompt size, some changing on a start date) and fallback providers
(Azure serves OpenAI's models). Its own ``calc_price`` costs ~0.5 ms a call and importing its data
~0.7 s, too slow for the end of every LLM span; so this module turns that data into a :class:`Table` of
plain dicts once, and matches model ids against the same clauses itself.

Two sources, one format:

- ``prices.json``, generated from genai-prices by ``python -m agentops_otel.pricing._table`` (never
  edited by hand) and shipped with the package; read at the first lookup (a few ms);
- the installed ``genai-prices`` when its version differs from the one ``prices.json`` was made
  from: converted in a background thread (never on the caller's), then used from the next lookup on.

Only token prices are used (input, output, cache read, cache write); per-request, audio, image and
search prices, and service-tier variants, are not. Nothing here touches the network: genai-prices can
fetch new data (``UpdatePrices``), which this package never starts.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

#: genai-prices' price keys -> ours (USD per million tokens).
PRICE_KEYS = {
    "input_mtok": "input",
    "output_mtok": "output",
    "cache_read_mtok": "cached_input",
    "cache_write_mtok": "cache_write",
}

#: The providers priced, by genai-prices id. Others (audio, search, hubs) are left out of prices.json.
PROVIDERS = (
    "openai",
    "anthropic",
    "google",
    "azure",
    "aws",
    "groq",
    "deepseek",
    "mistral",
    "together",
    "openrouter",
    "x-ai",
    "cohere",
    "perplexity",
    "fireworks",
    "cerebras",
    "moonshotai",
)

Price = dict[str, Any]
Clause = Any  # a JSON clause: {"equals": s} | {"starts_with": s} | ... | {"or": [...]} | {"and": [...]}

# genai-prices retries "gpt-5.2-20251211" as "gpt-5.2-2025-12-11" (LiteLLM and OpenRouter write the former).
_COMPACT_DATE = re.compile(r"^(.*-)(\d{4})(\d{2})(\d{2})$")


def matches(clause: Clause, ref: str) -> bool:
    """Whether the lower-case model id ``ref`` satisfies a genai-prices match clause."""
    if "equals" in clause:
        return bool(ref == clause["equals"])
    if "starts_with" in clause:
        return ref.startswith(clause["starts_with"])
    if "contains" in clause:
        return bool(clause["contains"] in ref)
    if "ends_with" in clause:
        return ref.endswith(clause["ends_with"])
    if "regex" in clause:
        return re.search(clause["regex"], ref) is not None
    if "or" in clause:
        return any(matches(c, ref) for c in clause["or"])
    if "and" in clause:
        return all(matches(c, ref) for c in clause["and"])
    return False


class Table:
    """Providers -> models (match clause and prices), with the providers each falls back to."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = str(data.get("genai_prices_version", ""))
        self.providers: dict[str, dict[str, Any]] = dict(data.get("providers", {}))

    def find(self, provider: str | None, model: str, today: _dt.date | None = None) -> Price | None:
        """Prices of ``model`` at ``provider`` (a genai-prices id), or None; ``provider`` None: the first
        provider whose models match. Slow-ish (a scan): callers cache the answer."""
        ref = model.strip().lower()
        if not ref:
            return None
        if provider is None:  # as genai-prices does: the provider whose model_match fits the id
            fits = (p for p, d in self.providers.items() if matches(d.get("model_match", {}), ref))
            provider = next(fits, None)
            if provider is None:
                return None
        for pid in (provider,):
            entry = self._model(pid, ref)
            if entry is None:
                compact = _COMPACT_DATE.match(ref)
                if compact is not None:
                    entry = self._model(pid, "{}{}-{}-{}".format(*compact.groups()))
            if entry is not None:
                return _current(entry, today or _dt.date.today())
        return None

    def _model(self, pid: str, ref: str, fallback: bool = True) -> Mapping[str, Any] | None:
        found = self.providers.get(pid)
        if found is None:
            return None
        for entry in found.get("models", ()):
            if matches(entry["match"], ref):
                return entry  # type: ignore[no-any-return]
        if fallback:
            for other in found.get("fallback", ()):
                entry = self._model(other, ref, fallback=False)
                if entry is not None:
                    return entry
        return None


def _current(entry: Mapping[str, Any], today: _dt.date) -> Price | None:
    """The model's prices in force today: the last dated price whose start date has passed."""
    chosen = entry.get("prices")
    for dated in entry.get("dated", ()):
        if _dt.date.fromisoformat(dated["from"]) <= today:
            chosen = dated["prices"]
    if not chosen or "input" not in chosen:
        return None
    return {"output": 0.0, **chosen}  # embeddings have an input price only


def shipped() -> Table:
    """The table in ``prices.json``."""
    text = resources.files(__package__ or "agentops_otel.pricing").joinpath("prices.json").read_text("utf-8")
    return Table(json.loads(text))


def installed_version() -> str | None:
    """The installed genai-prices version (package metadata only: nothing of it is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("genai-prices")
    except PackageNotFoundError:
        return None


# -- conversion of genai-prices' data ------------------------------------------------------------------


def _clause(logic: Any) -> Clause:
    name = type(logic).__name__
    if name == "ClauseOr":
        return {"or": [_clause(c) for c in logic.or_]}
    if name == "ClauseAnd":
        return {"and": [_clause(c) for c in logic.and_]}
    for attr in ("equals", "starts_with", "ends_with", "contains"):
        if hasattr(logic, attr):
            return {attr: str(getattr(logic, attr)).lower()}
    if hasattr(logic, "regex"):
        return {"regex": str(logic.regex)}
    raise ValueError(f"unknown genai-prices clause {name}")


def _number(value: Any) -> Any:
    """A Decimal as a float; tiered prices as ``{"base": x, "tiers": [[start, price], ...]}``."""
    tiers = getattr(value, "tiers", None)
    if tiers is not None:
        return {"base": float(value.base), "tiers": [[int(t.start), float(t.price)] for t in tiers]}
    return float(value)


def _prices(model_price: Any) -> Price:
    out: Price = {}
    for key, ours in PRICE_KEYS.items():
        value = getattr(model_price, key, None)
        if value is not None:
            out[ours] = _number(value)
    return out


def _model_entry(model: Any) -> dict[str, Any] | None:
    entry: dict[str, Any] = {"id": model.id, "match": _clause(model.match)}
    prices = model.prices
    if isinstance(prices, list):  # conditional prices: keep the base and those from a start date
        entry["prices"] = _prices(prices[0].prices)
        dated = []
        for conditional in prices[1:]:
            start = getattr(conditional.constraint, "start_date", None)
            if start is not None:
                dated.append({"from": start.isoformat(), "prices": _prices(conditional.prices)})
        if dated:
            entry["dated"] = dated
    else:
        entry["prices"] = _prices(prices)
    if "input" not in entry["prices"] and not entry.get("dated"):
        return None  # not priced by the token
    return entry


def from_genai_prices(
    providers: Iterable[Any] | None = None, only: Iterable[str] | None = None
) -> dict[str, Any]:
    """Our table's data from genai-prices' providers (default: its bundled snapshot); ``only`` limits it
    to those provider ids. Imports genai-prices: ~0.7 s, so never on a caller's thread."""
    import genai_prices
    from genai_prices import data_snapshot

    if providers is None:
        providers = data_snapshot.get_snapshot().providers
    wanted = set(only) if only is not None else None
    out: dict[str, Any] = {}
    for provider in providers:
        if wanted is not None and provider.id not in wanted:
            continue
        models = [e for e in (_model_entry(m) for m in provider.models) if e is not None]
        entry: dict[str, Any] = {"models": models, "fallback": list(provider.fallback_model_providers or ())}
        if provider.model_match is not None:
            entry["model_match"] = _clause(provider.model_match)
        out[provider.id] = entry
    return {
        "source": "genai-prices (https://github.com/pydantic/genai-prices), generated by "
        "python -m agentops_otel.pricing._table; do not edit",
        "genai_prices_version": genai_prices.__version__,
        "generated": _dt.date.today().isoformat(),
        "unit": "USD per 1,000,000 tokens",
        "providers": out,
    }


def _main() -> None:  # pragma: no cover - run by hand to refresh prices.json
    from pathlib import Path

    data = from_genai_prices(only=PROVIDERS)
    path = Path(__file__).with_name("prices.json")
    path.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
    count = sum(len(p["models"]) for p in data["providers"].values())
    version = data["genai_prices_version"]
    print(f"{path}: {count} models of {len(data['providers'])} providers, genai-prices {version}")


if __name__ == "__main__":  # pragma: no cover
    _main()
