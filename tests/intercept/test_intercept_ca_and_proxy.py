"""The intercept CA (name constraints that bite, key mode, reuse) and the proxy's handling of bad input, in-process:
the proxy runs in a thread's event loop in front of a mock served on loopback. Nothing here resolves a name or
connects anywhere but 127.0.0.1: provider names travel only inside CONNECT lines and TLS SNI to the local proxy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from vision_contracts.mockserver import Config
from vision_contracts.mockserver._intercept.ca import Authority
from vision_contracts.mockserver._intercept.proxy import InterceptProxy, ProxyTimeouts
from vision_contracts.mockserver._intercept_hosts import InterceptHosts, intercepted_hosts
from vision_contracts.mockserver.testing import sample_image, serve

HOSTS = tuple(intercepted_hosts())
PNG = sample_image(96, 64)
OPENSSL = shutil.which("openssl") or "openssl"


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("ca"), HOSTS)


@pytest.fixture(scope="module")
def mock() -> Iterator[str]:
    with serve(Config(port=0, intercept=True, intercept_port=1)) as url:
        yield url


@contextlib.contextmanager
def running(proxy: InterceptProxy) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.Server] = {}

    def main() -> None:
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(proxy.start("127.0.0.1", 0))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["server"].sockets[0].getsockname()[1]
    finally:
        loop.call_soon_threadsafe(holder["server"].close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.fixture(scope="module")
def proxy_port(authority: Authority, mock: str) -> Iterator[int]:
    port = int(mock.rsplit(":", 1)[1])
    policy = InterceptHosts(how_to_allow="start vision-mock with --passthrough {host}")
    with running(InterceptProxy(policy, authority, ("127.0.0.1", port), ProxyTimeouts(head=0.5, handshake=2, idle=10))) as p:
        yield p


def _exchange(port: int, data: bytes, *, wait: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def _connect(port: int, host: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 200 "), head
    return s


def _tls_request(port: int, host: str, context: ssl.SSLContext, request: bytes) -> bytes:
    with context.wrap_socket(_connect(port, host), server_hostname=host) as tls:
        tls.sendall(request)
        data = b""
        with contextlib.suppress(TimeoutError, ssl.SSLError):
            while chunk := tls.recv(65536):
                data += chunk
        return data


# --- the CA ------------------------------------------------------------------------------------------------------

def test_the_private_key_is_0600_and_a_second_authority_reuses_the_ca(authority: Authority):
    assert stat.S_IMODE(authority.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(authority.folder.stat().st_mode) == 0o700
    again = Authority(authority.folder, HOSTS)
    assert again.cert_pem() == authority.cert_pem()
    assert b"PRIVATE" not in authority.cert_pem() and b"PRIVATE" not in authority.bundle_path.read_bytes()


def _openssl_verify(authority: Authority, host: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    leaf = tmp_path / f"{host}.pem"
    leaf.write_bytes(authority.leaf(host).public_bytes(serialization.Encoding.PEM))
    return subprocess.run([OPENSSL, "verify", "-CAfile", str(authority.cert_path), "-purpose", "sslserver", str(leaf)],
                          capture_output=True, text=True, check=False)


def test_openssl_accepts_a_leaf_for_an_intercepted_host(authority: Authority, tmp_path: Path):
    result = _openssl_verify(authority, "router.huggingface.co", tmp_path)
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result


@pytest.mark.parametrize("host", ["example.com", "accounts.google.com", "huggingface.co.evil.example"])
def test_the_name_constraints_bite_a_leaf_for_another_name_is_rejected_though_the_ca_signed_it(authority, tmp_path, host):
    result = _openssl_verify(authority, host, tmp_path)
    assert result.returncode != 0
    assert "permitted subtree violation" in result.stdout + result.stderr, result


def test_python_ssl_rejects_a_tls_server_for_another_name_signed_by_the_ca(authority: Authority, tmp_path: Path):
    """The same proof with the client an app uses: a server presenting the CA's leaf for example.com fails
    verification in Python's ssl (OpenSSL), even when the client asks for exactly that name."""
    server_ctx = authority.server_context("example.com")
    client_ctx = ssl.create_default_context(cafile=str(authority.cert_path))
    listener = socket.create_server(("127.0.0.1", 0))
    outcome: dict[str, BaseException] = {}

    def accept() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError):
            server_ctx.wrap_socket(conn, server_side=True).close()
        conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    with socket.create_connection(listener.getsockname(), timeout=5) as raw:
        try:
            client_ctx.wrap_socket(raw, server_hostname="example.com")
        except ssl.SSLCertVerificationError as exc:
            outcome["error"] = exc
    thread.join(5)
    listener.close()
    assert "error" in outcome and "permitted subtree violation" in str(outcome["error"])


