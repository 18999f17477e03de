"""``vision-mock --intercept`` as a user runs it: the server and every client are subprocesses inside a network
namespace with only loopback up (``unshare -n``), so a request that escaped the proxy could reach nothing.

One run of ``namespace_driver.py`` (about 15 s) gathers what the tests below judge: the unchanged app and curl with
``vision-mock env``'s variables, a refused host, an untrusting client, the admin plane through the proxy, the CA as
OpenSSL reads it, and record then replay through the proxy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
PROVIDER_HOSTS = {"router.huggingface.co", "huggingface.co", "segment.roboflow.com", "api.airefinery.accenture.com"}
ANSWERED = ["hf_default_provider", "hf_async_default_provider", "plain_requests", "plain_httpx", "aiohttp_trust_env",
            "roboflow_sdk", "inference_sdk", "airefinery_sdk"]


UNSHARE = shutil.which("unshare")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "intercept"


def _namespaces_work() -> bool:
    if UNSHARE is None or shutil.which("curl") is None or shutil.which("openssl") is None:
        return False
    return subprocess.run([UNSHARE, "-n", "sh", "-c", "ip link set lo up"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not _namespaces_work():
        pytest.fail("These tests need `unshare -n` (root or user namespaces), `ip`, curl and openssl: ./dev test installs "
                    "util-linux, iproute2, curl and openssl; run it as root or install them.")
    out = tmp_path_factory.mktemp("intercept")
    proc = subprocess.run([str(UNSHARE), "-n", "sh", "-c", f"ip link set lo up && exec {sys.executable} {HERE / 'namespace_driver.py'} {out}"],
                          capture_output=True, text=True, timeout=400, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results: dict = json.loads((out / "results.json").read_text())
    return results


def test_env_prints_the_proxy_and_the_ca(run):
    env = run["env"]
    proxy = env["HTTPS_PROXY"]
    assert re.fullmatch(r"http://127\.0\.0\.1:[0-9]+", proxy)
    assert env["HTTP_PROXY"] == env["http_proxy"] == env["https_proxy"] == proxy
    assert env["NO_PROXY"] == "localhost,127.0.0.1,::1"
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == env["CURL_CA_BUNDLE"]
    assert env["SSL_CERT_FILE"].endswith("bundle.pem") and env["NODE_EXTRA_CA_CERTS"].endswith("ca.pem")


def test_the_unchanged_app_is_answered_by_every_client_that_honours_the_variables(run):
    app = run["app"]
    assert {name: app[name][:6] for name in ANSWERED} == dict.fromkeys(ANSWERED, "ok: [{") | {
        "roboflow_sdk": "ok: {\"", "inference_sdk": "ok: {\"", "airefinery_sdk": "ok: {\""}, app
    # aiohttp reads no proxy variable unless trust_env=True: it tried DNS, which the namespace does not have
    assert app["aiohttp_default"].startswith("error: ClientConnectorDNSError"), app["aiohttp_default"]


def test_the_journal_shows_the_real_hosts(run):
    hosts = {entry["host"] for entry in run["journal"]}
    assert hosts >= PROVIDER_HOSTS
    hub = [e for e in run["journal"] if e["host"] == "huggingface.co" and e["path"] == "/api/models/facebook/detr-resnet-50"]
    assert len(hub) == 4  # the default provider's model-info call, sync and async, from each of the two apps
    detr = [e for e in run["journal"] if e["path"] == "/hf-inference/models/facebook/detr-resnet-50"]
    assert all(e["host"] == "router.huggingface.co" and e["status"] == 200 for e in detr) and len(detr) >= 5


def test_curl_through_the_proxy_is_answered(run):
    answer = run["curl_provider"]
    assert answer["rc"] == 0, answer
    detections = json.loads(answer["out"])
    assert detections and {"score", "label", "box"} == set(detections[0])


def test_plain_http_absolute_form_is_answered_by_the_mock(run):
    out = run["curl_plain_http_provider"]["out"]
    assert out.startswith("HTTP/1.1 200 "), out[:300]
    assert '"segmentation_mask"' in out


def test_a_non_provider_host_is_refused_with_a_sentence_and_no_tunnel(run):
    https = run["curl_refused_https"]
    assert https["out"].startswith("HTTP/1.1 403 Forbidden") and "CONNECT tunnel failed, response 403" in https["err"]
    http = run["curl_refused_http"]["out"]
    assert http.startswith("HTTP/1.1 403 Forbidden")
    assert "refused a connection to http://example.com:80" in http and "--passthrough example.com" in http
    assert not any("example.com" in str(e.get("host")) for e in run["journal"])  # never reached the mock either


def test_an_untrusting_client_fails_its_handshake_and_the_server_says_why_in_one_line(run):
    assert run["curl_untrusting"]["rc"] == 60  # curl: peer certificate cannot be authenticated
    lines = [line for line in run["server_log"].splitlines() if "did not complete TLS" in line]
    assert len(lines) == 1, run["server_log"]
    assert "segment.roboflow.com:443" in lines[0] and "vision-mock env" in lines[0] and "ca.pem" in lines[0]
    assert "Traceback" not in run["server_log"] and "PRIVATE KEY" not in run["server_log"]


def test_the_admin_plane_is_not_reachable_by_an_intercepted_host_name(run):
    out = run["admin_through_proxy"]["out"]
    assert "HTTP/1.1 403 Forbidden" in out and "router.huggingface.co" in out


def test_the_ca_route_serves_the_public_certificate_only(run):
    pem = run["ca_pem_route"]
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE" not in pem


def test_the_ca_is_name_constrained_to_the_intercepted_hosts(run):
    text = run["openssl_text"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "ca-openssl-x509-text.txt").write_text(text)  # openssl x509 -text -noout of the CA, for the record
    assert re.search(r"X509v3 Name Constraints: critical\n\s+Permitted:\n", text), text
    permitted = re.search(r"Permitted:\n((?:\s+DNS:\S+\n)+)", text)
    assert permitted is not None
    assert {line.strip().removeprefix("DNS:") for line in permitted.group(1).splitlines()} == {
        "api-inference.huggingface.co", "api.airefinery.accenture.com", "huggingface.co", "router.huggingface.co",
        "segment.roboflow.com"}
    assert re.search(r"Excluded:\n\s+IP:0\.0\.0\.0/0\.0\.0\.0\n", text)
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE" in text
    assert "X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign, CRL Sign" in text


def test_record_through_the_proxy_then_replay_without_the_upstream(run):
    rr = run["record_replay"]
    calls = ["plain_requests", "hf_default_provider"]
    assert all(rr["recorded"][c].startswith("ok: [") for c in calls), rr["recorded"]
    assert rr["replayed"] == rr["recorded"]  # the upstream's (seed 7) answers, replayed by a server with seed 99
    assert len(rr["upstream_journal"]) == 2 and rr["files"], rr["files"]
    assert "hf_SECRET_in_app_token_42" not in rr["recordings_text"]
    assert {e["host"] for e in rr["replayed_journal"]} == {"router.huggingface.co", "huggingface.co"}


def test_the_downstream_projects_app_run_unchanged_through_the_proxy(run):
    """downstream_app/app.py (what vision_intercept answers in-process) as its own process: every call over
    httpx2, httpx and requests is answered; the three over aiohttp's default ``trust_env=False`` (the app's plain
    aiohttp call, inference-sdk's ``infer_async``, ``AsyncAIRefinery``) read no proxy variable, so they try DNS,
    which the namespace lacks: the README says so and what to do."""
    app = run["downstream_app"]
    answered = {"hf_detect", "hf_segment", "hf_detect_async", "roboflow_inference_sdk", "roboflow_package",
                "airefinery_segment", "plain_httpx", "plain_requests"}
    assert {name for name, result in app.items() if result.startswith("ok: ")} == answered, app
    assert app["plain_httpx"] == app["plain_requests"] == "ok: HTTP 200"
    for name in ("plain_aiohttp", "roboflow_inference_sdk_async", "airefinery_segment_async"):
        assert "Could not contact DNS servers" in app[name], app[name]
