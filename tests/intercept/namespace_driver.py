"""Runs inside a network namespace with only loopback up (``unshare -n``; see test_intercept_process.py): starts
``vision-mock --intercept`` as a subprocess, runs the unchanged app and curl with ``vision-mock env``'s variables,
plays record and replay through the proxy, and writes everything it saw to ``OUT/results.json``."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from vision_contracts.mockserver.testing import free_port, sample_image, serve_process

OUT = Path(sys.argv[1])
HERE = Path(__file__).parent
APP = HERE / "unchanged_app.py"
DOWNSTREAM = HERE / "run_downstream_app.py"  # the downstream project's app (downstream_app/app.py), unchanged
CA_DIR = OUT / "ca"
DETR = "https://router.huggingface.co/hf-inference/models/facebook/detr-resnet-50"
SECRET = "hf_SECRET_in_app_token_42"
CURL = shutil.which("curl") or "curl"
OPENSSL = shutil.which("openssl") or "openssl"


def mock_env(port: int, intercept_port: int) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "vision_contracts.mockserver", "env", "--port", str(port),
                          "--intercept-port", str(intercept_port), "--ca-dir", str(CA_DIR)],
                         capture_output=True, text=True, check=True).stdout
    env = {}
    for line in out.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    return env


def app_env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "HF_TOKEN": SECRET, "HF_HOME": str(OUT / "hf-home"), "ROBOFLOW_API_KEY": "rf_app_key",
            "AIR_API_KEY": "air_app_key",
            "ROBOFLOW_CONFIG_DIR": str(OUT / "roboflow.json"), "PYTHONWARNINGS": "ignore"}


def run_app(env: dict[str, str], calls: str | None = None, script: Path = APP) -> dict[str, str]:
    proc = subprocess.run([sys.executable, str(script), str(OUT / "image.png"), *([calls] if calls else [])],
                          capture_output=True, text=True, env=app_env(env), timeout=180, check=False)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "{}"
    return json.loads(last) if last.startswith("{") else {"__app__": f"error: rc={proc.returncode} {proc.stderr[-800:]}"}


def curl(env: dict[str, str], *args: str) -> dict[str, object]:
    proc = subprocess.run([CURL, "-sS", "-m", "20", *args], capture_output=True, env=app_env(env), timeout=60, check=False)
    return {"rc": proc.returncode, "out": proc.stdout.decode("utf-8", "replace"), "err": proc.stderr.decode("utf-8", "replace")}


def journal(base: str) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = httpx.get(base + "/__vision__/journal", timeout=10).json()["entries"]
    return entries


def main() -> None:
    (OUT / "image.png").write_bytes(sample_image(96, 64))
    results: dict[str, object] = {}
    log = OUT / "server.log"
    proxy = free_port()
    with serve_process(["--intercept", "--intercept-port", str(proxy), "--ca-dir", str(CA_DIR), "--log-level", "warning"],
                       log=log) as (base, _proc):
        port = int(base.rsplit(":", 1)[1])
        env = mock_env(port, proxy)
        results["env"] = env
        results["app"] = run_app(env)
        results["downstream_app"] = run_app(env, script=DOWNSTREAM)
        results["curl_provider"] = curl(env, DETR, "-H", "content-type: image/png", "--data-binary", f"@{OUT / 'image.png'}")
        results["curl_refused_https"] = curl(env, "-i", "https://example.com/")
        results["curl_refused_http"] = curl(env, "-i", "http://example.com/")
        (OUT / "image.b64").write_bytes(base64.b64encode(sample_image(96, 64)))
        results["curl_plain_http_provider"] = curl(env, "-i", "http://segment.roboflow.com/street-scenes/4?api_key=rf_k",
                                                   "--data-binary", f"@{OUT / 'image.b64'}")
        untrusting = {**env, "CURL_CA_BUNDLE": env["SSL_CERT_FILE"].replace("bundle.pem", "no-such-bundle.pem")}
        results["curl_untrusting"] = curl(untrusting, "--cacert", "/etc/ssl/certs/ca-certificates.crt",
                                          "https://segment.roboflow.com/street-scenes/4")
        results["ca_pem_route"] = httpx.get(base + "/__vision__/ca.pem", timeout=10).text
        results["admin_through_proxy"] = curl(env, "-i", "https://router.huggingface.co/__vision__/journal")
        results["journal"] = journal(base)
    results["server_log"] = log.read_text()
    results["openssl_text"] = subprocess.run([OPENSSL, "x509", "-in", str(CA_DIR / "ca.pem"), "-text", "-noout"],
                                             capture_output=True, text=True, check=True).stdout
    results["record_replay"] = record_then_replay()
    (OUT / "results.json").write_text(json.dumps(results, indent=1))


def record_then_replay() -> dict[str, object]:
    """An unchanged app recorded through --intercept --upstream (a second mock on loopback plays the provider),
    then answered from the recording by --intercept --replay with no upstream at all."""
    recordings = OUT / "recordings"
    out: dict[str, object] = {}
    calls = "plain_requests,hf_default_provider"
    with serve_process(["--seed", "7"]) as (upstream, _):
        proxy = free_port()
        with serve_process(["--intercept", "--intercept-port", str(proxy), "--ca-dir", str(CA_DIR), "--seed", "99",
                            "--upstream", f"huggingface={upstream}", "--record", str(recordings)]) as (base, _):
            env = mock_env(int(base.rsplit(":", 1)[1]), proxy)
            out["recorded"] = run_app(env, calls)
            out["recorded_journal"] = journal(base)
        out["upstream_journal"] = journal(upstream)
    out["files"] = sorted(p.name for p in recordings.iterdir())
    out["recordings_text"] = "".join(p.read_text(errors="replace") for p in recordings.glob("*.har"))
    proxy = free_port()
    with serve_process(["--intercept", "--intercept-port", str(proxy), "--ca-dir", str(CA_DIR), "--seed", "99",
                        "--replay", str(recordings)]) as (base, _):
        env = mock_env(int(base.rsplit(":", 1)[1]), proxy)
        out["replayed"] = run_app(env, calls)
        out["replayed_journal"] = journal(base)
    return out


if __name__ == "__main__":
    main()
