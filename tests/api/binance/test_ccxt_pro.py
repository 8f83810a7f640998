"""ccxt.pro 4.5.90's binance class, unchanged but for its URLs, against the real stack's
streams: the book it keeps from the diffs stays in sync (its own checks raise on a gap)
and equals REST depth at the same update id; trades, candles and tickers of the trades
placed; a user's orders and balances, exact, and nothing of another user's."""

from __future__ import annotations

import asyncio

import ccxt.pro

from tests.api.binance.conftest import ccxt_client, ccxt_config, new_trader

BOOK_CHANGES_MIN = 300


def pro_client(stack: str, trader=None) -> ccxt.pro.binance:
    ws = stack.replace("http://", "ws://")
    config = ccxt_config(stack, trader)
    config["urls"]["api"]["ws"] = {"spot": ws + "/stream", "ws-api": {"spot": ws + "/ws-api/v3"}}
    return ccxt.pro.binance(config)


def _funded(stack, market, base_amount="1000", quote_amount="100000"):
    base, quote = market.split("-")
    trader = new_trader(stack)
    trader.fund(base, base_amount)
    trader.fund(quote, quote_amount)
    return trader


def test_watch_order_book_stays_in_sync_through_hundreds_of_changes_and_equals_rest(
        stack, market):
    base, quote = market.split("-")
    symbol = f"{base}/{quote}"
    maker = _funded(stack, market)

    async def run() -> tuple[int, dict, dict]:
        watcher, trading = pro_client(stack), pro_client(stack, maker)
        await watcher.load_markets()
        await trading.load_markets()
        changes = 0
        try:
            book = await watcher.watch_order_book(symbol)

            async def make() -> None:
                placed = []
                for n in range(BOOK_CHANGES_MIN):
                    side = "buy" if n % 2 else "sell"
                    price = 99 - (n % 40) * 0.25 if side == "buy" else 101 + (n % 40) * 0.25
                    order = await trading.create_order(symbol, "limit", side, 0.5 + n % 3, price)
                    placed.append(order["id"])
                    if n % 2 == 1:   # and a cancel: a level shrinks or goes
                        await trading.cancel_order(placed.pop(0), symbol)

            making = asyncio.ensure_future(make())
            while not making.done():
                book = await asyncio.wait_for(watcher.watch_order_book(symbol), 20)
                changes += 1
            await making
            rest = await trading.fetch_order_book(symbol, 1000)
            while book["nonce"] < rest["nonce"]:
                book = await asyncio.wait_for(watcher.watch_order_book(symbol), 20)
            return changes, {"bids": book["bids"][:], "asks": book["asks"][:],
                             "nonce": book["nonce"]}, rest
        finally:
            await watcher.close()
            await trading.close()

    changes, streamed, rest = asyncio.run(run())
    assert changes >= 50   # updates are gathered every 100 ms: fewer than the changes
    assert streamed["nonce"] == rest["nonce"]
    assert streamed["bids"] == rest["bids"] and streamed["asks"] == rest["asks"]
    assert (len(rest["bids"]), len(rest["asks"])) == (20, 20)   # odd n buy, even n sell
    # 300 orders placed, the oldest cancelled after every second one: the 150 newest rest
    left = [0.5 + n % 3 for n in range(BOOK_CHANGES_MIN)][150:]
    assert sum(q for _, q in rest["bids"]) + sum(q for _, q in rest["asks"]) == sum(left)


def test_watch_trades_ohlcv_and_ticker_see_the_trades_placed(stack, market):
    base, quote = market.split("-")
    symbol = f"{base}/{quote}"
    seller, buyer = _funded(stack, market), _funded(stack, market)

    async def run():
        watcher = pro_client(stack)
        sells, buys = pro_client(stack, seller), pro_client(stack, buyer)
        for client in (watcher, sells, buys):
            await client.load_markets()
        try:
            trades_task = asyncio.ensure_future(_collect_trades(watcher, symbol, 3))
            await asyncio.sleep(0.5)
            await sells.create_order(symbol, "limit", "sell", 2, 100.25)
            await buys.create_order(symbol, "limit", "buy", 0.5, 100.25)
            await buys.create_order(symbol, "limit", "buy", 1.5, 100.25)
            await sells.create_order(symbol, "limit", "sell", 1, 100.5)
            await buys.create_order(symbol, "market", "buy", 0.25)
            trades = await asyncio.wait_for(trades_task, 20)
            candles = await asyncio.wait_for(_until(
                lambda: watcher.watch_ohlcv(symbol, "1m"), lambda c: c[-1][5] == 2.25), 20)
            mini = await asyncio.wait_for(_until(   # ccxt 4.5.90's default: @miniTicker
                lambda: watcher.watch_ticker(symbol), lambda t: t["baseVolume"] == 2.25), 20)
            ticker = await asyncio.wait_for(_until(
                lambda: watcher.watch_ticker(symbol, {"name": "ticker"}),
                lambda t: t["baseVolume"] == 2.25), 20)
            rest_trades = await watcher.fetch_trades(symbol)
            return trades, candles, (mini, ticker), rest_trades
        finally:
            for client in (watcher, sells, buys):
                await client.close()

    trades, candles, (mini, ticker), rest_trades = asyncio.run(run())
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [
        (100.25, 0.5, "buy"), (100.25, 1.5, "buy"), (100.5, 0.25, "buy")]
    assert [t["id"] for t in trades] == [t["id"] for t in rest_trades]
    assert [t["timestamp"] for t in trades] == [t["timestamp"] for t in rest_trades]
    opened, open_, high, low, close, volume = candles[-1]
    assert (open_, high, low, close, volume) == (100.25, 100.5, 100.25, 100.5, 2.25)
    assert opened % 60000 == 0
    for one in (mini, ticker):
        assert (one["last"], one["open"], one["high"], one["low"]) == (
            100.5, 100.25, 100.5, 100.25)
        assert (one["baseVolume"], one["quoteVolume"]) == (2.25, 225.625)
    assert mini["info"]["e"] == "24hrMiniTicker" and mini["ask"] is None
    assert (ticker["ask"], ticker["askVolume"], ticker["bid"]) == (100.5, 0.75, None)
    assert (ticker["info"]["q"], ticker["info"]["w"], ticker["info"]["n"]) == (
        "225.6250000000", "100.28", 3)   # exact: a value at the quote + base scales, as REST


async def _collect_trades(watcher, symbol, count):
    found = []
    while len(found) < count:
        found += await watcher.watch_trades(symbol)
    return found


async def _until(watch, done):
    while True:
        found = await watch()
        if done(found):
            return found
