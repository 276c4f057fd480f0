"""The documentation cannot rot: the site builds with warnings as errors, every ```python block of the
guides and the README runs, and the configuration page names every setting and its variable.

A block that cannot run on its own (a fragment, a server that runs forever, a real API key) is marked
on the line before its fence with ``<!-- no-run: why -->``. The examples of the migration guide
(``<!-- snippet: ... -->``) run against a real backend in tests/test_compat_snippets.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentops_otel._config import ENV_VARIABLES, Configuration
from agentops_otel.cli.demo_llm import canned_llm
from core_helpers import REPO

PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
BLOCK = re.compile(
    r"(?:^<!-- (no-run|snippet): ?([^\n]*?) -->\n)?^```python\n(.*?)^```", re.DOTALL | re.MULTILINE
)


def blocks() -> list[tuple[str, str | None, str]]:
    """``(id, mark, code)`` of every python block: id is ``page:index``, mark ``no-run``/``snippet``."""
    found = []
    for page in PAGES:
        for index, match in enumerate(BLOCK.finditer(page.read_text())):
            mark, reason, code = match.groups()
            if mark == "no-run" and not reason.strip():
                mark = "no-run without a reason"
            found.append((f"{page.relative_to(REPO)}:{index + 1}", mark, code))
    return found


RUNNABLE = [(name, code) for name, mark, code in blocks() if mark is None]


@pytest.fixture(scope="module")
def llm() -> Iterator[str]:
    with canned_llm() as url:
        yield url


def test_every_mark_says_why_and_the_guides_examples_run() -> None:
    marks = [mark for _, mark, _ in blocks()]
    assert "no-run without a reason" not in marks
    pages = {name.split(":")[0] for name, _ in RUNNABLE}
    assert {"docs/getting-started.md", "docs/concepts.md", "README.md"} <= pages


@pytest.mark.parametrize(("name", "code"), RUNNABLE, ids=[name for name, _ in RUNNABLE])
def test_python_block_runs(name: str, code: str, llm: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTOPS_", "OTEL_", "OPENAI_"))}
    env.update(
        PYTHONPATH=str(REPO / "src"),
        XDG_DATA_HOME=str(tmp_path / "data"),  # the local store of this block only
        OPENAI_BASE_URL=llm,
        OPENAI_API_KEY="test-key-not-secret",
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr


def test_the_configuration_page_names_every_setting_and_its_variable() -> None:
    page = (REPO / "docs" / "configuration.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", page, re.MULTILINE)}
    for field in dataclasses.fields(Configuration):
        assert field.name in rows, f"docs/configuration.md has no row for {field.name}"
        for variable in ENV_VARIABLES.get(field.name, ()):
            assert f"`{variable}`" in rows[field.name], f"the {field.name} row does not name {variable}"


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
    reason='needs the docs extra: pip install -e ".[docs]"',
)
def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    reference = (site / "reference" / "index.html").read_text()
    for name in ("agentops_otel.init", "agentops_otel.Session", "agentops_otel.Configuration"):
        assert f'id="{name}"' in reference, f"the API reference lacks {name}"
    assert (site / "migrating-from-agentops" / "index.html").exists()
