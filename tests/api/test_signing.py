"""Signed requests: each way a signature can be wrong is refused with its own code."""

import json
import time

import pytest

from tests.api.client import Client, SignedClient, error_of, signature_headers
from tests.api.conftest import api_key


@pytest.fixture
def bot(alice):
    return api_key(alice, ["read"])


def test_a_correctly_signed_request_is_served(bot):
    assert bot.get("/v1/balances").status_code == 200
    assert bot.get("/v1/ledger?limit=5").status_code == 200


def send(bot: SignedClient, method, path, body=b"", *, sign_method=None, sign_path=None,
         sign_body=None, timestamp_ms=None):
    headers = signature_headers(bot.key_id, bot.secret, sign_method or method, sign_path or path,
                                body if sign_body is None else sign_body, timestamp_ms)
    return Client(bot.base_url).call(method, path, raw=body, headers=headers)


def test_a_tampered_body_is_refused(alice):
    bot = api_key(alice, ["read", "trade"])
    body = json.dumps({"currency": "XX", "amount": "1"}).encode()
    response = send(bot, "POST", "/v1/faucet", body, sign_body=body.replace(b'"1"', b'"2"'))
    assert error_of(response) == (401, "invalid_signature", None)


def test_a_tampered_path_or_query_is_refused(bot):
    assert error_of(send(bot, "GET", "/v1/ledger", sign_path="/v1/balances")) == (
        401, "invalid_signature", None)
    assert error_of(send(bot, "GET", "/v1/ledger?limit=5", sign_path="/v1/ledger?limit=6")) == (
        401, "invalid_signature", None)


def test_a_tampered_method_is_refused(bot):
    assert error_of(send(bot, "GET", "/v1/me", sign_method="DELETE")) == (
        401, "invalid_signature", None)


def test_a_timestamp_outside_the_window_is_refused_past_or_future(bot):
    now = int(time.time() * 1000)
    for timestamp in (now - 6000, now + 6000):
        assert error_of(send(bot, "GET", "/v1/me", timestamp_ms=timestamp)) == (
            401, "timestamp_out_of_window", None)


def test_a_replay_is_refused_inside_and_outside_the_window(bot):
    headers = signature_headers(bot.key_id, bot.secret, "GET", "/v1/me")
    first = Client(bot.base_url).get("/v1/me", headers=headers)
    again = Client(bot.base_url).get("/v1/me", headers=headers)
    assert first.status_code == 200
    assert error_of(again) == (401, "replayed_request", None)
    old = signature_headers(bot.key_id, bot.secret, "GET", "/v1/me",
                            timestamp_ms=int(time.time() * 1000) - 60_000)
    assert error_of(Client(bot.base_url).get("/v1/me", headers=old)) == (
        401, "timestamp_out_of_window", None)


def test_a_wrong_secret_or_unknown_key_is_refused(bot):
    wrong = SignedClient(bot.base_url, bot.key_id, "0" * 64)
    assert error_of(wrong.get("/v1/me")) == (401, "invalid_signature", None)
    unknown = SignedClient(bot.base_url, "ak_" + "0" * 24, bot.secret)
    assert error_of(unknown.get("/v1/me")) == (401, "invalid_api_key", None)


def test_missing_signature_headers_are_refused(bot):
    response = Client(bot.base_url).get("/v1/me", headers={"X-API-Key": bot.key_id})
    assert error_of(response) == (401, "missing_signature", None)


def test_a_revoked_key_is_refused(alice, bot):
    assert alice.delete(f"/v1/api-keys/{bot.key_id}").status_code == 204
    assert error_of(bot.get("/v1/me")) == (401, "api_key_revoked", None)


def test_a_missing_scope_is_refused(alice, currency):
    reader = api_key(alice, ["read"])
    assert error_of(reader.post("/v1/faucet", {"currency": currency, "amount": "1"})) == (
        403, "insufficient_scope", None)


def test_a_foreign_ip_is_refused(alice):
    bot = api_key(alice, ["read"], ip_allowlist=["203.0.113.0/24"])
    assert error_of(bot.get("/v1/me")) == (403, "ip_not_allowed", None)
    local = api_key(alice, ["read"], ip_allowlist=["127.0.0.0/8"])
    assert local.get("/v1/me").status_code == 200


def test_signed_requests_and_refused_ones_count_against_the_address(settings, tmp_path):
    import redis

    from tests.api.conftest import signed_up, start_web

    web, base_url = start_web(tmp_path, RATE_LIMIT_PER_IP="8/minute",
                              RATE_LIMIT_PER_USER="1000/minute")
    redis.Redis.from_url(settings.redis_url).flushdb()  # forget the start-up probe
    try:
        bot = api_key(signed_up(base_url), ["read"])       # 3 requests: sign up, log in, key
        # The first signed request reads the key from the database (the address's limit
        # is counted before); the next ones find it in memory (counted with the caller's).
        assert [bot.get("/v1/balances").status_code for _ in range(3)] == [200] * 3
        forged = send(bot, "GET", "/v1/balances", sign_path="/v1/orders")
        assert error_of(forged)[:2] == (401, "invalid_signature")
        assert bot.get("/v1/balances").status_code == 200  # the 8th
        limited = bot.get("/v1/balances")
        assert error_of(limited)[:2] == (429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
    finally:
        assert web.stop() == 0


def test_keys_read_together_are_read_again_apart(settings, engine):
    """Each key is kept for a random part of CREDENTIAL_CACHE_SECONDS (from half to all), so
    that keys first read in one burst are not read again in one burst."""
    import redis

    from api.auth import Authenticator
    from api.credential_cache import CREDENTIAL_CACHE_SECONDS
    from users import api_keys, signup

    with engine.begin() as conn:
        user_id = signup.sign_up(conn, f"cache-{time.time_ns()}@example.com",
                                 "a long enough password")["id"]
        ids = [api_keys.create(conn, settings.secret_key, user_id, ["read"], "bot", [])[0].id
               for _ in range(20)]
    authenticator = Authenticator(settings, engine, redis.Redis.from_url(settings.redis_url))
    kept = []
    for key_id in ids:
        asked_at = time.monotonic()
        assert authenticator._key(key_id)[0].id == key_id
        answered_at = time.monotonic()
        until = authenticator._keys.until(key_id)
        assert asked_at + CREDENTIAL_CACHE_SECONDS / 2 <= until
        assert until <= answered_at + CREDENTIAL_CACHE_SECONDS
        kept.append(until - answered_at)
    assert max(kept) - min(kept) > CREDENTIAL_CACHE_SECONDS / 10