# --- the proxy ---------------------------------------------------------------------------------------------------

def test_a_trusting_client_gets_the_mock_through_connect(proxy_port: int, authority: Authority, mock: str):
    context = ssl.create_default_context(cafile=str(authority.cert_path))
    request = (b"POST /hf-inference/models/facebook/detr-resnet-50 HTTP/1.1\r\nHost: router.huggingface.co\r\n"
               b"content-type: image/png\r\nconnection: close\r\ncontent-length: " + str(len(PNG)).encode() + b"\r\n\r\n" + PNG)
    answer = _tls_request(proxy_port, "router.huggingface.co", context, request)
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:300]
    last = httpx.get(mock + "/__vision__/journal", timeout=10).json()["entries"][-1]
    assert last["host"] == "router.huggingface.co" and last["status"] == 200


def test_leaf_contexts_are_cached_per_host(authority: Authority):
    assert authority.server_context("segment.roboflow.com") is authority.server_context("segment.roboflow.com")


def test_an_untrusting_client_fails_the_handshake_and_one_line_is_logged(proxy_port, caplog):
    caplog.set_level(logging.WARNING, logger="vision_contracts.mockserver.intercept")
    with pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(_connect(proxy_port, "segment.roboflow.com"), server_hostname="segment.roboflow.com")
    deadline = time.monotonic() + 5
    while not caplog.records and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = [r for r in caplog.records if r.name == "vision_contracts.mockserver.intercept"]
    message = record.getMessage()
    assert "segment.roboflow.com:443" in message and "vision-mock env" in message and "\n" not in message
    assert record.exc_info is None


