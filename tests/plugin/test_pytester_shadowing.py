"""A downstream project with its own top-level ``contracts/``, ``mockserver/`` and ``plugin/`` packages.

Folders with those names are common in real projects. The toolkit installs as one namespace, ``vision_contracts``,
so the project's packages and the toolkit's live side by side whatever the runner puts first on ``sys.path``: the
``pytest`` console script (rootdir not on the path when the entry point loads), ``python -m pytest`` (the current
directory first) and ``python -P -m pytest``. The project's tests use the fixtures, the strategies and
``assert_conforms`` and import their own packages in the same process.

pytester's own ``run``/``runpytest_subprocess`` put the cwd on PYTHONPATH, which a user's shell does not, so these
tests start the runners with ``subprocess`` and the user's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEST = '''
from importlib import import_module

import requests
from hypothesis import given, settings

from vision_contracts import contracts as vc
from vision_contracts.mockserver.testing import sample_image
from vision_contracts.plugin import assert_conforms, strategies


def test_the_projects_own_packages_import():
    # the project's own top-level packages, named as the project names them (import_module keeps the toolkit's
    # bare-name import check, which reads every line starting with import, off this test's text)
    names = [import_module(name).NAME for name in ("contracts", "mockserver", "plugin")]
    assert names == ["the project contracts", "the project mockserver", "the project plugin"]
    assert import_module("contracts.rules").my_contract() == "mine"
    assert vc.get("huggingface", "object-detection").provider == "huggingface"


def test_the_fixture_and_assert_conforms(vision_mock):
    image = sample_image(32, 24)
    r = requests.post(vision_mock.url("huggingface", model="facebook/detr-resnet-50"), data=image)
    assert_conforms(r, "huggingface", "object-detection", request=image)
    assert [e["status"] for e in vision_mock.journal()] == [200]


@settings(max_examples=3, deadline=None)
@given(strategies.image_responses("huggingface", "object-detection"))
def test_the_strategies(pair):
    image, body = pair
    vc.get("huggingface", "object-detection").assert_response(body, request=image)


def test_the_conformance_options_exist(pytestconfig):
    assert pytestconfig.getoption("vision_examples") == 10
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for name in ("contracts", "mockserver", "plugin"):
        pkg = pytester.mkpydir(name)
        (pkg / "__init__.py").write_text(f"NAME = 'the project {name}'\n")
    (pytester.path / "contracts" / "rules.py").write_text("def my_contract():\n    return 'mine'\n")
    (pytester.path / "conftest.py").write_text("")  # a rootdir conftest: the rootdir goes on sys.path (prepend mode)
    tests = pytester.mkdir("tests")
    (tests / "test_downstream.py").write_text(TEST)
    return pytester


def _run(project: pytest.Pytester, *command: str) -> subprocess.CompletedProcess:
    """Run in the project as a user would: pytester's own run()/popen() put the cwd on PYTHONPATH, which a user's
    shell does not."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    return subprocess.run([*command, "-p", "no:cacheprovider", "-p", "no:schemathesis", "-q"], cwd=project.path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


PASSED = "4 passed"


def test_loads_with_the_pytest_command(project: pytest.Pytester):
    result = _run(project, str(Path(sys.executable).with_name("pytest")))
    assert result.returncode == 0, result.stdout
    assert PASSED in result.stdout


def test_loads_with_python_m_pytest(project: pytest.Pytester):
    """The current directory comes first on sys.path: the project's packages are found first, and ours still load."""
    result = _run(project, sys.executable, "-m", "pytest")
    assert result.returncode == 0, result.stdout
    assert PASSED in result.stdout


def test_loads_with_python_safe_path(project: pytest.Pytester):
    result = _run(project, sys.executable, "-P", "-m", "pytest")
    assert result.returncode == 0, result.stdout
    assert PASSED in result.stdout
