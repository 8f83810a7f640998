"""A reconciliation difference stops the money of its currency from leaving, through the
real web, worker and scheduler processes, until an operator mends it and resumes."""

import os
import subprocess
import sys
import time
from decimal import Decimal

import psycopg2
import pytest
import redis
from sqlalchemy import text

import config
from currencies.registry import driver_for
from db import engine as engines
from embedded import EmbeddedRedis
from ledger import AccountKind, account, reconcile
from tests.api.client import error_of
from tests.api.conftest import signed_up, start_web
from tests.conftest import TEST_DATABASE, recreate_database
from tests.currencies.nodes import SimulatedWorld
from tests.factories import create_currency
from tests.processes import Process

SCRATCH_DATABASE = "exchange_scratch_pauses"
REDIS_DATABASE = "2"          # queues of their own: no other test's messages, nor theirs
WAIT_SECONDS = 40
FEE = Decimal("0.01")


def eventually(check, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return found


@pytest.fixture
def scratch(settings):
    """A database of its own: the difference made below must not reach other tests."""
    admin_url = recreate_database(settings, SCRATCH_DATABASE)
    admin = engines.create(admin_url, pooled=False)
    app = engines.create(admin_url.replace("postgres@", f"{settings.database_app_role}@"),
                         pooled=False)
    queues = redis.Redis.from_url(EmbeddedRedis(settings.var_dir).url(int(REDIS_DATABASE)))
    queues.flushdb()
    yield admin, app, {"EMBEDDED_DATABASE": SCRATCH_DATABASE,
                       "EMBEDDED_REDIS_DATABASE": REDIS_DATABASE}
    admin.dispose()
    app.dispose()
    queues.flushdb()
    maintenance = psycopg2.connect(settings.database_admin_url.replace(
        f"/{TEST_DATABASE}?", "/postgres?"))
    maintenance.autocommit = True
    with maintenance.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')
    maintenance.close()


def operator(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "admin", *args], cwd=config.PROJECT_DIR,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)


def withdraw(client, currency: str, address: str, amount: str, key: str):
    return client.post("/v1/withdrawals", {"currency": currency, "address": address,
                                           "amount": amount}, headers={"Idempotency-Key": key})


def balances(client, currency: str) -> tuple[str, str]:
    [found] = [b for b in client.get("/v1/balances").json()["items"]
               if b["currency"] == currency]
    return found["available"], found["held"]


def forge_balance(admin, account_id: int, balance: Decimal) -> None:
    """Set a running balance past the triggers, as only a superuser could."""
    with admin.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE accounts SET balance = :b WHERE id = :a"),
                     {"b": balance, "a": account_id})


def test_a_reconciliation_difference_pauses_that_currencys_withdrawals_until_an_operator_resumes(
        scratch, tmp_path):
    admin, app, env = scratch
    broken, sound = (create_currency(admin, scale=8, withdrawal_fee=FEE) for _ in range(2))
    chains = {code: SimulatedWorld(driver_for(app, code)) for code in (broken, sound)}
    outside = {code: chain.outside_address() for code, chain in chains.items()}
    web, api_url = start_web(tmp_path, **env, DEMO_MODE="true", ADDRESS_COOLING_OFF_SECONDS="0")
    processes = [web]
    try:
        alice = signed_up(api_url)
        for code in (broken, sound):
            assert alice.post("/v1/faucet", {"currency": code, "amount": "10"}).status_code == 201
            assert alice.post("/v1/withdrawal-addresses", {
                "currency": code, "address": outside[code]}).status_code == 201
        # Queued before the difference, while no worker runs.
        waiting = withdraw(alice, broken, outside[broken], "1", "queued-before-the-difference")
        assert waiting.json()["status"] == "queued", waiting.text
        with app.begin() as conn:
            fees = account(conn, None, broken, AccountKind.FEES)
        forge_balance(admin, fees.id, Decimal("5"))

        processes.append(Process("scheduler", tmp_path, **env, DEMO_MODE="false"))
        eventually(lambda: broken in paused_currencies(app), "the scheduler's reconciliation")
        worker = Process("worker", tmp_path, **env)
        processes.append(worker)

        # The other currency's money still leaves: the worker runs, and skips the first.
        other = withdraw(alice, sound, outside[sound], "2", "of-the-sound-currency").json()
        eventually(lambda: alice.get(f"/v1/withdrawals/{other['id']}").json()["status"] == "sent",
                   f"the worker's payment of {sound}")
        # Asked again by the scheduler's retry of stalled withdrawals: still never sent.
        eventually(lambda: worker.output().count(f"withdrawal {waiting.json()['id']}: queued")
                   >= 2, "a second attempt at the queued withdrawal")
        assert error_of(withdraw(alice, broken, outside[broken], "1", "asked-while-paused"))[:2] \
            == (503, "withdrawals_paused")
        assert alice.get(f"/v1/withdrawals/{waiting.json()['id']}").json()["status"] == "queued"
        assert chains[broken].received(outside[broken]) == 0
        assert balances(alice, broken) == ("8.99000000", "1.01000000")
        assert balances(alice, sound) == ("7.99000000", "0.00000000")
        assert paused_currencies(app) == {broken}
        listed = operator(env, "currencies")
        [line] = [line for line in listed.stdout.splitlines() if line.startswith(broken)]
        assert "withdrawals paused since" in line and \
            f"account_balance_differs: account {fees.id}" in line, listed.stdout

        # The operator mends the difference, then resumes: the queued one is paid.
        forge_balance(admin, fees.id, Decimal("0"))
        assert reconcile(app) == []
        resumed = operator(env, "withdrawals-resume", broken)
        assert resumed.returncode == 0, resumed.stderr
        assert "1 waiting withdrawals sent for payment" in resumed.stdout, resumed.stdout
        eventually(lambda: alice.get(f"/v1/withdrawals/{waiting.json()['id']}").json()[
            "status"] == "sent", "the payment after the operator resumed")
        assert chains[broken].received(outside[broken]) == Decimal("1")
        assert balances(alice, broken) == ("8.99000000", "0.00000000")
        assert withdraw(alice, broken, outside[broken], "1", "after-resume").status_code == 201
        assert reconcile(app) == []
    finally:
        for process in reversed(processes):
            assert process.stop() == 0


def paused_currencies(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT code FROM currencies WHERE withdrawals_paused")).scalars())
