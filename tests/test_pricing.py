"""Prices from the maintained genai-prices data, the user's overrides on top, and the cost of a call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest

from agentops_otel import _runtime, pricing
from agentops_otel.pricing import _table, cost_usd, price_of, set_prices
from core_helpers import REPO


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    previous = _runtime.config()
    set_prices(None)
    yield
    set_prices(None)
    _runtime.set_config(previous)


def test_shipped_table_is_generated_from_genai_prices() -> None:
    data = json.loads(resources.files("agentops_otel.pricing").joinpath("prices.json").read_text())
    assert data["source"].startswith("genai-prices")
    assert data["genai_prices_version"] and len(data["generated"]) == 10
    assert set(data["providers"]) == set(_table.PROVIDERS)
    models = {m["id"] for m in data["providers"]["openai"]["models"]}
    assert {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "gpt-5", "text-embedding-3-small"} <= models
    claude = {m["id"] for m in data["providers"]["anthropic"]["models"]}
    assert {"claude-sonnet-4-20250514", "claude-3-5-haiku", "claude-haiku-4-5"} & claude


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("openai", "gpt-4o-2024-08-06", {"input": 2.5, "output": 10.0, "cached_input": 1.25}),
        ("openai", "GPT-4o-mini", {"input": 0.15, "output": 0.6, "cached_input": 0.075}),
        ("openai", "gpt-4o-mini-2024-07-18", {"input": 0.15, "output": 0.6, "cached_input": 0.075}),
        ("openai", "text-embedding-3-small", {"input": 0.02, "output": 0.0}),
        (
            None,
            "claude-sonnet-4-20250514",
            {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75},
        ),
        (
            "anthropic",
            "claude-3-5-haiku-20241022",
            {"input": 0.8, "output": 4.0, "cached_input": 0.08, "cache_write": 1.0},
        ),
        # Azure serves OpenAI's models at OpenAI's prices (genai-prices' fallback providers).
        ("azure.ai.openai", "gpt-4o", {"input": 2.5, "output": 10.0, "cached_input": 1.25}),
        ("groq", "llama-3.3-70b-versatile", {"input": 0.59, "output": 0.79}),
    ],
)
def test_maintained_prices_by_provider(provider: str | None, model: str, expected: dict[str, float]) -> None:
    assert price_of(model, provider) == expected


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("my-model", "openai"),
        ("", "openai"),
        (None, "openai"),
        ("claude", None),
        # Self-hosted servers cost nothing we could know.
        ("llama3.1:8b", "ollama"),
        ("gpt-4o", "ollama"),
        ("meta-llama/Llama-3.1-8B-Instruct", "vllm"),
        # A provider that does not serve the model.
        ("claude-sonnet-4-20250514", "groq"),
    ],
)
def test_unknown_models_have_no_cost(model: str | None, provider: str | None) -> None:
    assert price_of(model, provider) is None
    assert cost_usd(model, 100, 100, provider=provider) is None


def _installed_table() -> tuple[Any, _table.Table]:
    genai_prices = pytest.importorskip("genai_prices")
    from genai_prices import data_snapshot

    providers = data_snapshot.get_snapshot().providers
    return genai_prices, _table.Table(_table.from_genai_prices(providers, only=_table.PROVIDERS))


def test_our_table_prices_every_model_as_genai_prices_does() -> None:
    """The conversion and the clause matching, checked model by model against genai-prices' calc_price."""
    genai_prices, table = _installed_table()
    from genai_prices import data_snapshot

    checked = 0
    usage = {"input_tokens": 300_000, "cache_read_tokens": 40_000, "output_tokens": 120_000}
    for provider in data_snapshot.get_snapshot().providers:
        if provider.id not in ("openai", "anthropic", "google", "groq", "mistral", "deepseek", "together"):
            continue
        for model in provider.models:
            conditional = isinstance(model.prices, list)
            if conditional and any(
                c.constraint is not None and not hasattr(c.constraint, "start_date") for c in model.prices
            ):
                continue  # time-of-day prices (off-peak discounts) are not used
            ours = table.find(provider.id, model.id)
            if ours is None:
                continue  # not priced by the token
            try:
                theirs = genai_prices.calc_price(
                    genai_prices.Usage(**usage), model.id, provider_id=provider.id
                )
            except Exception:
                continue
            if theirs.model.id != model.id:
                continue  # an earlier model's clause claims this id in genai-prices too
            price = pricing._at(ours["input"], 1)
            cost = (
                (usage["input_tokens"] - usage["cache_read_tokens"])
                * pricing._at(ours["input"], usage["input_tokens"])
                + usage["cache_read_tokens"]
                * pricing._at(ours.get("cached_input", ours["input"]), usage["input_tokens"])
                + usage["output_tokens"] * pricing._at(ours["output"], usage["input_tokens"])
            ) / 1e6
            assert price >= 0
            assert cost == pytest.approx(float(theirs.total_price), rel=1e-9, abs=1e-12), (
                provider.id,
                model.id,
            )
            checked += 1
    assert checked > 200