@pytest.mark.parametrize(("data", "expected"), [
    (b"CONNECT huggingface.co HTTP/1.1\r\n\r\n", b"A CONNECT target must be host:port"),
    (b"CONNECT huggingface.co:99999 HTTP/1.1\r\n\r\n", b"A CONNECT target must be host:port"),
    (b"CONNECT a b c\r\n\r\n", b"Expected a request line 'METHOD TARGET HTTP/1.1'"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", b"Expected a request line"),
    (b"GET /hf-inference/models/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"This port is vision-mock's forward proxy"),
    (b"GET ftp://huggingface.co/x HTTP/1.1\r\n\r\n", b"This port is vision-mock's forward proxy"),
    (b"GET http://[::1/x HTTP/1.1\r\n\r\n", b"The request line's URL is malformed"),
    (b"GET http://huggingface.co:99999/x HTTP/1.1\r\n\r\n", b"bad port"),
    (b"CONNECT [zz]:443 HTTP/1.1\r\n\r\n", b"A CONNECT target must be host:port"),
    (b"\r\n\r\n", b"Expected a request line"),
])
def test_malformed_heads_get_400_with_a_sentence(proxy_port: int, data: bytes, expected: bytes):
    answer = _exchange(proxy_port, data)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:200]
    assert expected in answer


def test_a_refused_host_gets_403_and_no_tunnel(proxy_port: int):
    answer = _exchange(proxy_port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert b"refused a connection to https://example.com:443" in answer and b"--passthrough example.com" in answer
    assert answer.endswith(b"\n") and b"200 Connection Established" not in answer


def test_a_slowloris_head_is_cut_off(proxy_port: int):
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=5) as s:
        s.sendall(b"CONNECT huggingface.co:4")  # and never more
        answer = s.recv(4096)  # the server's 408 (its head timeout), or socket.timeout if it never cut the head off
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer


def test_an_oversized_head_gets_431(proxy_port: int):
    answer = _exchange(proxy_port, b"CONNECT huggingface.co:443 HTTP/1.1\r\nx-pad: " + b"a" * 20000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_loopback_is_tunnelled_unread(proxy_port: int, mock: str):
    port = int(mock.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as s:
        s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\nGET /__vision__/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK")
    assert b'"status":"ok"' in data


def test_the_proxy_survives_all_of_it(proxy_port: int, authority: Authority):
    context = ssl.create_default_context(cafile=str(authority.cert_path))
    answer = _tls_request(proxy_port, "huggingface.co", context,
                          b"GET /api/models/facebook/detr-resnet-50?expand[]=inferenceProviderMapping HTTP/1.1\r\n"
                          b"Host: huggingface.co\r\nconnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"hf-inference" in answer


def test_the_ca_route_needs_intercept(mock: str):
    assert httpx.get(mock + "/__vision__/ca.pem", timeout=10).text.startswith("-----BEGIN CERTIFICATE-----")
    with serve(Config(port=0)) as plain:
        refused = httpx.get(plain + "/__vision__/ca.pem", timeout=10)
    assert refused.status_code == 404 and "without --intercept" in refused.json()["detail"]


# --- configuration -----------------------------------------------------------------------------------------------

def test_passthrough_hosts_are_allowed_by_the_shared_decision_and_others_refused():
    from vision_contracts.mockserver._intercept.service import host_policy

    policy = host_policy(Config(intercept=True, passthrough=("internal.test",)))
    assert policy.decide("https", "internal.test", 443).action == "allowed"
    assert policy.decide("https", "router.huggingface.co", 443).action == "mock"
    assert policy.decide("https", "localhost", 8443).action == "loopback"
    refused = policy.decide("https", "other.test", 443)
    assert refused.action == "refuse" and "start vision-mock with --passthrough other.test" in (refused.message or "")


@pytest.mark.parametrize(("values", "sentence"), [
    ({"intercept": True, "workers": 2}, "it needs workers 1"),
    ({"intercept": True, "intercept_port": 70000}, "intercept_port must lie between 0 and 65535"),
    ({"intercept": True, "port": 0}, "intercept needs intercept_port"),
])
def test_unusable_intercept_settings_are_refused_with_a_sentence(values, sentence):
    from vision_contracts.mockserver import ConfigError

    with pytest.raises(ConfigError, match=sentence):
        Config(**values)


def test_the_cli_reads_the_intercept_options(tmp_path: Path):
    from vision_contracts.mockserver._config import parse_args

    config = parse_args(["--intercept", "--intercept-port", "9001", "--ca-dir", str(tmp_path), "--passthrough", "a.test",
                         "--passthrough", "b.test"])
    assert (config.intercept, config.intercept_port, config.ca_dir, config.passthrough) == (True, 9001, str(tmp_path), ("a.test", "b.test"))


def test_random_heads_get_a_4xx_or_403_and_nothing_escapes_as_an_unhandled_error(proxy_port: int, caplog):
    import random

    caplog.set_level(logging.ERROR, logger="asyncio")
    rng = random.Random(17)
    pieces = [b"CONNECT ", b"GET ", b"http://", b"huggingface.co", b"[", b"]", b":", b"443", b"99999", b"/", b" HTTP/1.1",
              b"\r\n", b"\x00", b"\xff", b"%", b"@", b"example.com", b"::1", b"Host: x\r\n"]
    statuses = set()
    for _ in range(150):
        head = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) + b"\r\n\r\n"
        answer = _exchange(proxy_port, head, wait=3)
        statuses.add(answer[9:12])
        assert answer[9:12] in (b"400", b"403", b"502") or answer.startswith(b"HTTP/1.1 200 Connection Established"), (head, answer[:200])
    assert b"400" in statuses
    assert not [r for r in caplog.records if r.name == "asyncio"], [r.getMessage() for r in caplog.records]
