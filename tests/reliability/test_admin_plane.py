"""The admin plane (/__vision__) locked: a bearer admin token compared in constant time, the server's own Host only
(DNS rebinding), no state-changing call from a foreign Origin (CSRF), and no start on a non-loopback address without
a token. Probe rows of issue 10: "--host 0.0.0.0" (no warning, no admin authentication) and "loopback server"
(POST /__vision__/reset with a foreign Host or Origin answered 200).
"""

from __future__ import annotations

import hmac
import subprocess
import sys

import httpx
import pytest

from vision_contracts.mockserver import Config, _auth
from vision_contracts.mockserver._adminauth import ADMIN_TOKEN_ENV, exposure_problem, is_loopback_host
from vision_contracts.mockserver._config import parse_args
from vision_contracts.mockserver.testing import free_port, serve

from reliability_support import raw_http

TOKEN = "adm_Pl4ne-T0ken-0xA11CE"
AUTH = {"authorization": f"Bearer {TOKEN}"}
RULE = {"scenario": "server-error", "provider": "roboflow"}


@pytest.fixture(scope="module")
def locked_url():
    with serve(Config(port=0, admin_token=TOKEN)) as url:
        yield url


@pytest.fixture
def locked(locked_url):
    with httpx.Client(base_url=locked_url, timeout=15) as client:
        client.post("/__vision__/reset", headers=AUTH)
        yield client


def _port(client: httpx.Client) -> int:
    return int(str(client.base_url).rstrip("/").rsplit(":", 1)[1])


def _rules(client: httpx.Client) -> list:
    return client.get("/__vision__/scenarios", headers=AUTH).json()["rules"]


# --- the token ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN},
                                     {"authorization": f"Basic {TOKEN}"}, {"authorization": f"Bearer {TOKEN[:-1]}"},
                                     {"authorization": "Bearer"}, {"x-admin-token": TOKEN}])
@pytest.mark.parametrize(("method", "path"), [("GET", "/__vision__/journal"), ("GET", "/__vision__/config"),
                                              ("GET", "/__vision__/scenarios"), ("POST", "/__vision__/reset"),
                                              ("DELETE", "/__vision__/journal"), ("GET", "/__vision__/no-such-endpoint")])