def test_tiered_prices_use_the_tier_the_prompt_reaches() -> None:
    table = _table.shipped()
    tiered = next(
        (pid, m)
        for pid, p in table.providers.items()
        for m in p["models"]
        if isinstance(m["prices"].get("input"), dict) and m["prices"]["input"].get("tiers")
    )
    pid, model = tiered
    base = model["prices"]["input"]["base"]
    start, high = model["prices"]["input"]["tiers"][0]
    provider = next(k for k, v in pricing.PROVIDER_IDS.items() if v == pid)
    small = cost_usd(model["id"], 1000, 0, provider=provider)
    large = cost_usd(model["id"], start + 1, 0, provider=provider)
    assert small == pytest.approx(1000 * base / 1e6)
    assert large == pytest.approx((start + 1) * high / 1e6)


def test_cost_formula() -> None:
    # gpt-4o: 2.50 input, 1.25 cached input, 10.00 output per million.
    assert cost_usd("gpt-4o", 1_000_000, 0, provider="openai") == pytest.approx(2.5)
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000, 400_000, provider="openai") == pytest.approx(
        0.6 * 2.5 + 0.4 * 1.25 + 10.0
    )
    # Anthropic cache writes at their own price; more cached than input is clamped.
    assert cost_usd("claude-sonnet-4-20250514", 100, 0, 0, 100) == pytest.approx(100 * 3.75 / 1e6)
    assert cost_usd("gpt-4o", 10, 0, cached_input_tokens=50, provider="openai") == pytest.approx(
        10 * 1.25 / 1e6
    )
    assert cost_usd("gpt-4o", None, None, provider="openai") is None


@pytest.mark.parametrize(
    ("response_model", "request_model", "provider", "counts"),
    [
        ("gpt-4o-2024-11-20", "gpt-4o", "openai", (1200, 300, 200, 0)),
        (None, "gpt-4o", "openai", (1200, 300, 0, 0)),
        ("no-such-snapshot", "gpt-4o-mini", "openai", (10, 5, 0, 0)),  # the requested model's price
        ("claude-sonnet-4-20250514", "claude-sonnet-4", "anthropic", (100, 10, 20, 30)),
        ("gpt-4o", "gpt-4o", "openai", (10, 0, 50, 0)),  # more cached than input: clamped
        ("gpt-4o", "gpt-4o", "openai", (-5, 7, 0, 0)),  # a negative count: clamped
        ("no-such-model", "", "openai", (10, 5, 0, 0)),
        ("llama3.1:8b", "llama3.1:8b", "ollama", (10, 5, 0, 0)),
    ],
)
def test_call_cost_is_cost_usd_of_the_model_that_has_a_price(
    response_model: str | None, request_model: str, provider: str, counts: tuple[int, int, int, int]
) -> None:
    expected = cost_usd(response_model, *counts, provider=provider) if response_model else None
    if expected is None:
        expected = cost_usd(request_model, *counts, provider=provider)
    assert pricing.call_cost(response_model, request_model, provider, *counts) == expected


def test_call_cost_of_a_tiered_price() -> None:
    set_prices({"tiered-model": {"input": 1.0, "output": 2.0}})
    flat = pricing.call_cost("tiered-model", "", "openai", 1000, 10, 0, 0)
    assert flat == cost_usd("tiered-model", 1000, 10, provider="openai") == pytest.approx((1000 + 20) / 1e6)
    table = _table.shipped()
    pid, model = next(
        (pid, m)
        for pid, p in table.providers.items()
        for m in p["models"]
        if isinstance(m["prices"].get("input"), dict) and m["prices"]["input"].get("tiers")
    )
    provider = next(k for k, v in pricing.PROVIDER_IDS.items() if v == pid)
    start = model["prices"]["input"]["tiers"][0][0]
    for tokens in (1000, start + 1):
        expected = cost_usd(model["id"], tokens, 7, provider=provider)
        assert expected is not None
        assert pricing.call_cost(model["id"], model["id"], provider, tokens, 7, 0, 0) == expected


