"""The wheel as users get it: built cleanly, one top-level name, its data and entry points; installed in a fresh
virtual environment beside mockserver-client (which owns the top-level name ``mockserver``), and again after that
package is uninstalled.

The build runs on a copy of the working tree, so neither a stale ``build/`` folder nor a concurrent build in the
checkout can leak into the wheel. The fresh environment gets the wheel's runtime dependencies only (from the package
index, through pip's cache), so it proves a plain install carries everything the contracts, ``vision-mock``,
``vision-contracts`` and the pytest plugin need at run time. All servers listen on 127.0.0.1.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from vision_contracts.mockserver.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("contracts", "mockserver", "plugin")
SOURCE_IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
                                        ".pytest_cache", ".ruff_cache", ".mypy_cache", ".air", "node_modules",
                                        ".schemathesis", "tests")
# What setuptools says when the packaging configuration is off: any of these in the build output fails the build
# test. PYTHONDONTWRITEBYTECODE is unset for the build ("byte-compiling is disabled" would be printed otherwise).
# File names are taken out of each line first (a module may well be called _warnings.py): paths and quoted names.
SETUPTOOLS_COMPLAINTS = re.compile(r"warning|deprecat|would be ignored|byte-compiling is disabled", re.I)
FILE_NAMES = re.compile(r"'[^']*'|\S*/\S*")
TIMEOUT = 900  # seconds, for each pip run: the first one on a cold cache downloads numpy, Pillow, FastAPI, ...


def _run(args, *, cwd, env=None, timeout=TIMEOUT, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert proc.returncode == 0, f"{' '.join(map(str, args))} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    """(the wheel, the build's output)."""
    work = tmp_path_factory.mktemp("wheel-build")
    source = work / "vision-contracts"
    shutil.copytree(ROOT, source, ignore=SOURCE_IGNORED)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", work / "dist", source],
                cwd=work, env=env)
    [wheel] = (work / "dist").glob("*.whl")
    return wheel, proc.stdout + proc.stderr


def test_the_build_prints_no_setuptools_warning(built):
    _, output = built
    complaints = [line for line in output.splitlines() if SETUPTOOLS_COMPLAINTS.search(FILE_NAMES.sub("", line))]
    assert complaints == [], "the wheel build complained:\n" + "\n".join(complaints)


