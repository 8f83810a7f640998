"""Proof of liabilities: each user recomputes their own leaf from their id, the salt given
with their proof and their balance, and the standalone verifier climbs from it to the root."""

import hashlib
import hmac
import json
import re
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import config
from tests.admin.test_cli import admin
from tests.factories import create_currency

VERIFIER = config.PROJECT_DIR / "tools" / "verify_liabilities.py"


def verify(tmp_path, proof, *options: str) -> subprocess.CompletedProcess:
    """The verifier as a user runs it: Python alone (-I: no project module on the path)."""
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    return subprocess.run([sys.executable, "-I", str(VERIFIER), str(path), *options],
                          capture_output=True, text=True, timeout=30)


def holds(result: subprocess.CompletedProcess) -> bool:
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout.startswith("OK:" if result.returncode == 0 else "FAILED:"), result
    return result.returncode == 0


def published(currency: str) -> None:
    done = admin("liabilities-publish", currency)
    assert done.returncode == 0, done.stderr


def proof_of(client, currency: str) -> dict:
    response = client.get(f"/v1/me/liabilities?currency={currency}")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_user_recomputes_their_leaf_from_their_id_salt_and_balance_and_tampering_fails(
        settings, alice, bob, admin_engine, tmp_path):
    currency = create_currency(admin_engine, scale=8)
    assert alice.post("/v1/faucet", {"currency": currency, "amount": "1.25"}).status_code == 201
    assert bob.post("/v1/faucet", {"currency": currency, "amount": "0.5"}).status_code == 201
    published(currency)
    proof = proof_of(alice, currency)
    me = alice.get("/v1/me").json()["id"]
    assert (proof["leaf_scheme"], proof["user_id"], proof["balance"], proof["total"]) == (
        2, me, "1.25000000", "1.75000000")
    assert re.fullmatch(r"[0-9a-f]{32}", proof["salt"]) and "leaf_id" not in proof
    assert proof["leaf_hash"] == hashlib.sha256(
        f"leaf2|{me}|{proof['salt']}|1.25000000".encode()).hexdigest()
    assert holds(verify(tmp_path, proof, "--user-id", me, "--balance", "1.25000000"))
    missing = verify(tmp_path, proof)       # whose leaf it is must be the user's word
    assert not holds(missing) and "--user-id" in missing.stdout
    assert not holds(verify(tmp_path, {k: v for k, v in proof.items() if k != "leaf_scheme"},
                            "--user-id", me))
    other_salt = ("0" if proof["salt"][0] != "0" else "1") + proof["salt"][1:]
    bob_id = bob.get("/v1/me").json()["id"]
    mine = ("--user-id", me)
    for tampered, options in (
            ({**proof, "balance": "1.24000000"}, mine),
            ({**proof, "salt": other_salt}, mine),
            ({**proof, "user_id": bob_id}, mine),
            ({**proof, "user_id": f"{me}|x"}, ("--user-id", f"{me}|x")),
            ({**proof, "total": "1.70000000"}, mine),
            ({**proof, "path": [{**proof["path"][0], "sum": "0.40000000"}]}, mine),
            (proof, ("--user-id", bob_id)),
            (proof, (*mine, "--balance", "1.26000000"))):
        assert not holds(verify(tmp_path, tampered, *options)), (tampered, options)


def test_two_users_with_equal_balances_never_share_a_leaf_and_snapshots_are_unlinkable(
        settings, alice, bob, admin_engine, engine, tmp_path):
    currency = create_currency(admin_engine, scale=8)
    for client in (alice, bob):
        assert client.post("/v1/faucet", {"currency": currency, "amount": "0.5"}).status_code \
            == 201
    published(currency)
    first, second = proof_of(alice, currency), proof_of(bob, currency)
    assert first["balance"] == second["balance"] == "0.50000000"
    assert first["leaf_hash"] != second["leaf_hash"] and first["salt"] != second["salt"]
    alice_id, bob_id = alice.get("/v1/me").json()["id"], bob.get("/v1/me").json()["id"]
    assert holds(verify(tmp_path, first, "--user-id", alice_id))
    assert holds(verify(tmp_path, second, "--user-id", bob_id))
    assert not holds(verify(tmp_path, first, "--user-id", bob_id))
    published(currency)
    again = proof_of(alice, currency)
    assert again["snapshot_id"] != first["snapshot_id"]
    assert again["salt"] != first["salt"] and again["leaf_hash"] != first["leaf_hash"]
    assert holds(verify(tmp_path, again, "--user-id", alice_id, "--balance", "0.50000000"))
    with engine.connect() as conn:
        leaves = conn.execute(text(
            "SELECT count(*), count(DISTINCT l.leaf_hash), count(DISTINCT l.salt) "
            "FROM liability_leaves l JOIN liability_snapshots s ON s.id = l.snapshot_id "
            "WHERE s.currency = :c"), {"c": currency}).one()
    assert tuple(leaves) == (4, 4, 4)


