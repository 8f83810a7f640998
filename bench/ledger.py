"""Ledger benchmark: transfers posted per second, and balance reads against history size.

    python -m bench.ledger [--transfers 4000] [--entries-large 10000000]

Runs on the embedded servers in a database of its own (``exchange_bench``), which
it recreates. Figures:
  * transfers/s, one transaction per transfer: 1 client, then 8 client processes;
  * transfers/s, 1,000 transfers per transaction (how the matcher settles a batch);
  * balance read latency (median and p99) with 10 thousand and with 10 million
    entries in the ledger, and their ratio (must stay under 1.5).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
from decimal import Decimal


os.environ.setdefault("EMBEDDED_DATABASE", "exchange_bench")

import config  # noqa: E402
from bench.common import recreate  # noqa: E402
from db import engine as engines  # noqa: E402
from db.schema import currencies, users  # noqa: E402
from embedded.services import up  # noqa: E402
from ledger import AccountKind, account, balance, move, post, post_many  # noqa: E402

USERS = 1000
CLIENTS = 8
BATCH = 1000
LOAD_BATCH = 5000            # transfers per statement while filling the ledger
READS = 3000
CURRENCY = "BNCH"


def setup(settings: config.Settings) -> list[int]:
    engine = engines.create(settings.database_admin_url, pooled=False)
    with engine.begin() as conn:
        conn.execute(currencies.insert().values(code=CURRENCY, name="bench", scale=8,
                                                confirmations=1, driver="simulated"))
        ids = [conn.execute(users.insert().values(email=f"b{i}@bench.test", password_hash="x")
                            .returning(users.c.id)).scalar_one() for i in range(USERS)]
        world = account(conn, None, CURRENCY, AccountKind.WORLD)
        post_many(conn, [move(f"fund:{u}", "deposit", world,
                              account(conn, u, CURRENCY, AccountKind.AVAILABLE),
                              Decimal("1000000")) for u in ids])
    engine.dispose()
    return ids


def post_singles(url: str, ids: list[int], count: int, tag: str, start, results) -> None:  # type: ignore[no-untyped-def]
    """One client: ``count`` transfers, one transaction each, timed from ``start``."""
    engine = engines.create(url, pool_size=1)
    rng = random.Random(tag)
    with engine.connect() as conn:
        accounts = {u: account(conn, u, CURRENCY, AccountKind.AVAILABLE) for u in ids}
        conn.commit()
        pairs = [rng.sample(ids, 2) for _ in range(count)]
        start.wait()
        started = time.perf_counter()
        for i, (source, destination) in enumerate(pairs):
            with conn.begin():
                post(conn, move(f"{tag}:{i}", "internal", accounts[source],
                                accounts[destination], Decimal("0.00000001")))
        results.put((count, time.perf_counter() - started))
    engine.dispose()


def clients(settings: config.Settings, ids: list[int], count: int, how_many: int) -> float:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(how_many), context.Queue()
    processes = [context.Process(target=post_singles, args=(
        settings.database_url, ids, count // how_many, f"c{how_many}-{n}", start, results))
        for n in range(how_many)]
    for process in processes:
        process.start()
    finished = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return sum(done for done, _ in finished) / max(elapsed for _, elapsed in finished)


def bench_posting(settings: config.Settings, ids: list[int], transfers: int) -> None:
    for how_many in (1, CLIENTS):
        per_second = clients(settings, ids, transfers, how_many)
        print(f"{how_many} client(s), one transaction per transfer:"
              f"{per_second:>12,.0f} transfers/s", flush=True)

    engine = engines.create(settings.database_url, pool_size=1)
    rng = random.Random(1)
    with engine.connect() as conn:
        accounts = {u: account(conn, u, CURRENCY, AccountKind.AVAILABLE) for u in ids}
        conn.commit()
        batches = max(1, transfers * 2 // BATCH)
        started = time.perf_counter()
        for b in range(batches):
            with conn.begin():
                post_many(conn, [move(f"batch{b}:{i}", "internal",
                                      *(accounts[u] for u in rng.sample(ids, 2)),
                                      Decimal("0.00000001")) for i in range(BATCH)])
        per_second = batches * BATCH / (time.perf_counter() - started)
        print(f"1 client, {BATCH:,} transfers per transaction:{per_second:>12,.0f} transfers/s")
    engine.dispose()


def entry_count(conn) -> int:  # type: ignore[no-untyped-def]
    return conn.exec_driver_sql("SELECT count(*) FROM entries").scalar_one()


def read_latency(settings: config.Settings, ids: list[int]) -> tuple[float, float]:
    engine = engines.create(settings.database_url, pool_size=1)
    with engine.connect() as conn:
        accounts = [account(conn, u, CURRENCY, AccountKind.AVAILABLE) for u in ids]
        conn.commit()
    samples = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for _ in range(READS):
            target = random.choice(accounts)
            started = time.perf_counter()
            balance(conn, target)
            samples.append(time.perf_counter() - started)
    engine.dispose()
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.99)] * 1e6


def fill(settings: config.Settings, ids: list[int], entries_wanted: int) -> int:
    engine = engines.create(settings.database_url, pool_size=1)
    rng = random.Random(2)
    with engine.connect() as conn:
        accounts = [account(conn, u, CURRENCY, AccountKind.AVAILABLE) for u in ids]
        have = entry_count(conn)
        conn.commit()
        batch_number = 0
        started = time.perf_counter()
        while have < entries_wanted:
            size = min(LOAD_BATCH, (entries_wanted - have + 1) // 2)
            with conn.begin():
                post_many(conn, [move(f"fill{batch_number}:{i}", "internal",
                                      *rng.sample(accounts, 2), Decimal("0.00000001"))
                                 for i in range(size)])
            have += 2 * size
            batch_number += 1
            if batch_number % 100 == 0:
                print(f"  ... {have:,} entries ({have / (time.perf_counter() - started):,.0f}/s)",
                      flush=True)
        conn.exec_driver_sql("ANALYZE entries")
        conn.commit()
        have = entry_count(conn)
    engine.dispose()
    return have


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transfers", type=int, default=4000)
    parser.add_argument("--entries-small", type=int, default=10_000)
    parser.add_argument("--entries-large", type=int, default=10_000_000)
    options = parser.parse_args(argv)
    settings = config.load()
    up(settings)
    recreate(settings)
    ids = setup(settings)
    print(f"ledger benchmark on {os.cpu_count()} cores, PostgreSQL over a unix socket")
    bench_posting(settings, ids, options.transfers)

    recreate(settings)
    ids = setup(settings)
    small = fill(settings, ids, options.entries_small)
    small_median, small_p99 = read_latency(settings, ids)
    large = fill(settings, ids, options.entries_large)
    large_median, large_p99 = read_latency(settings, ids)
    print(f"balance read with {small:>12,} entries: median {small_median:7.0f} us, "
          f"p99 {small_p99:7.0f} us")
    print(f"balance read with {large:>12,} entries: median {large_median:7.0f} us, "
          f"p99 {large_p99:7.0f} us")
    print(f"ratio of medians (large / small): {large_median / small_median:.2f} (must be < 1.5)")


if __name__ == "__main__":
    main(sys.argv[1:])
