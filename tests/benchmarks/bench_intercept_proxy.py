"""``vision-mock --intercept``'s cost, measured: one cached HF detection request through the proxy (a kept-alive
TLS tunnel with requests and httpx, a new CONNECT and TLS handshake per request, plain ``http://`` absolute form)
against the baseline of the same request sent straight to the mock's port, all in the same run, inside a network
namespace with only loopback up (the requests name the real host). Figures printed; no timing assertions.

Run: ``./dev bench -k intercept_proxy`` (or ``.venv/bin/python -m pytest tests/benchmarks/bench_intercept_proxy.py -s
-p no:cacheprovider -o python_files="bench_*.py"``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

MODEL = "facebook/detr-resnet-50"


def inner() -> None:
    """The measurement, run inside ``unshare -n`` by the test below."""
    import httpx
    import requests

    from vision_contracts.mockserver.testing import free_port, sample_image, serve_process

    from conftest import measure, report

    image = sample_image(32, 24)  # the same image each time: the response cache answers, so the path is measured
    real = f"https://router.huggingface.co/hf-inference/models/{MODEL}"
    ca_dir = tempfile.mkdtemp()
    proxy_port = free_port()
    args = ["--intercept", "--intercept-port", str(proxy_port), "--ca-dir", ca_dir, "--log-level", "warning"]
    with serve_process(args) as (base, _):
        proxy = f"http://127.0.0.1:{proxy_port}"
        ca = str(Path(ca_dir) / "ca.pem")
        direct = f"{base}/hf-inference/models/{MODEL}"
        rows = []
        with requests.Session() as s, httpx.Client(trust_env=False) as c, httpx.Client(proxy=proxy, verify=ca, trust_env=False) as t:
            s.trust_env = False
            rows.append(("baseline: requests session to the mock's port", measure(lambda: s.post(direct, data=image).raise_for_status())))
            rows.append(("httpx client to the mock's port", measure(lambda: c.post(direct, content=image).raise_for_status())))
            tunnel = {"proxies": {"https": proxy, "http": proxy}, "verify": ca, "timeout": 30}
            rows.append(("requests session, kept-alive TLS tunnel", measure(lambda: s.post(real, data=image, **tunnel).raise_for_status())))
            rows.append(("httpx client, kept-alive TLS tunnel", measure(lambda: t.post(real, content=image).raise_for_status())))
            rows.append(("requests, new CONNECT + TLS handshake each", measure(
                lambda: requests.post(real, data=image, timeout=30, proxies=tunnel["proxies"], verify=ca).raise_for_status())))
            rows.append(("requests session, plain http:// absolute form", measure(
                lambda: s.post(real.replace("https://", "http://"), data=image, **tunnel).raise_for_status())))
    report("one cached HF detection request through vision-mock --intercept", rows, "baseline: requests session to the mock's port")


def test_intercept_proxy_cost():
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode != 0:
        pytest.skip("needs unshare -n")
    here = Path(__file__).parent
    code = f"import sys; sys.path.insert(0, {str(here)!r}); import bench_intercept_proxy as b; b.inner()"
    proc = subprocess.run([unshare, "-n", "sh", "-c", f"ip link set lo up && exec {sys.executable} -c \"{code}\""],
                          capture_output=True, text=True, timeout=300, check=False)
    print(proc.stdout)
    assert proc.returncode == 0 and "kept-alive TLS tunnel" in proc.stdout, proc.stderr[-2000:]  # a report, not a timing assertion
