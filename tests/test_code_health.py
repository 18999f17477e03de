"""Code health is part of the suite: ruff's rules and mypy --strict over the three packages, as configured in
pyproject.toml ([tool.ruff], [tool.mypy]), each run as a developer runs it, with its own output on failure.

Both come with the ``test`` extra, next to the interpreter running the tests. mypy keeps its cache in .mypy_cache (a
second run takes a second or two; the first, about 20 s); ruff takes well under a second.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LINTED = ("contracts", "mockserver", "plugin", "tests")
PACKAGES = ("vision_contracts.contracts", "vision_contracts.mockserver", "vision_contracts.plugin")


def _run(tool: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.fail(f"{tool} is not installed next to {sys.executable}; it is in the test extra: pip install -e '.[test]'")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def test_ruff_check_is_clean():
    result = _run("ruff", "check", *LINTED, timeout=120)
    assert result.returncode == 0, f"ruff check {' '.join(LINTED)} exited {result.returncode}:\n{result.stdout}{result.stderr}"


def test_mypy_strict_is_clean():
    # mypy finds the packages through mypy_path (.typecheck/vision_contracts/), not the editable install: see
    # [tool.mypy] in pyproject.toml.
    args = [arg for package in PACKAGES for arg in ("-p", package)]
    result = _run("mypy", "--cache-dir", str(ROOT / ".mypy_cache"), *args, timeout=600)
    assert result.returncode == 0, f"mypy {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
