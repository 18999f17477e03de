"""Must show (issue 17): a downstream project whose app uses the four SDKs exactly as their docs show (real hosts,
keys from the environment), plus plain httpx, requests and aiohttp, tested under ``vision_intercept`` inside a
network namespace with only loopback up (``unshare -n``): nothing else can be reached, every call is answered by the
mock and journaled, an unknown host is refused with the fixture's sentence (printed: the closing note quotes it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in PROXY_VARIABLES and k != "HF_HUB_OFFLINE"}
    env.update({
        "AIR_SILENT": "1", "HF_HOME": str(tmp_path / "hf-home"), "ROBOFLOW_CONFIG_DIR": str(tmp_path / "roboflow.json"),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def run_in_namespace(project: Path, *pytest_args: str) -> subprocess.CompletedProcess[str]:
    command = " ".join([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", *pytest_args])
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {command}"],  # noqa: S607 (root's PATH tools)
        cwd=project, env=_environment(project), capture_output=True, text=True, timeout=300, check=False,
    )


def test_downstream_app_unchanged_under_vision_intercept_with_only_loopback(tmp_path):
    project = tmp_path / "downstream"
    shutil.copytree(HERE / "downstream_app", project)
    (project / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    result = run_in_namespace(project)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert re.search(r"\b10 passed\b", output), output[-3000:]
    refusal = re.search(r"^REFUSAL: (.*)$", output, re.MULTILINE)
    assert refusal is not None, output[-3000:]
    assert refusal.group(1).startswith("vision-contracts interception refused a connection to https://example.com:443")
    print(f"\nThe unknown-host refusal, as the downstream test printed it:\n{refusal.group(1)}")  # noqa: T201 (quoted in the closing note)
