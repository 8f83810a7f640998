"""Brute force on the second factor: every path that takes a code counts its failures
against one per-user bound, kept in the database outside the request's transaction, and
a right code is spent even when the request is refused after it.

The bound stated here is the documented policy (users.second_factor): 5 failures in 15
minutes, and 20 in 24 hours, then 429 ``second_factor_locked`` with Retry-After.
"""

import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from sqlalchemy import text

from tests.api.client import Client, error_of
from tests.api.conftest import PASSWORD, start_web
from tests.api.test_custody import (  # noqa: F401  (fixtures)
    allow, balance, chain, coin, fund, ledger_reconciles_after_each_test, withdraw,
)
from tests.api.test_totp import enable

FAILURES_PER_15_MINUTES = 5
FAILURES_PER_DAY = 20
PATHS = ("log_in", "confirm", "remove", "api_key", "withdrawal", "withdrawal_address")


def wrong_code(secret: str) -> str:
    """Six digits that no step within the accepted drift produces."""
    totp, now = pyotp.TOTP(secret), time.time()
    right = {totp.at(now + 30 * drift) for drift in (-2, -1, 0, 1, 2)}
    while True:
        code = f"{secrets.randbelow(10 ** 6):06d}"
        if code not in right:
            return code


def attempt(path: str, client, chain, code: str):
    """One request on ``path`` that carries ``code`` and would change something if right."""
    if path == "log_in":
        return Client(client.base_url).post("/v1/sessions", {
            "email": client.email, "password": PASSWORD, "totp": code})
    if path == "confirm":
        return client.post("/v1/me/totp/verify", {"code": code})
    if path == "remove":
        return client.delete("/v1/me/totp", {"totp": code})
    if path == "api_key":
        return client.post("/v1/api-keys", {"scopes": ["read"], "totp": code})
    if path == "withdrawal":
        return withdraw(client, chain.code, client.allowed, "1", totp=code)
    assert path == "withdrawal_address"
    return client.post("/v1/withdrawal-addresses", {
        "currency": chain.code, "address": chain.new_deposit_address("outside"), "totp": code})


def state(client, chain, engine) -> dict:
    """Everything any of the paths could have changed."""
    with engine.connect() as conn:
        session_count = conn.execute(text(
            "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE u.email = :e"), {"e": client.email}).scalar_one()
    return {"balance": balance(client, chain.code),
            "withdrawals": client.get("/v1/withdrawals").json()["items"],
            "addresses": client.get("/v1/withdrawal-addresses").json()["items"],
            "api_keys": client.get("/v1/api-keys").json()["items"],
            "totp_enabled": client.get("/v1/me").json()["totp_enabled"],
            "sessions": session_count}


def ready(client, chain, engine, admin_engine, *, enabled: bool = True):
    """Funds, an allowed address and the second factor: (secret, recovery codes)."""
    fund(client, chain, engine, "3")
    client.allowed = allow(client, chain, admin_engine)
    if enabled:
        return enable(client)
    secret = client.post("/v1/me/totp").json()["secret"]
    return secret, []


def assert_locked(response, retry_after_max: int = 15 * 60, field: str = "totp") -> int:
    assert response.status_code == 429, response.text
    assert error_of(response) == (429, "second_factor_locked", field)
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= retry_after_max
    return retry_after


def time_passes(admin_engine, client, interval: str) -> None:
    """The failures recorded so far become ``interval`` older."""
    with admin_engine.begin() as conn:
        conn.execute(text(
            "UPDATE second_factor_failures SET failed_at = failed_at - CAST(:i AS interval) "
            "WHERE user_id = (SELECT id FROM users WHERE email = :e)"),
            {"i": interval, "e": client.email})


@pytest.mark.parametrize("path", PATHS)
def test_five_wrong_codes_on_each_path_lock_the_second_factor_even_for_the_right_code(
        path, alice, chain, engine, admin_engine):
    secret, codes = ready(alice, chain, engine, admin_engine, enabled=path != "confirm")
    before = state(alice, chain, engine)
    for _ in range(FAILURES_PER_15_MINUTES):
        assert error_of(attempt(path, alice, chain, wrong_code(secret)))[:2] == (
            401, "invalid_totp")
    right = codes[0] if codes else pyotp.TOTP(secret).now()
    assert_locked(attempt(path, alice, chain, right), field="code" if path == "confirm" else "totp")
    assert state(alice, chain, engine) == before
    assert balance(alice, chain.code) == ("3.00000000", "0.00000000")


def test_failures_on_withdrawals_lock_every_path_in_every_web_process_until_the_lock_ends(
        alice, chain, engine, admin_engine, tmp_path):
    secret, codes = ready(alice, chain, engine, admin_engine)
    other_web, other_url = start_web(tmp_path, RATE_LIMIT_PER_IP="100000/minute",
                                     RATE_LIMIT_PER_USER="100000/minute")
    try:
        there = Client(other_url, alice.token)
        there.email, there.allowed = alice.email, alice.allowed
        for client, path in [(alice, "withdrawal"), (there, "withdrawal"),
                             (there, "withdrawal_address"), (alice, "withdrawal_address"),
                             (there, "log_in")]:
            assert error_of(attempt(path, client, chain, wrong_code(secret)))[:2] == (
                401, "invalid_totp"), path
        before = state(alice, chain, engine)
        for client, path in [(alice, "withdrawal"), (there, "withdrawal"),
                             (alice, "withdrawal_address"), (there, "log_in"),
                             (alice, "api_key")]:
            assert_locked(attempt(path, client, chain, codes[0]))
        assert state(alice, chain, engine) == before

        time_passes(admin_engine, alice, "15 minutes")
        accepted = attempt("withdrawal", there, chain, codes[0])
        assert accepted.status_code == 201, accepted.text
        assert balance(alice, chain.code) == ("1.99900000", "1.00100000")
        assert len(alice.get("/v1/withdrawals").json()["items"]) == 1
    finally:
        assert other_web.stop() == 0


