"""The price table and cost computation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources

import pytest

from agentops_otel import _runtime
from agentops_otel.pricing import cost_usd, price_of, set_prices, shipped_prices


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    previous = _runtime.config()
    set_prices(None)
    yield
    set_prices(None)
    _runtime.set_config(previous)


def test_table_has_source_date_and_required_models() -> None:
    data = json.loads(resources.files("agentops_otel.pricing").joinpath("prices.json").read_text())
    assert data["source"].startswith("Published list prices")
    assert len(data["as_of"]) == 10
    for model in (
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "o1",
        "o3",
        "o4-mini",
        "gpt-5",
        "text-embedding-3-small",
        "claude-3-5-sonnet",
        "claude-3-5-haiku",
        "claude-3-7-sonnet",
        "claude-sonnet-4",
        "claude-opus-4",
        "claude-haiku-4-5",
    ):
        assert model in shipped_prices(), model


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
    ],
)
def test_dated_ids_match_their_model(model: str, key: str) -> None:
    assert price_of(model) == shipped_prices()[key]


@pytest.mark.parametrize(
    "model",
    ["gpt-4o-realtime-preview", "o3-deep-research", "my-model", "", None, "gpt-4o-mini-tts", "claude"],
)
def test_unknown_or_variant_models_have_no_price(model: str | None) -> None:
    assert price_of(model) is None
    assert cost_usd(model, 100, 100) is None


def test_cost_formula() -> None:
    # gpt-4o: 2.50 input, 1.25 cached input, 10.00 output per million.
    assert cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.5)
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000, cached_input_tokens=400_000) == pytest.approx(
        0.6 * 2.5 + 0.4 * 1.25 + 10.0
    )
    # Anthropic cache writes at their own price; more cached than input is clamped.
    assert cost_usd("claude-sonnet-4", 100, 0, 0, 100) == pytest.approx(100 * 3.75 / 1e6)
    assert cost_usd("gpt-4o", 10, 0, cached_input_tokens=50) == pytest.approx(10 * 1.25 / 1e6)
    # No cached price: the input price applies.
    assert cost_usd("gpt-4", 100, 0, cached_input_tokens=100) == pytest.approx(100 * 30.0 / 1e6)
    assert cost_usd("gpt-4o", None, None) is None


def test_configuration_and_explicit_overrides() -> None:
    _runtime.set_config(_runtime.config().replace(pricing={"my-model": {"input": 1.0, "output": 2.0}}))
    assert cost_usd("my-model-2025-01-01", 1_000_000, 1_000_000) == pytest.approx(3.0)
    _runtime.set_config(_runtime.config().replace(pricing={"gpt-4o": {"input": 100.0, "output": 0.0}}))
    assert cost_usd("gpt-4o", 1_000_000, 5) == pytest.approx(100.0)
    set_prices({"gpt-4o": {"input": 7.0, "output": 0.0}})
    assert cost_usd("gpt-4o-2024-11-20", 1_000_000, 0) == pytest.approx(7.0)
    set_prices(None)
    assert cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(100.0)


def test_bad_override_entries_are_ignored() -> None:
    set_prices({"a": {"input": "x", "output": 1.0}, "b": {"input": -1, "output": 1}, "c": {"output": 1.0}})
    assert price_of("a") is None and price_of("b") is None and price_of("c") is None
