"""The layers import only downwards: contracts imports neither mockserver nor plugin; mockserver never imports
plugin; contracts and the plugin's validators import neither FastAPI nor pytest. Everything is imported through the
one namespace, ``vision_contracts``: the bare names ``contracts``, ``mockserver`` and ``plugin`` belong to other
projects (PyContracts, mockserver-client, a user's own folders) and are forbidden in code, tests and the docs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "vision_contracts"
LAYERS = ("contracts", "mockserver", "plugin")
FORBIDDEN = {
    "contracts": {"vision_contracts.mockserver", "vision_contracts.plugin", "fastapi", "starlette", "uvicorn", "pytest",
                  "httpx", "respx", "hypothesis"},
    "mockserver": {"vision_contracts.plugin", "pytest"},
}


def _module_name(path: Path) -> str:
    """The installed name of a file in one of the three folders: contracts/_checks.py ->
    vision_contracts.contracts._checks."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([NAMESPACE, *parts])


def _imports(path: Path) -> set[str]:
    """Every module a file imports, by its absolute dotted name (relative imports resolved against the namespace)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from vision_contracts import plugin`
    return names


def _matches(imported: set[str], forbidden: set[str]) -> list[str]:
    return sorted(name for name in imported for bad in forbidden if name == bad or name.startswith(bad + "."))


def _python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package):
    offenders = {str(p.relative_to(ROOT)): _matches(_imports(p), FORBIDDEN[package]) for p in _python_files(package)}
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"{package} must not import {sorted(FORBIDDEN[package])}; found {offenders}"


# The plugin's validators are usable outside pytest and without the server.
PURE_PLUGIN_MODULES = {"plugin/_conform.py": {"pytest", "fastapi", "starlette", "uvicorn", "vision_contracts.mockserver"}}


@pytest.mark.parametrize("module", sorted(PURE_PLUGIN_MODULES))
def test_plugin_validators_stay_pure(module):
    found = _matches(_imports(ROOT / module), PURE_PLUGIN_MODULES[module])
    assert not found, f"{module} must not import {found}"


@pytest.mark.parametrize("package", ["mockserver", "plugin"])
def test_upper_layers_use_the_public_surface_of_contracts(package):
    private = {f"{p.relative_to(ROOT)}: {name}" for p in _python_files(package) for name in _imports(p)
               if name.startswith("vision_contracts.contracts._")}
    assert not private, f"{package} imports private contracts modules: {sorted(private)}"


def test_no_bare_layer_names_in_code_or_tests():
    """``import contracts`` or ``from mockserver import ...`` would find another project's package (or none)."""
    offenders = sorted(
        f"{p.relative_to(ROOT)}: {name}"
        for p in _python_files(*LAYERS, "tests")
        for name in _imports(p)
        if name.split(".")[0] in LAYERS
    )
    assert offenders == [], f"import the layers through the namespace ({NAMESPACE}.<layer>); found {offenders}"


BARE_IN_TEXT = re.compile(r"^\s*(?:>>> )?(?:import|from) (?:contracts|mockserver|plugin)\b|python -m (?:contracts|mockserver)\b", re.M)


@pytest.mark.parametrize("document", ["README.md", "ARCHITECTURE.md"])
def test_docs_use_the_namespace(document):
    found = BARE_IN_TEXT.findall((ROOT / document).read_text())
    assert found == [], f"{document} shows bare layer names: {found}"


def test_docstrings_use_the_namespace():
    """Docstring examples (``>>> import contracts``) and command lines in messages are read and copied by users."""
    offenders = [f"{p.relative_to(ROOT)}: {m.strip()}" for p in _python_files(*LAYERS)
                 for m in BARE_IN_TEXT.findall(p.read_text())]
    assert offenders == []
