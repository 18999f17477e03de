"""The pure interception decision shared by vision_intercept and the proxy: mock, loopback, allowed or refuse."""

from __future__ import annotations

import pytest

from vision_contracts import contracts
from vision_contracts.mockserver._intercept_hosts import InterceptHosts, intercepted_hosts, is_loopback

ADVICE = 'mark the test @pytest.mark.vision_allow_hosts("{host}")'


def test_intercepted_hosts_are_the_contracts_hosts_plus_the_hub():
    from_contracts = {h for p, o in contracts.operations() for h in contracts.get(p, o).index["hosts"]}
    hosts = intercepted_hosts()
    assert set(hosts) == from_contracts | {"huggingface.co"}
    assert hosts["router.huggingface.co"] == ("huggingface",)
    assert hosts["huggingface.co"] == ("huggingface-hub",)
    assert hosts["segment.roboflow.com"] == ("roboflow",)


@pytest.mark.parametrize("host", ["router.huggingface.co", "ROUTER.huggingface.co.", "api.airefinery.accenture.com", "huggingface.co"])
def test_provider_hosts_are_mocked_on_any_port(host):
    for port in (443, 80, 8443):
        decision = InterceptHosts().decide("https", host, port)
        assert decision.action == "mock" and decision.providers


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
def test_loopback_passes(host):
    assert InterceptHosts().decide("http", host, 8000).action == "loopback"
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "169.254.169.254", "::ffff:10.0.0.1", "hub.huggingface.co", "huggingface.co.evil.com"])
def test_other_hosts_are_refused_with_a_sentence_naming_host_and_remedy(host):
    decision = InterceptHosts(how_to_allow=ADVICE).decide("https", host, 443)
    assert decision.action == "refuse"
    assert decision.message is not None
    name = host.lower()
    assert f"refused a connection to https://{name}:443" in decision.message
    assert f'@pytest.mark.vision_allow_hosts("{name}")' in decision.message
    assert "router.huggingface.co" in decision.message


def test_allowed_hosts_exact_and_wildcard():
    hosts = InterceptHosts().with_allowed(["example.com", "*.internal.test"])
    assert hosts.decide("https", "example.com", 443).action == "allowed"
    assert hosts.decide("https", "api.internal.test", 443).action == "allowed"
    assert hosts.decide("https", "internal.test", 443).action == "refuse"
    assert hosts.decide("https", "www.example.com", 443).action == "refuse"
