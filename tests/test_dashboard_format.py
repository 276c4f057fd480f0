"""The dashboard's formatter (ui/format.js) passes the shared cases (ui/format_cases.json) in Chromium,
as the CLI's (cli/format.py) does: both show the same text for durations, costs, tokens and bytes."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from agentops_otel.cli import format as cli_format
from dashboard_fixtures import World, browser_fixture, page_fixture, sync_api, world_fixture  # noqa: F401

FUNCTIONS = {
    "duration": "duration",
    "cost": "cost",
    "tokens": "tokens",
    "bytes": "bytes",
    "session_cost": "sessionCost",
    "span_cost": "spanCost",
}


def cases() -> dict[str, list[list[Any]]]:
    text = resources.files("agentops_otel.backend").joinpath("ui", "format_cases.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return {k: v for k, v in loaded.items() if k in FUNCTIONS}


def test_the_dashboard_formats_every_shared_case_as_the_cli_does(world: World, page: Any) -> None:
    page.goto(world.url + "/")
    shown = page.evaluate(
        """async ([cases, names]) => {
             const fmt = await import("/ui/format.js");
             const out = {};
             for (const [kind, list] of Object.entries(cases)) out[kind] = list.map(([input]) => fmt[names[kind]](input));
             return out;
           }""",
        [cases(), FUNCTIONS],
    )
    python = {
        "duration": cli_format.duration,
        "cost": cli_format.cost,
        "tokens": cli_format.tokens,
        "bytes": cli_format.bytes_,
    }
    python.update({"session_cost": cli_format.session_cost, "span_cost": cli_format.span_cost})
    failures = []
    for kind, list_ in cases().items():
        assert len(list_) >= 4, kind
        for (value, expected), got in zip(list_, shown[kind], strict=True):
            if got != expected:
                failures.append(f"{kind}({value!r}): dashboard {got!r}, expected {expected!r}")
            assert python[kind](value) == expected, (kind, value)  # the CLI's, for the same table
    assert failures == []
