"""A forwarded client address is believed only from TRUSTED_PROXIES: the rule, and real web
processes with and without a trusted proxy in front (here the test itself plays it)."""

import ipaddress

import pytest

import config
from api.client_address import resolved
from tests.api.client import Client, error_of
from tests.api.conftest import api_key, signed_up, start_web

LOOPBACK = (ipaddress.ip_network("127.0.0.1"),)
PROXIES = (ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8::/64"))


@pytest.mark.parametrize("peer, forwarded, client", [
    ("203.0.113.9", "198.51.100.7", "203.0.113.9"),             # an untrusted peer: itself
    ("10.0.0.5", "198.51.100.7", "198.51.100.7"),               # through one proxy
    ("10.0.0.5", "1.2.3.4, 198.51.100.7", "198.51.100.7"),      # a forged hop, left of it
    ("10.0.0.5", "198.51.100.7, 10.0.0.6", "198.51.100.7"),     # through two proxies
    ("10.0.0.5", "", "10.0.0.5"),                                # a proxy's own request
    ("10.0.0.5", "garbage, 10.0.0.6", "10.0.0.6"),               # nonsense ends the walk
    ("10.0.0.5", "[2001:db8:1::7]:443", "2001:db8:1::7"),
    ("::ffff:10.0.0.5", "198.51.100.7:5000", "198.51.100.7"),   # IPv4 on an IPv6 socket
    ("2001:db8::1", "::ffff:198.51.100.7", "198.51.100.7"),
])
def test_the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy(peer, forwarded,
                                                                          client):
    assert resolved(peer, forwarded, PROXIES) == client


def test_with_no_trusted_proxy_the_header_is_never_read():
    assert resolved("10.0.0.5", "198.51.100.7", ()) == "10.0.0.5"


@pytest.mark.parametrize("raw, error", [("10.0.0.1/8", "host bits"), ("nginx", "10.0.0.5"),
                                        (" ".join(["10.0.0.1"] * 51), "at most 50")])
def test_malformed_trusted_proxies_fail_at_start(raw, error):
    with pytest.raises(config.ConfigError, match=error):
        config.load({"TRUSTED_PROXIES": raw, "SECRET_KEY": "a" * 64})


def test_trusted_proxies_are_none_by_default_and_read_as_networks():
    assert config.load({"SECRET_KEY": "a" * 64}).trusted_proxies == ()
    assert config.load({"SECRET_KEY": "a" * 64, "TRUSTED_PROXIES": "10.0.0.0/24, ::1"}
                       ).trusted_proxies == (ipaddress.ip_network("10.0.0.0/24"),
                                             ipaddress.ip_network("::1"))


@pytest.fixture(scope="module")
def webs(settings, tmp_path_factory):
    """Two web processes with a small address limit: one trusts no proxy, one 127.0.0.1."""
    logs = tmp_path_factory.mktemp("client-address")
    limits = {"RATE_LIMIT_PER_IP": "8/minute", "RATE_LIMIT_PER_USER": "100000/minute"}
    started = [start_web(logs, **limits), start_web(logs, TRUSTED_PROXIES="127.0.0.1", **limits)]
    yield [url for _, url in started]
    for web, _ in started:
        assert web.stop() == 0


def statuses(url: str, forwarded: list[str]) -> list[int]:
    client = Client(url)
    return [client.get("/v1/markets", headers={"X-Forwarded-For": f}).status_code
            for f in forwarded]


def test_a_forged_forwarded_address_from_an_untrusted_peer_changes_nothing(webs):
    answers = statuses(webs[0], [f"198.51.100.{n}" for n in range(10)])
    assert answers == [200] * 8 + [429] * 2                     # one address: the peer's


def test_through_a_trusted_proxy_each_client_has_its_own_rate_limit(webs):
    answers = statuses(webs[1], ["198.51.100.1"] * 9 + ["198.51.100.2"])
    assert answers == [200] * 8 + [429] + [200]


def test_through_a_trusted_proxy_the_allow_list_sees_the_client(webs):
    untrusting, trusting = webs
    owner = signed_up(trusting)
    key = api_key(owner, ["read"], ip_allowlist=["198.51.100.7"])
    allowed = key.get("/v1/balances", headers={"X-Forwarded-For": "198.51.100.7"})
    other = key.get("/v1/balances", headers={"X-Forwarded-For": "198.51.100.8"})
    assert allowed.status_code == 200, allowed.text
    assert error_of(other)[:2] == (403, "ip_not_allowed")
    key.base_url = untrusting
    forged = key.get("/v1/balances", headers={"X-Forwarded-For": "198.51.100.7"})
    assert error_of(forged)[:2] == (403, "ip_not_allowed")      # the peer is 127.0.0.1
