"""The configuration table of docs/configuration.md matches the code: one row per Configuration field,
with exactly the ``AGENTOPS_*`` variables of ``_config.ENV_VARIABLES`` (in order) and its default."""

from __future__ import annotations

import dataclasses
import re

from agentops_otel._config import ENV_VARIABLES, Configuration
from core_helpers import REPO


def _rows() -> dict[str, tuple[str, str]]:
    text = (REPO / "docs" / "configuration.md").read_text()
    rows: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        match = re.match(r"\|\s*`(\w+)`\s*\|(.*?)\|(.*?)\|", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def test_one_row_per_field_with_its_variables() -> None:
    rows = _rows()
    assert list(rows) == [f.name for f in dataclasses.fields(Configuration)]
    for name, (environment, _) in rows.items():
        documented = tuple(re.findall(r"`(AGENTOPS_\w+)`", environment))
        assert documented == ENV_VARIABLES.get(name, ()), name


def test_defaults_match() -> None:
    rows = _rows()
    defaults = Configuration()
    for field in dataclasses.fields(Configuration):
        value = getattr(defaults, field.name)
        cell = rows[field.name][1]
        if field.name == "service_name":
            assert '"agentops"' in cell  # None here; the provider the SDK creates is named so
        elif value is None:
            assert "none" in cell or "<" in cell or "$" in cell, field.name  # none, or the derived default
        else:
            shown = str(value) if isinstance(value, bool) else json_like(value)
            assert shown in cell, (field.name, shown, cell)


def json_like(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, dict)):
        return "[]" if isinstance(value, list) else "{}"
    return str(value)
