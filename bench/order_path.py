"""An order's database work alone: placing batches and matcher batches, without HTTP.

    python -m bench.order_path [--orders 20000] [--batch 10] [--users 24]

Places the same stream of limit orders as ``bench.trading`` (about half of them
crossing, a cancel-all per user and market every 150 orders) through
``trading.placing.place_many`` in placing transactions of ``--batch`` orders, running each
market's matcher after every 20 placing batches, in one thread. It prints the CPU of this
Python process and of PostgreSQL per order, with placing and matching apart: a figure that
stays put from run to run, where the end-to-end one moves with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import datetime, timezone
from typing import Callable

os.environ.setdefault("EMBEDDED_DATABASE", "exchange_bench_path")

import psutil  # noqa: E402
from sqlalchemy import text  # noqa: E402

import config  # noqa: E402
from bench.common import recreate  # noqa: E402
from bench.trading import CANCEL_ALL_EVERY, order_request, setup  # noqa: E402
from db import engine as engines  # noqa: E402
from embedded.services import up  # noqa: E402
from trading.placing import Placement, place_many
from trading.matcher_requests import request_cancel_all
from workers.matching.runner import MarketRunner

ENTRY_BATCHES_PER_MATCH = 20


class Split:
    """CPU seconds of this process and of PostgreSQL's processes, per phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}
        self._postgres = [process for process in psutil.process_iter(["cmdline"])
                          if "postgres" in " ".join(process.info["cmdline"] or [])]

    def _postgres_seconds(self) -> float:
        total = 0.0
        for process in self._postgres:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def measure(self, phase: str, work: Callable[[], object]) -> None:
        postgres = self._postgres_seconds()
        python = time.process_time()
        work()
        python = time.process_time() - python
        postgres = self._postgres_seconds() - postgres
        spent = self.seconds.setdefault(phase, [0.0, 0.0])
        spent[0] += python
        spent[1] += postgres


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--users", type=int, default=24)
    options = parser.parse_args(argv)
    settings = config.load()
    up(settings)
    recreate(settings)
    symbols, _ = setup(settings, options.users)
    engine = engines.create(settings.database_url, pool_size=2, key_lookups=True)
    with engine.connect() as conn:
        users = list(conn.execute(text("SELECT id FROM users ORDER BY id")).scalars())
    runners = [MarketRunner(engine, settings.database_url, symbol) for symbol in symbols]
    rng = random.Random(7)
    placed = {user: 0 for user in users}
    with engine.connect(), engine.connect():
        pass                  # the pool's two connections exist before the meter lists them
    for runner in runners:
        runner.lead()
    split = Split()
    refused = 0

    def enter(placements: list[Placement]) -> None:
        with engine.connect() as conn:      # as the API's batches do
            conn.execution_options(isolation_level="AUTOCOMMIT")
            place_many(conn, placements, datetime.now(timezone.utc), own_transaction=True)

    def cancel(user: int) -> None:
        with engine.begin() as conn:
            for symbol in symbols:
                request_cancel_all(conn, user, symbol)

    def match() -> None:
        for runner in runners:
            runner.run_pending()

    started = time.perf_counter()
    for number in range(options.orders // options.batch):
        placements = []
        for _ in range(options.batch):
            user = rng.choice(users)
            placed[user] += 1
            if placed[user] % CANCEL_ALL_EVERY == 0:
                split.measure("placing", lambda: cancel(user))
            placements.append(Placement(user, order_request(rng, symbols,
                                                            f"{user}-{placed[user]}")))
        split.measure("placing", lambda: enter(placements))
        refused += sum(p.error is not None for p in placements)
        if (number + 1) % ENTRY_BATCHES_PER_MATCH == 0:
            split.measure("matching", match)
    split.measure("matching", match)
    elapsed = time.perf_counter() - started
    for runner in runners:
        runner.resign()
    with engine.connect() as conn:
        trades = conn.execute(text("SELECT count(*) FROM trades")).scalar_one()
    engine.dispose()
    orders = options.orders - options.orders % options.batch
    print(f"{orders:,} orders in placing batches of {options.batch}, {trades:,} trades, "
          f"{refused} refused, {elapsed:.1f} s in one thread ({orders / elapsed:,.0f} orders/s)")
    for phase, (python, postgres) in split.seconds.items():
        print(f"{phase:<9} Python {python * 1e3 / orders:.3f}  PostgreSQL "
              f"{postgres * 1e3 / orders:.3f}  (ms of CPU per order)")


if __name__ == "__main__":
    main(sys.argv[1:])
