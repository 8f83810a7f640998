"""Matcher core benchmark: orders per second, next to a bare price-time loop.

    python -m bench.matcher_core [--orders 200000]

The stream: limit orders around a mid price, about half of them crossing, with
one cancel for every ten orders. The bare loop is a sorted dict of price levels
with plain quantities (no ids, no cancels, no fees, no events), run on the same
stream in the same process: our core is reported as a ratio to it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import deque
from datetime import datetime, timezone
from decimal import Decimal

from sortedcontainers import SortedDict

from matcher.book import Book, MarketRules, Order

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def make_stream(count: int, seed: int = 1) -> list[tuple]:
    rng = random.Random(seed)
    prices = [Decimal(p) / 100 for p in range(9_900, 10_101)]
    stream, live = [], []
    for number in range(1, count + 1):
        if live and number % 10 == 0:
            stream.append(("cancel", live.pop(rng.randrange(len(live)))))
            continue
        side = "buy" if rng.random() < 0.5 else "sell"
        # Buys around or above the mid and sells around or below it cross about half the time.
        price = rng.choice(prices)
        quantity = Decimal(rng.randint(1, 100)) / 100
        stream.append(("order", number, rng.randint(1, 1000), side, price, quantity))
        live.append(number)
    return stream


def core(stream: list[tuple]) -> tuple[float, int]:
    book = Book(MarketRules(taker_fee_bps=20, quote_scale=2, lot_size=Decimal("0.01")))
    fills = 0
    started = time.perf_counter()
    for request in stream:
        if request[0] == "cancel":
            book.cancel(request[1])
        else:
            _, number, user, side, price, quantity = request
            for event in book.submit(Order(number, user, side, "limit", "gtc", quantity, price,
                                           sequence=number), NOW):
                fills += type(event).__name__ == "Trade"
    return time.perf_counter() - started, fills


def bare(stream: list[tuple]) -> float:
    bids: SortedDict = SortedDict()
    asks: SortedDict = SortedDict()
    started = time.perf_counter()
    for request in stream:
        if request[0] == "cancel":
            continue
        _, _, _, side, price, quantity = request
        book, key, crosses = (asks, 1, lambda p: p <= price) if side == "buy" else \
            (bids, -1, lambda p: -p >= price)
        while quantity and book:
            best = book.keys()[0]
            if not crosses(best):
                break
            level = book[best]
            while quantity and level:
                traded = min(quantity, level[0])
                quantity -= traded
                if traded == level[0]:
                    level.popleft()
                else:
                    level[0] -= traded
            if not level:
                del book[best]
        if quantity:
            own = bids if side == "buy" else asks
            own.setdefault(-price if side == "buy" else price, deque()).append(quantity)
    return time.perf_counter() - started


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=200_000)
    options = parser.parse_args(argv)
    stream = make_stream(options.orders)
    orders = sum(1 for r in stream if r[0] == "order")
    core_seconds, fills = min(core(stream) for _ in range(3))
    bare_seconds = min(bare(stream) for _ in range(3))
    print(f"stream: {orders:,} orders and {len(stream) - orders:,} cancels, {fills:,} fills "
          f"(best of 3 runs)")
    print(f"matcher core:     {len(stream) / core_seconds:>10,.0f} requests/s")
    print(f"bare price-time:  {orders / bare_seconds:>10,.0f} orders/s")
    print(f"ratio (core / bare): {(len(stream) / core_seconds) / (orders / bare_seconds):.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