def test_every_admin_call_without_the_token_gets_401_with_a_sentence(locked, headers, method, path):
    r = locked.request(method, path, headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    detail = r.json()["detail"]
    assert "Authorization: Bearer" in detail and "--admin-token" in detail and detail.endswith(".")
    assert TOKEN not in r.text


def test_the_token_opens_every_admin_call_and_the_scheme_is_case_insensitive(locked):
    assert locked.post("/__vision__/scenarios", json=RULE, headers=AUTH).status_code == 201
    assert locked.get("/__vision__/journal", headers={"authorization": f"bearer {TOKEN}"}).status_code == 200
    assert len(_rules(locked)) == 1
    assert locked.post("/__vision__/reset", headers=AUTH).status_code == 200
    assert _rules(locked) == []


def test_an_unauthenticated_reset_changes_nothing(locked):
    locked.post("/__vision__/scenarios", json=RULE, headers=AUTH)
    assert locked.post("/__vision__/reset").status_code == 401
    assert locked.delete("/__vision__/scenarios").status_code == 401
    assert len(_rules(locked)) == 1


def test_health_stays_open_for_probes_and_tells_no_secret(locked):
    r = locked.get("/__vision__/health", headers={"host": "lb-probe.internal"})
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert TOKEN not in r.text
    assert locked.post("/__vision__/health").status_code in (401, 405)  # only reads are open


def test_a_doubled_slash_does_not_slip_past_the_guard(locked):
    r = raw_http(str(locked.base_url), "GET", "//__vision__/journal", [])
    assert r.status_code == 401


def test_the_config_endpoint_redacts_the_admin_token(locked):
    r = locked.get("/__vision__/config", headers=AUTH)
    assert r.status_code == 200 and r.json()["admin_token"] == "set, redacted" and TOKEN not in r.text


def test_the_admin_token_is_compared_with_compare_digest(locked, monkeypatch):
    seen: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(_auth.hmac, "compare_digest", spy)
    assert locked.get("/__vision__/journal", headers={"authorization": "Bearer guess"}).status_code == 401
    assert (b"guess", TOKEN.encode()) in seen


# --- Host and Origin (DNS rebinding, CSRF) -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def open_url():
    with serve(Config(port=0)) as url:  # loopback, no token: the default developer setup
        yield url


@pytest.fixture
def loopback(open_url):
    with httpx.Client(base_url=open_url, timeout=15) as client:
        client.post("/__vision__/reset")
        client.post("/__vision__/scenarios", json=RULE)
        yield client


@pytest.mark.parametrize("host", ["rebind.evil.example", "rebind.evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "localhost:1", "127.0.0.1", "10.0.0.7:{port}", "[::2]:{port}", "", "a b"])
def test_the_probe_reset_with_a_foreign_host_is_refused_403(loopback, host):
    r = loopback.post("/__vision__/reset", headers={"host": host.format(port=_port(loopback))})
    assert r.status_code in (403, 400), r.text  # 400: h11 refuses a malformed Host before the app sees it
    if r.status_code == 403:
        assert "DNS rebinding" in r.json()["detail"]
    assert len(_rules(loopback)) == 1  # nothing was reset


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"])
def test_the_servers_own_names_with_its_port_are_served(loopback, host):
    assert loopback.get("/__vision__/journal", headers={"host": host.format(port=_port(loopback))}).status_code == 200


def test_reads_with_a_foreign_host_are_refused_too(loopback):
    r = loopback.get("/__vision__/journal", headers={"host": "rebind.evil.example"})
    assert r.status_code == 403


@pytest.mark.parametrize("origin", ["http://evil.example", "https://evil.example", "null", "http://localhost:1",
                                    "http://127.0.0.1.evil.example", "file://", "chrome-extension://abc"])
@pytest.mark.parametrize(("method", "path", "body"), [("POST", "/__vision__/reset", None),
                                                      ("POST", "/__vision__/scenarios", RULE),
                                                      ("DELETE", "/__vision__/scenarios", None),
                                                      ("DELETE", "/__vision__/journal", None)])
def test_the_probe_state_changes_from_a_foreign_origin_are_refused_403(loopback, origin, method, path, body):
    r = loopback.request(method, path, json=body, headers={"origin": origin})
    assert r.status_code == 403, r.text
    assert "another origin" in r.json()["detail"]
    assert len(_rules(loopback)) == 1


def test_same_origin_and_originless_writes_and_foreign_origin_reads_are_served(loopback):
    port = _port(loopback)
    assert loopback.post("/__vision__/scenarios", json=RULE, headers={"origin": f"http://127.0.0.1:{port}"}).status_code == 201
    assert loopback.get("/__vision__/journal", headers={"origin": "http://evil.example"}).status_code == 200
    assert loopback.post("/__vision__/reset").status_code == 200


def test_an_unspecified_bind_address_is_no_name_of_the_server():
    """Bound to 0.0.0.0 (with a token), a request reaching 127.0.0.1 is served by that name, not by ``0.0.0.0``: some
    browsers send a page's requests for http://0.0.0.0:PORT to the loopback interface."""
    from vision_contracts.mockserver._adminauth import HostPolicy

    policy = HostPolicy(Config(host="0.0.0.0", port=8000, admin_token="t"), {"server": ("127.0.0.1", 8000)})
    assert policy.allows("127.0.0.1:8000") and not policy.allows("0.0.0.0:8000")
    assert not HostPolicy(Config(host="::", admin_token="t"), {"server": ("::1", 8000)}).allows("[::]:8000")


def test_admin_host_accepts_a_load_balancers_name():
    with serve(Config(port=0, admin_token=TOKEN, admin_hosts=("mock.ci.internal",))) as url, \
            httpx.Client(base_url=url, timeout=15) as client:
        assert client.get("/__vision__/journal", headers={**AUTH, "host": "mock.ci.internal"}).status_code == 200
        assert client.get("/__vision__/journal", headers={**AUTH, "host": "other.internal"}).status_code == 403


def test_admin_host_values_are_checked():
    from vision_contracts.mockserver import ConfigError

    with pytest.raises(ConfigError, match="admin_hosts"):
        Config(admin_hosts=("http://x/",))


# --- refusing to start exposed -----------------------------------------------------------------------------------

def test_the_probe_a_non_loopback_bind_without_a_token_refuses_to_start():
    """``--host 0.0.0.0`` exits before binding anything, with a sentence saying why and what to do."""
    proc = subprocess.run([sys.executable, "-m", "vision_contracts.mockserver", "--host", "0.0.0.0", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    message = proc.stderr
    assert "--admin-token" in message and "--insecure-admin" in message and "0.0.0.0" in message
    assert "journal" in message  # says why


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.1.2.3"])
def test_exposure_needs_a_token_or_the_insecure_flag(host):
    assert exposure_problem(Config(host=host)) is not None
    assert exposure_problem(Config(host=host, admin_token="t")) is None
    assert exposure_problem(Config(host=host, insecure_admin=True)) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
def test_loopback_binds_need_nothing(host):
    assert is_loopback_host(host)
    assert exposure_problem(Config(host=host)) is None


def test_serve_refuses_an_exposed_bind_before_binding():
    with pytest.raises(RuntimeError, match="--admin-token"), serve(Config(host="0.0.0.0", port=0)):
        pass


def test_the_admin_token_comes_from_the_flag_the_config_or_the_environment(tmp_path, monkeypatch):
    assert parse_args(["--admin-token", "a"]).admin_token == "a"
    (tmp_path / "c.json").write_text('{"admin_token": "b"}')
    assert parse_args(["--config", str(tmp_path / "c.json")]).admin_token == "b"
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "c")
    assert parse_args([]).admin_token == "c"
    assert parse_args(["--config", str(tmp_path / "c.json")]).admin_token == "b"
    assert parse_args(["--insecure-admin", "--admin-host", "lb:8000"]).admin_hosts == ("lb:8000",)


def test_the_plugins_restated_names_match_the_servers():
    from vision_contracts.mockserver import ADMIN_PREFIX, _adminauth
    from vision_contracts.plugin import _fixtures

    assert _adminauth.ADMIN_PREFIX == ADMIN_PREFIX
    assert _fixtures.ADMIN_TOKEN_ENV == ADMIN_TOKEN_ENV
