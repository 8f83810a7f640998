"""The operators' tool, run as operators run it, against the test database."""

import os
import subprocess
import sys
import time

import config
from tests.api.client import Client, error_of
from tests.api.conftest import PASSWORD, api_key
from api.credential_cache import CREDENTIAL_CACHE_SECONDS
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
    time.sleep(CREDENTIAL_CACHE_SECONDS)  # a session or key read before may be kept this long
    assert error_of(alice.get("/v1/me")) == (401, "invalid_session", None)
    assert error_of(bot.get("/v1/me")) == (403, "account_frozen", None)
    assert admin("user-unfreeze", alice.email).returncode == 0
    time.sleep(CREDENTIAL_CACHE_SECONDS)
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

    me = alice.get("/v1/me").json()["id"]

    def verify(document) -> subprocess.CompletedProcess:
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(document))
        return subprocess.run([sys.executable, str(config.PROJECT_DIR / "tools" /
                                                    "verify_liabilities.py"), str(path),
                               "--user-id", me],
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


def test_an_operators_amounts_may_carry_zeros_past_the_scale_but_never_need_rounding(
        settings, alice, admin_engine):
    from sqlalchemy import text

    base, quote = unique_code(), unique_code()
    public = Client(alice.base_url)
    assert admin("currency-add", base, "--name", base, "--scale", "8",
                 "--withdrawal-fee", "0.5000000000").returncode == 0
    too_fine = admin("currency-add", quote, "--name", quote, "--scale", "2",
                     "--withdrawal-fee", "0.001")
    assert too_fine.returncode == 2 and "--withdrawal-fee" in too_fine.stderr, too_fine.stderr
    assert quote not in {c["code"] for c in public.get("/v1/currencies").json()["items"]}
    assert admin("currency-add", quote, "--name", quote, "--scale", "2",
                 "--withdrawal-min", "1.000").returncode == 0
    symbol = f"{base}-{quote}"
    market = ["--min-notional", "1.000000", "--maker-bps", "10", "--taker-bps", "20"]
    off_scale = admin("market-add", symbol, "--tick", "0.001", "--lot", "0.001", *market)
    assert off_scale.returncode == 2 and "--tick" in off_scale.stderr, off_scale.stderr
    listed = public.get("/v1/markets")
    assert listed.status_code == 200 and symbol not in {m["symbol"] for m in
                                                        listed.json()["items"]}
    added = admin("market-add", symbol, "--tick", "0.0500", "--lot", "0.0010000000", *market)
    assert added.returncode == 0, added.stderr
    (shown,) = [m for m in public.get("/v1/markets").json()["items"] if m["symbol"] == symbol]
    assert (shown["tick_size"], shown["lot_size"], shown["min_notional"]) == (
        "0.05", "0.00100000", "1.00")
    currencies = {c["code"]: c for c in public.get("/v1/currencies").json()["items"]}
    assert (currencies[base]["withdrawal_fee"], currencies[quote]["withdrawal_min"]) == (
        "0.50000000", "1.00")
    with admin_engine.connect() as conn:
        stored = conn.execute(text("SELECT tick_size::text, lot_size::text, min_notional::text "
                                   "FROM markets WHERE symbol = :s"), {"s": symbol}).one()
    assert tuple(stored) == ("0.05", "0.00100000", "1.00")


def test_an_operator_approves_or_rejects_large_withdrawals_and_checks_wallets(
        settings, alice, admin_engine):
    from sqlalchemy import text

    code = unique_code()
    added = admin("currency-add", code, "--name", code, "--scale", "8", "--withdrawal-fee",
                  "0.5", "--withdrawal-min", "1", "--approval-above", "10")
    assert added.returncode == 0, added.stderr
    listed = {c["code"]: c for c in Client(alice.base_url).get("/v1/currencies").json()["items"]}
    assert (listed[code]["withdrawal_fee"], listed[code]["withdrawal_min"],
            listed[code]["withdrawal_max"]) == ("0.50000000", "1.00000000", None)
    assert alice.post("/v1/faucet", {"currency": code, "amount": "100"}).status_code == 201
    address = alice.post("/v1/deposit-addresses", {"currency": code}).json()["address"]
    allowed = alice.post("/v1/withdrawal-addresses", {"currency": code, "address": address})
    with admin_engine.begin() as conn:
        conn.execute(text("UPDATE withdrawal_addresses SET usable_from = now() WHERE id = :i"),
                     {"i": int(allowed.json()["id"])})
    ids = []
    for key in ("first-large-one", "second-large-one"):
        response = alice.post("/v1/withdrawals", {"currency": code, "address": address,
                                                  "amount": "20"},
                              headers={"Idempotency-Key": key})
        assert response.json()["status"] == "pending_approval", response.text
        ids.append(response.json()["id"])
    waiting = admin("withdrawals").stdout
    assert ids[0] in waiting and ids[1] in waiting
    assert admin("withdrawal-reject", ids[0]).returncode == 0
    assert admin("withdrawal-reject", ids[0]).returncode == 2       # no longer waiting
    assert admin("withdrawal-approve", ids[1]).returncode == 0
    statuses = {w["id"]: w["status"] for w in alice.get("/v1/withdrawals").json()["items"]}
    assert statuses[ids[0]] == "rejected" and statuses[ids[1]] in ("queued", "sending", "sent")
    (balance,) = [b for b in alice.get("/v1/balances").json()["items"] if b["currency"] == code]
    assert balance["available"] == "79.50000000"
    checked = admin("wallets", code)
    assert checked.returncode == 0 and "ok" in checked.stdout, checked.stdout
    assert admin("withdrawals-pause", code, "--reason", "the node is upgraded").returncode == 0
    assert error_of(alice.post("/v1/withdrawals", {"currency": code, "address": address,
                                                   "amount": "2"},
                               headers={"Idempotency-Key": "third-one-1"}))[:2] == (
        503, "withdrawals_paused")
    assert admin("withdrawals-pause", code).stdout == f"{code} withdrawals were paused already\n"
    [listed] = [line for line in admin("currencies").stdout.splitlines()
                if line.startswith(f"{code}\t")]
    assert listed.startswith(f"{code}\tscale 8\tsimulated\twithdrawals paused since ") and \
        listed.endswith(": the node is upgraded"), listed
    assert admin("withdrawals-pause", "NOPE").returncode == 2


def test_an_operator_takes_lists_and_restores_a_backup(settings, tmp_path):
    env = {"BACKUP_TARGET": str(tmp_path / "backups")}
    taken = subprocess.run([sys.executable, "-m", "admin", "backup"], cwd=config.PROJECT_DIR,
                           env={**os.environ, **env}, capture_output=True, text=True,
                           timeout=120)
    assert taken.returncode == 0, taken.stderr
    name = taken.stdout.split()[1].rstrip(":")
    listed = subprocess.run([sys.executable, "-m", "admin", "backups"],
                            cwd=config.PROJECT_DIR, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=60)
    assert listed.stdout.split() == [name]
    restored = subprocess.run([sys.executable, "-m", "admin", "restore", name],
                              cwd=config.PROJECT_DIR, env={**os.environ, **env},
                              capture_output=True, text=True, timeout=300)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "ledger clean" in restored.stdout
    missing = subprocess.run([sys.executable, "-m", "admin", "restore", "no-such-backup"],
                             cwd=config.PROJECT_DIR, env={**os.environ, **env},
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no backup file" in missing.stderr
