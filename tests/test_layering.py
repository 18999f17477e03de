"""The layers import only downwards: contracts imports neither mockserver nor plugin; mockserver never imports
plugin; contracts and the plugin's validators import neither FastAPI nor pytest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "contracts": {"mockserver", "plugin", "fastapi", "starlette", "uvicorn", "pytest", "httpx", "respx", "hypothesis"},
    "mockserver": {"plugin", "pytest"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"{package} must not import {sorted(FORBIDDEN[package])}; found {offenders}"


# The plugin's validators are usable outside pytest and without the server.
PURE_PLUGIN_MODULES = {"plugin/_conform.py": {"pytest", "fastapi", "starlette", "uvicorn", "mockserver"}}


@pytest.mark.parametrize("module", sorted(PURE_PLUGIN_MODULES))
def test_plugin_validators_stay_pure(module):
    found = _imports(ROOT / module) & PURE_PLUGIN_MODULES[module]
    assert not found, f"{module} must not import {sorted(found)}"


@pytest.mark.parametrize("package", ["mockserver", "plugin"])
def test_upper_layers_use_the_public_surface_of_contracts(package):
    private = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("contracts._"):
                private.add(f"{path.relative_to(ROOT)}: {node.module}")
    assert not private, f"{package} imports private contracts modules: {sorted(private)}"
