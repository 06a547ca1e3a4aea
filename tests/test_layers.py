"""Data flows one way: the rule format and matcher never import the analysis above them, and only
the commands (and the authoring package itself) import the authoring tools."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fivewhys"

#: package -> modules of fivewhys it must never import (they sit above it)
FORBIDDEN = {
    "rules": ("fivewhys.whys", "fivewhys.correlate", "fivewhys.pipeline", "fivewhys.authoring"),
    "results": ("fivewhys.whys", "fivewhys.correlate", "fivewhys.pipeline", "fivewhys.rules"),
    "logs": ("fivewhys.whys", "fivewhys.correlate", "fivewhys.pipeline", "fivewhys.rules"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_runs_back_up(package: str) -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for name in sorted(_imports(path))
        if name.startswith(FORBIDDEN[package])
    ]
    assert offenders == []


def test_only_commands_import_the_authoring_tools() -> None:
    allowed = {"cli_rules.py"}
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.glob("*.py"))
        if path.name not in allowed
        and any(name.startswith("fivewhys.authoring") for name in _imports(path))
    ]
    assert offenders == []