def test_the_database_refuses_a_leaf_not_derived_from_its_user_salt_and_balance(
        settings, alice, admin_engine, engine):
    currency = create_currency(admin_engine, scale=8)
    assert alice.post("/v1/faucet", {"currency": currency, "amount": "2"}).status_code == 201
    published(currency)
    with admin_engine.connect() as conn:
        leaf = conn.execute(text(
            "SELECT l.* FROM liability_leaves l JOIN liability_snapshots s "
            "ON s.id = l.snapshot_id WHERE s.currency = :c"), {"c": currency}).one()
    salt = "ab" * 16
    honest = hashlib.sha256(f"leaf2|{leaf.user_id}|{salt}|2.00000000".encode()).hexdigest()
    check_violation, unique_violation = "23514", "23505"
    for attempt, code in (
            ({"salt": salt, "leaf_hash": "0" * 64}, check_violation),             # not its hash
            ({"salt": salt, "leaf_hash": honest, "balance": "3"}, check_violation),
            ({"salt": salt, "leaf_hash": honest, "balance": "2.000000001"}, check_violation),
            ({"salt": leaf.salt, "leaf_hash": leaf.leaf_hash}, unique_violation),  # shared
            ({"salt": None, "leaf_hash": None}, check_violation)):                # no salt
        values = {"salt": salt, "leaf_hash": honest, "balance": "2", **attempt}
        with pytest.raises(DBAPIError) as refused, admin_engine.begin() as conn:
            snapshot = conn.execute(text(
                "INSERT INTO liability_snapshots (currency, root_hash, total, users) "
                "VALUES (:c, :h, 2, 1) RETURNING id"),
                {"c": currency, "h": "f" * 64}).scalar_one()
            conn.execute(text(
                "INSERT INTO liability_leaves (snapshot_id, position, user_id, balance, salt, "
                "leaf_hash) VALUES (:s, 0, :u, :b, :salt, :leaf_hash)"),
                {"s": snapshot, "u": leaf.user_id, "b": values["balance"],
                 "salt": values["salt"], "leaf_hash": values["leaf_hash"]})
        assert refused.value.orig.pgcode == code, (attempt, refused.value)
    for statement in ("UPDATE liability_leaves SET balance = 1 WHERE salt = :salt",
                      "TRUNCATE liability_leaves, liability_snapshots"):
        with pytest.raises(DBAPIError), admin_engine.begin() as conn:
            conn.execute(text(statement), {"salt": leaf.salt})
    with admin_engine.begin() as conn:   # the honest leaf is accepted
        snapshot = conn.execute(text(
            "INSERT INTO liability_snapshots (currency, root_hash, total, users) "
            "VALUES (:c, :h, 2, 1) RETURNING id"), {"c": currency, "h": honest}).scalar_one()
        conn.execute(text(
            "INSERT INTO liability_leaves (snapshot_id, position, user_id, balance, salt, "
            "leaf_hash) VALUES (:s, 0, :u, 2, :salt, :leaf_hash)"),
            {"s": snapshot, "u": leaf.user_id, "salt": salt, "leaf_hash": honest})
    # Only operators publish: the application role may neither insert a snapshot nor call
    # the leaves' check itself.
    permission_denied = "42501"
    for statement in ("INSERT INTO liability_snapshots (currency, root_hash, total, users) "
                      "VALUES (:c, 'f', 0, 0)", "SELECT liability_leaves_check()"):
        with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
            conn.execute(text(statement), {"c": currency})
        assert refused.value.orig.pgcode == permission_denied, statement


def test_a_snapshot_published_before_salts_still_verifies_but_is_not_tied_to_its_user(
        settings, alice, admin_engine, tmp_path):
    currency = create_currency(admin_engine, scale=8)
    assert alice.post("/v1/faucet", {"currency": currency, "amount": "3"}).status_code == 201
    me = alice.get("/v1/me").json()["id"]
    salt = "d" * 32                # the first release's leaf id: an HMAC under the server's key
    leaf_id = hmac.new(settings.secret_key, f"liabilities:{salt}:{me}".encode(),
                       hashlib.sha256).hexdigest()
    root = hashlib.sha256(f"leaf|{leaf_id}|3.00000000".encode()).hexdigest()
    with admin_engine.begin() as conn:
        snapshot = conn.execute(text(
            "INSERT INTO liability_snapshots (currency, salt, root_hash, total, users, "
            "leaf_scheme) VALUES (:c, :salt, :h, 3, 1, 1) RETURNING id"),
            {"c": currency, "salt": salt, "h": root}).scalar_one()
        conn.execute(text("INSERT INTO liability_leaves (snapshot_id, position, user_id, "
                          "balance) VALUES (:s, 0, :u, 3)"), {"s": snapshot, "u": int(me)})
    proof = proof_of(alice, currency)
    assert (proof["leaf_scheme"], proof["leaf_id"], proof["root_hash"], proof["balance"]) == (
        1, leaf_id, root, "3.00000000")
    assert "salt" not in proof and "user_id" not in proof
    assert not holds(verify(tmp_path, proof))      # only when the user asks for it
    result = verify(tmp_path, proof, "--legacy")
    assert holds(result) and "cannot be tied to your user id" in result.stdout
    assert holds(verify(tmp_path, proof, "--legacy", "--balance", "3.00000000"))
    assert not holds(verify(tmp_path, proof, "--legacy", "--user-id", me))
