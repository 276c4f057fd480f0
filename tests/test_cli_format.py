"""The formats the CLI shares with the dashboard: every case of ``backend/ui/format_cases.json`` (the
file the dashboard's JavaScript runs too) against the Python formatter."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from agentops_otel.cli import format as fmt

CASES: dict[str, Any] = json.loads(
    resources.files("agentops_otel.backend").joinpath("ui", "format_cases.json").read_text(encoding="utf-8")
)
FORMATTERS: dict[str, Callable[[Any], str]] = {
    "duration": fmt.duration,
    "cost": fmt.cost,
    "tokens": fmt.tokens,
    "bytes": fmt.bytes_,
    "session_cost": fmt.session_cost,
    "span_cost": fmt.span_cost,
}


def test_every_kind_of_case_has_a_formatter() -> None:
    kinds = {k for k in CASES if k != "about"}
    assert kinds == set(FORMATTERS)
    assert all(len(CASES[k]) >= 4 for k in kinds)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [(kind, value, expected) for kind in FORMATTERS for value, expected in CASES[kind]],
)
def test_case(kind: str, value: Any, expected: str) -> None:
    assert FORMATTERS[kind](value) == expected


def test_unknown_price_is_not_zero() -> None:
    # The complaint: "$0" for both a free model and an unknown price.
    assert fmt.cost(None) != fmt.cost(0)
    assert fmt.span_cost({"llm": True, "cost_usd": None}) == "unknown"
    assert fmt.session_cost({"cost_usd": 0.0, "llm_calls": 1}) == "unknown"
    assert fmt.session_cost({"cost_usd": 0.0, "llm_calls": 0}) == "-"


def test_unpriced_calls_counted_from_spans_follow_the_store_rule() -> None:
    """From a backend that gives no ``unpriced_llm_calls``: a call that failed and used no tokens has
    nothing to price; one that succeeded without usage has no price."""
    from agentops_otel.cli.render import session_cost_text

    def llm(span_id: str, status: str, **attributes: Any) -> dict[str, Any]:
        return {
            "span_id": span_id,
            "parent_span_id": "r",
            "kind": "llm",
            "status": status,
            "attributes": attributes,
        }

    session = {
        "cost_usd": 0.01,
        "llm_calls": 3,
        "spans": [
            llm("a", "ERROR"),
            llm("b", "UNSET"),
            llm("c", "OK", **{"gen_ai.usage.input_tokens": 3, "agentops.usage.cost_usd": 0.01}),
        ],
    }
    assert session_cost_text(session).endswith("(no price for 1 of 3 LLM calls)")


def test_a_span_shows_unknown_exactly_when_the_session_counts_it_unpriced() -> None:
    """The span tree and the session's cost read a call alike (``store.calls.is_unpriced``): a failed
    call that used no tokens (of either name) is ``-`` and not counted; any other call without a cost is
    ``unknown`` and counted."""
    from agentops_otel.cli.render import session_cost_text
    from agentops_otel.cli.spans import figures

    usages: list[dict[str, Any]] = [
        {},
        {"gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": 0},
        {"gen_ai.usage.input_tokens": 4},
        {"gen_ai.usage.output_tokens": 2},
        {"gen_ai.usage.prompt_tokens": 3},
    ]
    shown = {}
    for status in ("ERROR", "OK", "UNSET"):
        for n, usage in enumerate(usages):
            span = {"span_id": "a", "parent_span_id": "r", "kind": "llm", "status": status}
            span["attributes"] = usage
            text = fmt.span_cost(figures(span, True))
            counted = session_cost_text({"cost_usd": 0.0, "llm_calls": 1, "spans": [span]})
            assert (text == fmt.UNKNOWN) == counted.endswith("(no price for 1 of 1 LLM calls)"), span
            shown[status, n] = text
    assert [k for k, v in shown.items() if v == fmt.MISSING] == [("ERROR", 0), ("ERROR", 1)]
