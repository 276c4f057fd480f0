"""The package's layers import downward only (the contracts in pyproject.toml), and nothing below the
top (the command line, and ``agentops_otel.sdk``, the agentops-compatible decorators path) imports the
public face: internal code calls the module that owns a thing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_layer_contracts_are_kept() -> None:
    # In a process of its own: import-linter configures logging (and so disables other loggers).
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_only_the_top_layer_imports_the_public_face() -> None:
    graph = grimp.build_graph("agentops_otel", cache_dir=None)
    importers = graph.find_modules_that_directly_import("agentops_otel")
    top = ("agentops_otel.cli", "agentops_otel.sdk")
    assert {m for m in importers if not m.startswith(top)} == set()
    assert "agentops_otel.sdk.decorators" in importers  # the check sees the face's importers


def test_no_import_circles_between_modules() -> None:
    graph = grimp.build_graph("agentops_otel", cache_dir=None)
    modules = sorted(graph.modules)
    circles = [
        (a, b)
        for a in modules
        for b in graph.find_modules_directly_imported_by(a)
        if a < b and graph.direct_import_exists(importer=b, imported=a)
    ]
    assert circles == []