def test_the_wheel_holds_one_namespace_its_data_and_entry_points(built):
    wheel, _ = built
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        entry_points = configparser.ConfigParser()
        entry_points.read_string(z.read(f"{dist_info}/entry_points.txt").decode())
    assert {n.split("/")[0] for n in names} == {"vision_contracts", dist_info}
    assert re.fullmatch(r"vision_contracts-[\w.]+\.dist-info", dist_info)

    # every module and data file of the three folders, at its namespaced place, and nothing else
    expected = {f"vision_contracts/{p.relative_to(ROOT)}" for layer in LAYERS for p in (ROOT / layer).rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", ".json", ".yaml", ".typed", ".html", ".css", ".js"}}
    shipped = {n for n in names if n.startswith("vision_contracts/")}
    assert shipped == expected, f"missing {sorted(expected - shipped)}; unexpected {sorted(shipped - expected)}"
    assert {f"vision_contracts/{layer}/py.typed" for layer in LAYERS} <= shipped
    schemas = {n for n in shipped if n.startswith("vision_contracts/contracts/schemas/") and n.endswith(".json")}
    examples = {n for n in shipped if n.startswith("vision_contracts/contracts/examples/") and n.endswith(".json")}
    assert len(schemas) >= 4 * 4 + 2 and len(examples) >= 4  # four operations x four files, plus the common ones
    assert {"vision_contracts/contracts/packs/roboflow-detect.yaml", "vision_contracts/contracts/packs/instance-segmentation-rle.yaml"} <= shipped

    assert dict(entry_points["console_scripts"]) == {
        "vision-mock": "vision_contracts.mockserver.__main__:main",
        "vision-contracts": "vision_contracts.contracts.__main__:main",
    }
    assert dict(entry_points["pytest11"]) == {"vision_contracts": "vision_contracts.plugin.pytest_plugin"}


# --- a fresh virtual environment -----------------------------------------------------------------------------------

CLIENT = '''
import sys

import httpx

from vision_contracts import contracts
from vision_contracts.mockserver.testing import sample_image

image = sample_image(80, 60)
r = httpx.post(sys.argv[1] + "/models/facebook/detr-resnet-50", content=image,
               headers={"Authorization": "Bearer hf_anything", "Content-Type": "image/png"}, timeout=60)
assert r.status_code == 200, (r.status_code, r.text)
contracts.get("huggingface", "object-detection").assert_response(r.json(), request=image)
print(r.text)
'''

PROJECT_TEST = '''
import httpx

from vision_contracts.mockserver.testing import sample_image
from vision_contracts.plugin import assert_conforms

IMAGE = sample_image(64, 48)


def test_detect(vision_mock):
    r = httpx.post(vision_mock.url("huggingface", model="facebook/detr-resnet-50"), content=IMAGE, timeout=60)
    assert_conforms(r, "huggingface", "object-detection", request=IMAGE)
    [entry] = vision_mock.journal()
    assert entry["verdict"]["valid"] is True and vision_mock.base_url.startswith("http://127.0.0.1:")
'''

WHERE = '''
import importlib.metadata as md
import importlib.util
import json

import vision_contracts.contracts, vision_contracts.mockserver, vision_contracts.plugin

dist = md.distribution("vision-contracts")
files = [f for f in dist.files if f.parts[0] == "vision_contracts"]
spec = importlib.util.find_spec("mockserver")
print(json.dumps({
    "layers": [m.__file__ for m in (vision_contracts.contracts, vision_contracts.mockserver, vision_contracts.plugin)],
    "missing": [str(f) for f in files if not f.locate().is_file()],
    "files": len(files),
    "mockserver": spec.origin if spec else None,
    "mockserver_owners": md.packages_distributions().get("mockserver", []),
}))
'''


def _venv_env(venv: Path) -> dict[str, str]:
    """The user's shell with the venv activated: nothing of this checkout or of the test run leaks in."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return env


def _pip(*args, venv: Path, cwd: Path) -> None:
    # The venv has no pip of its own (ensurepip is slow); pip runs against its interpreter with --python.
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", *args], cwd=cwd, env=_venv_env(venv))


def _serve(venv: Path, cwd: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([venv / "bin" / "vision-mock", "--host", "127.0.0.1", "--port", str(port)], cwd=cwd,
                                env=_venv_env(venv), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"vision-mock exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/__vision__/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError(f"vision-mock did not answer within 60 s:\n{log.read_text()}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _check_the_installed_package(venv: Path, work: Path, *, mockserver_client: bool) -> None:
    env, python = _venv_env(venv), venv / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=work, env=env).stdout.strip()

    where = json.loads(_run([python, "-c", WHERE], cwd=work, env=env).stdout)
    assert all(f.startswith(f"{site}/vision_contracts/") for f in where["layers"]), where["layers"]
    assert where["missing"] == [] and where["files"] > 50, where
    if mockserver_client:
        assert where["mockserver"] == f"{site}/mockserver/__init__.py", where
        assert where["mockserver_owners"] == ["mockserver-client"], where
    else:
        assert where["mockserver"] is None and where["mockserver_owners"] == [], where

    listed = _run([venv / "bin" / "vision-contracts", "list"], cwd=work, env=env).stdout.split("\n")
    assert {"huggingface object-detection", "huggingface image-segmentation", "roboflow semantic-segmentation",
            "airefinery image-segmentation"} <= set(listed)

    proc, url = _serve(venv, work, work / f"vision-mock-{mockserver_client}.log")
    try:
        out = _run([python, "-c", CLIENT, url], cwd=work, env=env, timeout=120).stdout
    finally:
        _stop(proc)
    assert "box" in out
    from vision_contracts import contracts  # the same verdict from this checkout's contracts

    assert contracts.get("huggingface", "object-detection").validate_response(out).errors == []

    project = work / f"project-{mockserver_client}"
    project.mkdir()
    (project / "test_detect.py").write_text(textwrap.dedent(PROJECT_TEST))
    result = _run([venv / "bin" / "pytest", "-p", "no:cacheprovider", "-q"], cwd=project, env=env, timeout=300, check=False)
    assert result.returncode == 0 and re.search(r"\b1 passed\b", result.stdout), result.stdout + result.stderr


def test_a_fresh_venv_with_mockserver_client_beside_it(built, tmp_path):
    wheel, _ = built
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    _pip("install", "--quiet", wheel, venv=venv, cwd=tmp_path)
    _pip("install", "--quiet", "mockserver-client", venv=venv, cwd=tmp_path)
    _check_the_installed_package(venv, tmp_path, mockserver_client=True)

    _pip("uninstall", "--yes", "mockserver-client", venv=venv, cwd=tmp_path)
    _check_the_installed_package(venv, tmp_path, mockserver_client=False)
