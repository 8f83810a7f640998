"""The operators' tool, run as operators run it, against the test database."""

import os
import subprocess
import sys
import time

import config
from tests.api.client import Client, error_of
from tests.api.conftest import PASSWORD, api_key
from api.auth import API_KEY_CACHE_SECONDS
from tests.factories import create_currency, unique_code


def admin(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "admin", *args], cwd=config.PROJECT_DIR,
                          env=dict(os.environ), capture_output=True, text=True, timeout=60)


def test_an_operator_adds_a_market_halts_it_and_resumes_it(settings, alice):
    base, quote = unique_code(), unique_code()
    for code, scale in ((base, "8"), (quote, "2")):
        assert admin("currency-add", code, "--name", code, "--scale", scale).returncode == 0
    symbol = f"{base}-{quote}"
    added = admin("market-add", symbol, "--tick", "0.01", "--lot", "0.001",
                  "--min-notional", "1", "--maker-bps", "10", "--taker-bps", "20")
    assert added.returncode == 0, added.stderr
    assert alice.post("/v1/faucet", {"currency": quote, "amount": "100"}).status_code == 201
    order = {"market": symbol, "side": "buy", "type": "limit", "quantity": "1",
             "price": "10.00"}
    assert admin("market-halt", symbol).returncode == 0
    assert error_of(alice.post("/v1/orders", order)) == (409, "market_halted", "market")
    assert admin("market-resume", symbol).returncode == 0
    assert alice.post("/v1/orders", order).status_code == 202
    assert admin("market-halt", "NO-PE").returncode == 2


def test_a_frozen_user_can_neither_log_in_nor_use_a_session_or_key(settings, alice):
    bot = api_key(alice, ["read"])
    assert admin("user-freeze", alice.email).returncode == 0
    assert error_of(Client(alice.base_url).post(
        "/v1/sessions", {"email": alice.email, "password": PASSWORD})) == (
        403, "account_frozen", None)
    assert error_of(alice.get("/v1/me")) == (401, "invalid_session", None)
    time.sleep(API_KEY_CACHE_SECONDS)  # a key read before the freeze may be cached this long
    assert error_of(bot.get("/v1/me")) == (403, "account_frozen", None)
    assert admin("user-unfreeze", alice.email).returncode == 0
    time.sleep(API_KEY_CACHE_SECONDS)
    assert bot.get("/v1/me").status_code == 200


def test_the_ledger_and_reconcile_commands(settings, alice, admin_engine):
    currency = create_currency(admin_engine, scale=2)
    assert alice.post("/v1/faucet", {"currency": currency, "amount": "12.5"}).status_code == 201
    shown = admin("ledger", alice.email, "--currency", currency)
    assert shown.returncode == 0
    [line] = shown.stdout.strip().splitlines()
    assert line.split("\t")[2:] == ["faucet", line.split("\t")[3], currency, "available",
                                     "12.50"]
    clean = admin("reconcile")
    assert (clean.returncode, clean.stdout.strip().splitlines()[-1]) == (0, "ledger clean")


def test_a_published_liabilities_proof_verifies_and_any_changed_balance_breaks_it(
        settings, alice, bob, admin_engine, tmp_path):
    import json

    currency = create_currency(admin_engine, scale=8)
    assert alice.post("/v1/faucet", {"currency": currency, "amount": "1.25"}).status_code == 201
    assert bob.post("/v1/faucet", {"currency": currency, "amount": "0.5"}).status_code == 201
    published = admin("liabilities-publish", currency)
    assert published.returncode == 0, published.stderr
    root = alice.get(f"/v1/liabilities?currency={currency}").json()
    assert (root["total"], root["users"]) == ("1.75000000", 2)
    proof = alice.get(f"/v1/me/liabilities?currency={currency}").json()
    assert proof["balance"] == "1.25000000" and proof["root_hash"] == root["root_hash"]

    def verify(document) -> subprocess.CompletedProcess:
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(document))
        return subprocess.run([sys.executable, str(config.PROJECT_DIR / "tools" /
                                                    "verify_liabilities.py"), str(path)],
                              capture_output=True, text=True, timeout=30)

    holds = verify(proof)
    assert holds.returncode == 0 and holds.stdout.startswith("OK:")
    for tampered in ({**proof, "balance": "1.24000000"},
                     {**proof, "path": [{**proof["path"][0], "sum": "0.40000000"}]},
                     {**proof, "total": "1.70000000"}):
        broken = verify(tampered)
        assert broken.returncode == 1 and broken.stdout.startswith("FAILED:")
    carol = Client(alice.base_url)
    assert error_of(carol.get("/v1/liabilities?currency=NOPE")) == (
        404, "unknown_currency", "currency")