def test_configuration_and_explicit_overrides() -> None:
    _runtime.set_config(_runtime.config().replace(pricing={"my-model": {"input": 1.0, "output": 2.0}}))
    assert cost_usd("my-model-2025-01-01", 1_000_000, 1_000_000) == pytest.approx(3.0)
    # Overrides win over the maintained table, whatever the provider.
    _runtime.set_config(_runtime.config().replace(pricing={"gpt-4o": {"input": 100.0, "output": 0.0}}))
    assert cost_usd("gpt-4o", 1_000_000, 5, provider="openai") == pytest.approx(100.0)
    set_prices({"gpt-4o": {"input": 7.0, "output": 0.0}})
    assert cost_usd("gpt-4o-2024-11-20", 1_000_000, 0, provider="openai") == pytest.approx(7.0)
    set_prices(None)
    assert cost_usd("gpt-4o", 1_000_000, 0, provider="openai") == pytest.approx(100.0)
    # A self-hosted model the user prices themselves.
    set_prices({"llama3.1:8b": {"input": 0.01, "output": 0.02}})
    assert cost_usd("llama3.1:8b", 1_000_000, 0, provider="ollama") == pytest.approx(0.01)


def test_bad_override_entries_are_ignored() -> None:
    set_prices({"a": {"input": "x", "output": 1.0}, "b": {"input": -1, "output": 1}, "c": {"output": 1.0}})
    assert price_of("a") is None and price_of("b") is None and price_of("c") is None


def test_after_the_first_call_a_model_is_a_dict_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[str] = []
    original = _table.Table.find

    def counting(self: _table.Table, provider: str | None, model: str, today: Any = None) -> Any:
        scans.append(model)
        return original(self, provider, model, today)

    monkeypatch.setattr(_table.Table, "find", counting)
    first = cost_usd("gpt-4.1-mini-2025-04-14", 100, 10, provider="openai")
    for _ in range(5):
        assert cost_usd("gpt-4.1-mini-2025-04-14", 100, 10, provider="openai") == first
    assert scans == ["gpt-4.1-mini-2025-04-14"]


def test_a_newer_installed_genai_prices_is_read_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("genai_prices")
    shipped = pricing._shipped_table()
    monkeypatch.setattr(_table, "installed_version", lambda: shipped.version + ".post1")
    monkeypatch.setattr(pricing, "_loading", None)
    threads: list[str] = []
    real = _table.from_genai_prices

    def convert(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(_table, "from_genai_prices", convert)
    try:
        pricing.warm_up()
        loader = pricing._loading
        assert loader is not None
        loader.join(30)
        assert threads == ["agentops-prices"]  # never the caller's thread
        assert pricing._table_now is not shipped and pricing.source().endswith("(installed package)")
        assert price_of("gpt-4o", "openai") == {"input": 2.5, "output": 10.0, "cached_input": 1.25}
    finally:
        monkeypatch.setattr(pricing, "_table_now", shipped)
        monkeypatch.setattr(pricing, "_origin", "prices.json")


def test_pricing_never_touches_the_network(tmp_path: Any) -> None:
    """In a fresh process, with a newer genai-prices 'installed': loading and pricing open no socket."""
    script = """
import socket, sys
opened = []
real = socket.socket.connect
def connect(self, address):
    opened.append(address)
    return real(self, address)
socket.socket.connect = connect
from agentops_otel import pricing
from agentops_otel.pricing import _table
_table.installed_version = lambda: "9999"
pricing.warm_up()
pricing._loading.join(60)
assert pricing.source().endswith("(installed package)"), pricing.source()
assert pricing.cost_usd("gpt-4o-mini", 1000, 1000, provider="openai") > 0
import genai_prices.update_prices as up
assert up._shared_updater.ref_count == 0
print("sockets", opened)
"""
    pytest.importorskip("genai_prices")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "sockets []" in proc.stdout
