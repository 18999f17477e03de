"""README.md as a tested document: every ```python block runs as written.

Plain scripts run with ``python`` in a temporary folder, with ``VISION_MOCK_URL`` pointing at a real mock server on
a free loopback port (the README's scripts read it, falling back to ``./dev serve``'s http://127.0.0.1:8000).
Blocks that define ``test_`` functions are pytest modules: they run in a fresh pytest process in a temporary
project with no conftest, the plugin coming from the installed entry point, and every test in them must pass (a
skip is a failure). The SDK examples need the ``test`` extra, which the suite runs with, so nothing is skipped here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import serve

README = Path(__file__).resolve().parents[1] / "README.md"

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")  # CommonMark: up to three spaces of indentation
TEST_FUNCTION = re.compile(r"^(?:async\s+)?def test_\w*\s*\(", re.M)


class Block(NamedTuple):
    heading: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-") or "top"
        return f"{slug}-L{self.line}"

    @property
    def tests(self) -> int:
        return len(TEST_FUNCTION.findall(self.code))


def blocks(text: str) -> list[Block]:
    """Every fenced code block with the heading it sits under."""
    found: list[Block] = []
    heading, fence, start, language, body = "", None, 0, "", []
    for number, line in enumerate(text.splitlines(), 1):
        if fence is None:
            m = FENCE.match(line)
            if m:
                fence, start, language, body = m.group(1), number, m.group(2), []
            elif line.startswith("#"):
                heading = line.lstrip("#").strip()
        elif line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
            found.append(Block(heading, start, language, "\n".join(body) + "\n"))
            fence = None
        else:
            body.append(line)
    assert fence is None, f"README.md: the code block opened at line {start} is never closed"
    return found


PYTHON_BLOCKS = [b for b in blocks(README.read_text()) if b.language == "python"]


def test_every_python_block_is_run():
    """No silent filtering: every fence whose info string names Python is one of the parametrized blocks."""
    text = README.read_text()
    fences = [m.group(1) for m in re.finditer(r"^[ \t]*(?:`{3,}|~{3,})[ \t]*(\S*)", text, re.M)]
    pythonish = [f for f in fences if f.lower().startswith(("py", "ipython"))]
    assert pythonish and set(pythonish) == {"python"}, (
        f"README.md has Python blocks tagged {sorted(set(pythonish))}: tag them ```python (run here) or, for output "
        "and pseudo-code, ```text / ```console"
    )
    assert len(pythonish) == len(PYTHON_BLOCKS), (
        f"README.md has {len(pythonish)} ```python fences but {len(PYTHON_BLOCKS)} were parsed and run: "
        "a fence is indented more than three spaces or malformed"
    )
    assert len({b.id for b in PYTHON_BLOCKS}) == len(PYTHON_BLOCKS)


@pytest.fixture(scope="module")
def mock_url():
    with serve(Config(port=0)) as url:
        yield url


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"HF_HUB_OFFLINE", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}}
    env.update(AIR_SILENT="1", **extra)  # AIR_SILENT: the AI Refinery SDK's banner only
    return env


def _report(block: Block, output: str) -> str:
    return f"README.md block at line {block.line} (under '{block.heading}') failed:\n{block.code}\n--- output ---\n{output}"


@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if not b.tests], ids=lambda b: b.id)
def test_script_block_runs(block, mock_url, tmp_path):
    httpx.post(mock_url + "/__vision__/reset", timeout=30).raise_for_status()
    script = tmp_path / "example.py"
    script.write_text(block.code)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(VISION_MOCK_URL=mock_url),
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, _report(block, proc.stdout + proc.stderr)


@pytest.mark.parametrize("block", [b for b in PYTHON_BLOCKS if b.tests], ids=lambda b: b.id)
def test_pytest_block_passes(block, tmp_path):
    """The block as a user's test module, run by the ``pytest`` console script in a project of its own."""
    (tmp_path / "test_readme_example.py").write_text(block.code)
    script = Path(sys.executable).with_name("pytest")
    pytest_command = [str(script)] if script.exists() else [sys.executable, "-m", "pytest"]
    proc = subprocess.run([*pytest_command, "-p", "no:cacheprovider", "-q", "-rA"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, _report(block, output)
    summary = output.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary)}
    unexpected = set(counts) - {"passed", "warning", "warnings"}
    assert counts.get("passed") == block.tests and not unexpected, _report(
        block, f"expected all {block.tests} tests to pass, none skipped; summary: {summary}\n{output}")
