"""A downstream project with its own top-level ``plugin/`` and ``contracts/`` packages in its rootdir.

The toolkit's top-level names are ``plugin``, ``contracts`` and ``mockserver``, and one process holds one module per
name. What happens depends on whether the rootdir is on ``sys.path`` when pytest loads the entry point:

- the ``pytest`` console script (and ``python -P -m pytest``; not pytester's ``run``/``runpytest_subprocess``, which
  put the cwd on PYTHONPATH, so these tests use ``subprocess`` with the user's environment): it is not, the toolkit loads first and everything works;
  a rootdir ``conftest.py`` then puts the rootdir on ``sys.path``, but ``import plugin``/``import contracts`` in the
  project's tests still get the toolkit's modules (already imported): the project's own same-named packages cannot
  be imported under pytest;
- ``python -m pytest``: the current directory comes first on ``sys.path``, the
  project's packages shadow the toolkit's and the run breaks. Marked xfail(strict): renaming the toolkit's top-level
  packages (e.g. ``vision_contracts.*``) is the fix, and turns this into an XPASS that must be looked at.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEST = '''
import requests

from mockserver.testing import sample_image


def test_the_toolkit_loads(vision_mock):
    import plugin
    from plugin import assert_conforms

    image = sample_image(32, 24)
    r = requests.post(vision_mock.url("huggingface", model="facebook/detr-resnet-50"), data=image)
    assert_conforms(r, "huggingface", "object-detection", request=image)
    assert not hasattr(plugin, "NAME")  # the toolkit's package, not the project's


def test_the_conformance_options_exist(pytestconfig):
    assert pytestconfig.getoption("vision_examples") == 10
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for name in ("plugin", "contracts"):
        pkg = pytester.mkpydir(name)
        (pkg / "__init__.py").write_text(f"NAME = 'the project {name}'\n")
    (pytester.path / "conftest.py").write_text("")  # a rootdir conftest: the rootdir goes on sys.path (prepend mode)
    tests = pytester.mkdir("tests")
    (tests / "test_downstream.py").write_text(TEST)
    return pytester


def _run(project: pytest.Pytester, *command: str) -> subprocess.CompletedProcess:
    """Run in the project as a user would: pytester's own run()/popen() put the cwd on PYTHONPATH, which a user's
    shell does not."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    return subprocess.run([*command, "-p", "no:cacheprovider", "-p", "no:schemathesis", "-q"], cwd=project.path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_loads_with_the_pytest_command(project: pytest.Pytester):
    result = _run(project, str(Path(sys.executable).with_name("pytest")))
    assert result.returncode == 0, result.stdout
    assert "2 passed" in result.stdout


def test_loads_with_python_safe_path(project: pytest.Pytester):
    result = _run(project, sys.executable, "-P", "-m", "pytest")
    assert result.returncode == 0, result.stdout


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="python -m pytest puts the rootdir first on sys.path: the project's plugin/ and "
                                       "contracts/ shadow the toolkit's top-level packages (fix: unique package names)")
def test_loads_with_python_m_pytest(project: pytest.Pytester):
    result = _run(project, sys.executable, "-m", "pytest")
    if result.returncode != 0 and "cannot import name" not in result.stdout and "No module named" not in result.stdout:
        raise RuntimeError(f"python -m pytest broke in an unexpected way:\n{result.stdout}")  # not the xfail
    assert result.returncode == 0, result.stdout
