"""Custody benchmark: deposits credited, withdrawals requested and sent, backup and restore.

    python -m bench.custody [--deposits 2000] [--withdrawals 500]

Runs on the embedded servers in a database of its own (``exchange_bench``), which it
recreates, on a simulated chain (the chain's own cost is a few inserts). Figures:
  * deposits recorded and credited per second by one scan;
  * withdrawal requests per second (checks, allow-list, daily limit, hold), 4 threads;
  * withdrawal sends per second (one attempt each, serialised per currency);
  * backup and verified restore times, and the dump's size.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("EMBEDDED_DATABASE", "exchange_bench")

import config  # noqa: E402
from backups import archive  # noqa: E402
from backups.targets import DirectoryTarget  # noqa: E402
from bench.common import recreate  # noqa: E402
from currencies.registry import driver_for  # noqa: E402
from custody import addresses, deposits, withdrawals  # noqa: E402
from db import engine as engines  # noqa: E402
from db.schema import currencies, users  # noqa: E402
from embedded.services import up  # noqa: E402

CURRENCY = "BNCH"
THREADS = 4


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deposits", type=int, default=2000)
    parser.add_argument("--withdrawals", type=int, default=500)
    options = parser.parse_args()
    settings = config.load()
    up(settings)
    recreate(settings)
    admin = engines.create(settings.database_admin_url, pooled=False)
    engine = engines.create(settings.database_url, pool_size=THREADS + 2)
    with admin.begin() as conn:
        conn.execute(currencies.insert().values(code=CURRENCY, name="bench", scale=8,
                                                confirmations=1, driver="simulated",
                                                withdrawal_fee=Decimal("0.0001")))
        user_ids = [conn.execute(users.insert().values(email=f"b{n}@bench.test",
                                                       password_hash="x")
                                 .returning(users.c.id)).scalar_one()
                    for n in range(options.deposits)]
    driver = driver_for(engine, CURRENCY, settings)

    for user_id in user_ids:
        address, _ = deposits.deposit_address(engine, driver, user_id)
        driver.pay_to(address, Decimal("1"))
    driver.mine(1)
    started = time.perf_counter()
    scanned = deposits.scan(engine, driver)
    elapsed = time.perf_counter() - started
    assert scanned.credited == options.deposits
    print(f"deposits: {options.deposits} recorded and credited in {elapsed:.2f} s "
          f"({options.deposits / elapsed:,.0f}/s)")

    senders = user_ids[:options.withdrawals]
    outside = {}
    for user_id in senders:
        outside[user_id] = driver.new_deposit_address("outside")   # any valid address
        addresses.add(engine, driver, settings.secret_key, user_id, outside[user_id], "",
                      None, 0)

    def request(user_id: int) -> str:
        found, _ = withdrawals.request(engine, driver, settings.secret_key, user_id,
                                       f"bench-{user_id}", withdrawals.Request(
                                           CURRENCY, outside[user_id], "0.5"))
        return found["id"]
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        ids = list(pool.map(request, senders))
    elapsed = time.perf_counter() - started
    print(f"withdrawal requests: {len(ids)} in {elapsed:.2f} s ({len(ids) / elapsed:,.0f}/s, "
          f"{THREADS} threads)")

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(lambda i: withdrawals.send(engine, driver, uuid.UUID(i)), ids))
    elapsed = time.perf_counter() - started
    assert statuses == ["sent"] * len(ids)
    print(f"withdrawal sends: {len(ids)} in {elapsed:.2f} s ({len(ids) / elapsed:,.0f}/s)")

    _backup(settings)
    engine.dispose()
    admin.dispose()


def _backup(settings: config.Settings) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        target = DirectoryTarget(Path(scratch))
        started = time.perf_counter()
        manifest = archive.take(settings, target)
        took = time.perf_counter() - started
        started = time.perf_counter()
        restored = archive.restore(settings, target, manifest["name"], "exchange_bench_restore")
        restore_took = time.perf_counter() - started
    assert restored.discrepancies == []
    print(f"backup: {manifest['dump_bytes'] / 1e6:.1f} MB dump in {took:.2f} s; verified "
          f"restore with reconciliation of {restored.transfers:,} transfers in "
          f"{restore_took:.2f} s")


if __name__ == "__main__":
    main()