def test_concurrent_wrong_codes_are_counted_exactly_to_the_bound(
        alice, chain, engine, admin_engine):
    secret, codes = ready(alice, chain, engine, admin_engine)
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(
            lambda _: attempt("withdrawal", alice, chain, wrong_code(secret)), range(20)))
    answers = sorted(error_of(r)[1] for r in responses)
    assert answers == ["invalid_totp"] * FAILURES_PER_15_MINUTES + \
        ["second_factor_locked"] * (20 - FAILURES_PER_15_MINUTES)
    assert_locked(attempt("withdrawal", alice, chain, codes[0]))
    assert balance(alice, chain.code) == ("3.00000000", "0.00000000")
    assert alice.get("/v1/withdrawals").json()["items"] == []


def test_twenty_failures_in_a_day_lock_the_second_factor_for_the_rest_of_the_day(
        alice, chain, engine, admin_engine):
    secret, codes = ready(alice, chain, engine, admin_engine)
    for round_number in range(FAILURES_PER_DAY // FAILURES_PER_15_MINUTES):
        if round_number:
            time_passes(admin_engine, alice, "15 minutes")
        for _ in range(FAILURES_PER_15_MINUTES):
            assert error_of(attempt("withdrawal", alice, chain, wrong_code(secret)))[:2] == (
                401, "invalid_totp")
    time_passes(admin_engine, alice, "15 minutes")
    retry_after = assert_locked(attempt("withdrawal", alice, chain, codes[0]), 24 * 3600)
    assert retry_after > 22 * 3600     # the first of the 20 failed an hour ago
    time_passes(admin_engine, alice, "23 hours")
    assert attempt("withdrawal", alice, chain, codes[0]).status_code == 201
    assert balance(alice, chain.code) == ("1.99900000", "1.00100000")


def test_a_right_code_followed_by_a_refused_withdrawal_is_spent(
        alice, chain, engine, admin_engine):
    secret, codes = ready(alice, chain, engine, admin_engine)
    code = pyotp.TOTP(secret).at(time.time() + 30)    # the current step confirmed the factor
    elsewhere = chain.new_deposit_address("outside")
    refused = withdraw(alice, chain.code, elsewhere, "1", totp=code)
    assert error_of(refused) == (403, "address_not_allowed", "address")
    assert error_of(withdraw(alice, chain.code, alice.allowed, "1", totp=code))[:2] == (
        401, "invalid_totp")

    assert error_of(withdraw(alice, chain.code, alice.allowed, "2.9999", totp=codes[0])) == (
        422, "insufficient_funds", None)
    assert error_of(withdraw(alice, chain.code, alice.allowed, "1", totp=codes[0]))[:2] == (
        401, "invalid_totp")
    assert balance(alice, chain.code) == ("3.00000000", "0.00000000")
    assert alice.get("/v1/withdrawals").json()["items"] == []
    with engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*) FROM withdrawals w JOIN users u ON u.id = w.user_id "
            "WHERE u.email = :e"), {"e": alice.email}).scalar_one() == 0


def test_a_right_code_followed_by_a_refused_withdrawal_address_is_spent(
        alice, chain, engine, admin_engine):
    _, codes = ready(alice, chain, engine, admin_engine)
    with admin_engine.begin() as conn:    # the allow-list is full
        conn.execute(text(
            "INSERT INTO withdrawal_addresses (user_id, currency, address, label, usable_from) "
            "SELECT u.id, :c, 'filler-' || n, '', now() FROM users u, generate_series(1, 99) n "
            "WHERE u.email = :e"), {"c": chain.code, "e": alice.email})
    before = alice.get("/v1/withdrawal-addresses").json()["items"]
    response = attempt("withdrawal_address", alice, chain, codes[0])
    assert error_of(response) == (409, "too_many_addresses", None)
    alice.delete(f"/v1/withdrawal-addresses/{before[-1]['id']}")
    assert error_of(attempt("withdrawal_address", alice, chain, codes[0]))[:2] == (
        401, "invalid_totp")
    assert alice.get("/v1/withdrawal-addresses").json()["items"] == before[:-1]


def test_missing_and_malformed_codes_are_not_counted_as_guesses(
        alice, chain, engine, admin_engine):
    _, codes = ready(alice, chain, engine, admin_engine)
    for _ in range(FAILURES_PER_15_MINUTES + 1):
        assert error_of(withdraw(alice, chain.code, alice.allowed, "1"))[:2] == (
            401, "totp_required")
        assert error_of(withdraw(alice, chain.code, alice.allowed, "1", totp="12345"))[:2] == (
            401, "invalid_totp")
    assert withdraw(alice, chain.code, alice.allowed, "1", totp=codes[0]).status_code == 201
    assert balance(alice, chain.code) == ("1.99900000", "1.00100000")
