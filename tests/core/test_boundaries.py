"""The layers: the CLI (pgrestore) on top; planner and executors beside each other; core under
both. Nothing imports upwards, and the product never imports the sandbox at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "planner", "executors", "pgrestore", "sandbox")


def _imports(package: str, top_level_only: bool = False) -> set[str]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        nodes = tree.body if top_level_only else ast.walk(tree)
        for node in nodes:
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package,allowed", [
    ("core", {"core"}),
    ("planner", {"core", "planner"}),
    ("executors", {"core", "executors"}),
    ("pgrestore", {"core", "planner", "executors", "pgrestore", "sandbox"}),
    ("sandbox", {"core", "sandbox"}),
])
def test_each_layer_imports_only_what_is_below_it(package, allowed):
    assert _imports(package) <= allowed, f"{package} imports {_imports(package) - allowed}"


def test_the_cli_mounts_the_sandbox_only_lazily():
    assert "sandbox" not in _imports("pgrestore", top_level_only=True)


def test_the_checker_sees_imports():
    # Guard against a checker that finds nothing.
    assert {"core"} <= _imports("planner") and {"core"} <= _imports("executors")
    assert {"planner", "executors"} <= _imports("pgrestore")
