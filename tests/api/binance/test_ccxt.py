"""ccxt 4.5.90's binance class, unchanged apart from its URLs and the options of
shared/BINANCE.md, against the real stack: its unified methods, its own structure
validators (shipped in the wheel, ``ccxt.test``) on our data, and exact balances."""

from __future__ import annotations

import asyncio

import ccxt
import pytest

from tests.api.binance.conftest import ccxt_client, ccxt_config, new_trader


def _traded(stack, market):
    """A seller with a partly filled sell and a resting bid under it, a buyer who took."""
    base, quote = market.split("-")
    symbol = f"{base}/{quote}"
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "3")
    seller.fund(quote, "100")
    buyer.fund(quote, "1000")
    sells, buys = ccxt_client(stack, seller), ccxt_client(stack, buyer)
    sells.load_markets()
    buys.load_markets()
    resting = sells.create_order(symbol, "limit", "sell", 1.5, 100.5)
    bid = sells.create_order(symbol, "limit", "buy", 0.5, 100)
    taken = buys.create_order(symbol, "market", "buy", 1)
    return symbol, seller, buyer, sells, buys, resting, bid, taken


def test_trading_between_two_bots_leaves_exact_balances(stack, market):
    base, quote = market.split("-")
    symbol, seller, buyer, sells, buys, resting, bid, taken = _traded(stack, market)
    assert (resting["status"], bid["status"]) == ("open", "open")
    assert (taken["status"], taken["filled"], taken["cost"], taken["average"]) == (
        "closed", 1, 100.5, 100.5)
    assert taken["fee"] == {"cost": 0.21, "currency": quote}   # 20 bps of 100.50, rounded up
    balance = buys.fetch_balance()
    assert (balance[base]["free"], balance[base]["used"]) == (1, 0)
    assert buyer.balances()[quote] == ("899.29", "0.00")      # 1000 - 100.50 - 0.21
    assert seller.balances()[base] == ("1.50000000", "0.50000000")
    # 100 + 100.50 - 0.11 maker fee; the bid holds 50.00 and the larger fee, 0.10
    assert seller.balances()[quote] == ("150.29", "50.10")
    assert (balance[quote]["free"], balance[quote]["total"]) == (899.29, 899.29)
    mine = sells.fetch_my_trades(symbol)
    assert [(t["side"], t["price"], t["amount"], t["fee"]["cost"], t["takerOrMaker"])
            for t in mine] == [("sell", 100.5, 1, 0.11, "maker")]
    assert mine[0]["order"] == resting["id"]


def test_ccxt_own_validators_pass_on_our_data(stack, market):
    from ccxt.test.exchange.base import test_order
    from ccxt.test.exchange.sync import (
        test_fetch_balance, test_fetch_closed_orders, test_fetch_l2_order_book,
        test_fetch_last_prices, test_fetch_my_trades, test_fetch_ohlcv, test_fetch_open_orders,
        test_fetch_order_book, test_fetch_orders, test_fetch_ticker, test_fetch_trades,
        test_load_markets, test_fetch_trading_fees, test_fetch_status,
    )

    symbol, seller, buyer, sells, buys, resting, bid, taken = _traded(stack, market)
    now = sells.milliseconds()
    test_load_markets.test_load_markets(sells, {})
    test_fetch_status.test_fetch_status(sells, {})
    test_fetch_trading_fees.test_fetch_trading_fees(sells, {})
    for check in (test_fetch_ticker.test_fetch_ticker, test_fetch_order_book.test_fetch_order_book,
                  test_fetch_l2_order_book.test_fetch_l2_order_book,
                  test_fetch_trades.test_fetch_trades, test_fetch_ohlcv.test_fetch_ohlcv,
                  test_fetch_open_orders.test_fetch_open_orders,
                  test_fetch_orders.test_fetch_orders,
                  test_fetch_closed_orders.test_fetch_closed_orders,
                  test_fetch_my_trades.test_fetch_my_trades):
        check(sells, {}, symbol)
    # ccxt reads a price of 0 (a market of another test that never traded) as None, and its
    # validator then compares the first value's None with 0 and raises: it checks this
    # test's market alone, as its own fallback does.
    every = sells.fetch_last_prices
    sells.fetch_last_prices = lambda symbols=None, params={}: every(symbols or [symbol], params)
    test_fetch_last_prices.test_fetch_last_prices(sells, {}, symbol)
    sells.fetch_last_prices = every
    test_fetch_balance.test_fetch_balance(sells, {})
    for placed in (resting, bid, taken):
        test_order(sells, {}, "createOrder", placed, symbol, now)


def test_time_in_force_post_only_and_market_buys_by_cost(stack, market):
    base, quote = market.split("-")
    symbol, seller, buyer, sells, buys, resting, bid, taken = _traded(stack, market)
    # The book: asks 0.5 @ 100.50 (seller); bids 0.5 @ 100.00 (seller).
    before = buyer.balances()
    for tif in ("IOC", "FOK"):
        missed = buys.create_order(symbol, "limit", "buy", 1, 100.4, {"timeInForce": tif})
        assert (missed["status"], missed["filled"], missed["timeInForce"]) == (
            "expired", 0, tif)
    assert buyer.balances() == before                      # both holds released in full
    fok = buys.create_order(symbol, "limit", "buy", 1, 100.5, {"timeInForce": "FOK"})
    assert (fok["status"], fok["filled"]) == ("expired", 0)     # only 0.5 there: nothing
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        buys.create_order(symbol, "limit", "buy", 0.1, 100.5, {"postOnly": True})
    maker = buys.create_order(symbol, "limit", "buy", 0.1, 99, {"postOnly": True})
    assert (maker["status"], maker["postOnly"], maker["info"]["type"]) == (
        "open", True, "LIMIT_MAKER")
    assert buys.cancel_order(maker["id"], symbol)["status"] == "canceled"
    assert buyer.balances() == before
    # By cost: 20.10 quote buys 0.2 at 100.50 (20.10, fee 0.05 rounded up, held on top).
    by_cost = buys.create_market_buy_order_with_cost(symbol, 20.1)
    assert (by_cost["status"], by_cost["filled"], by_cost["cost"]) == ("closed", 0.2, 20.1)
    assert buyer.balances()[quote] == ("879.14", "0.00")       # 899.29 - 20.10 - 0.05
    assert buyer.balances()[base] == ("1.20000000", "0.00000000")
    partial = buys.create_order(symbol, "limit", "buy", 0.5, 100.5)   # 0.3 left there
    assert (partial["status"], partial["filled"], partial["remaining"]) == ("open", 0.3, 0.2)
    assert buys.fetch_order(partial["id"], symbol)["info"]["status"] == "PARTIALLY_FILLED"
    assert [o["id"] for o in buys.fetch_open_orders(symbol)] == [partial["id"]]
    assert [o["id"] for o in buys.cancel_all_orders(symbol)] == [partial["id"]]
    assert partial["id"] in [o["id"] for o in buys.fetch_canceled_orders(symbol)]
    assert [t["amount"] for t in buys.fetch_order_trades(partial["id"], symbol)] == [0.3]
    # 879.14 - 30.15 - 0.07 (20 bps of 30.15, up); the rest of the hold released
    assert buyer.balances()[quote] == ("848.92", "0.00")
    assert buyer.balances()[base] == ("1.50000000", "0.00000000")


def test_stops_and_take_profits_trigger_in_sequence(stack, market):
    base, quote = market.split("-")
    symbol, seller, buyer, sells, buys, resting, bid, taken = _traded(stack, market)
    # freqtrade's stop-loss on the exchange: STOP_LOSS_LIMIT with stopPrice.
    stop = buys.create_order(symbol, "stop_loss_limit", "sell", 0.5, 99.5, {"stopPrice": 100})
    assert (stop["status"], stop["triggerPrice"], stop["info"]["type"]) == (
        "open", 100, "STOP_LOSS_LIMIT")
    assert buyer.balances()[base] == ("0.50000000", "0.50000000")
    take = buys.create_order(symbol, "limit", "sell", 0.5, 101, {"takeProfitPrice": 101})
    assert take["info"]["type"] == "TAKE_PROFIT_LIMIT"
    assert buyer.balances()[base] == ("0.00000000", "1.00000000")
    # A third trader sells into the bid at 100.00: the stop triggers, the take-profit not.
    third = new_trader(stack)
    third.fund(base, "1")
    hits = ccxt_client(stack, third)
    hits.load_markets()
    hit = hits.create_order(symbol, "market", "sell", 0.5)           # last price 100.00
    assert hit["status"] == "closed" and hit["average"] == 100
    fetched = buys.fetch_order(stop["id"], symbol)
    assert (fetched["status"], fetched["filled"]) == ("open", 0)    # resting at 99.50 now
    assert fetched["info"]["workingTime"] != -1                       # triggered
    assert buys.fetch_order(take["id"], symbol)["info"]["workingTime"] == -1
    third.fund(quote, "100")
    filled = hits.create_order(symbol, "limit", "buy", 0.5, 99.5)
    assert (filled["status"], filled["average"]) == ("closed", 99.5)
    assert buys.fetch_order(stop["id"], symbol)["status"] == "closed"
    assert [o["id"] for o in buys.cancel_all_orders(symbol)] == [take["id"]]
    assert buyer.balances()[base] == ("0.50000000", "0.00000000")
    # 899.29 + 49.75 - 0.05 (10 bps of 49.75 as maker, rounded up)
    assert buyer.balances()[quote] == ("948.99", "0.00")
    stop_market = buys.create_order(symbol, "market", "sell", 0.1, None, {"stopLossPrice": 90})
    take_market = buys.create_order(symbol, "market", "sell", 0.1, None,
                                    {"takeProfitPrice": 120})
    assert (stop_market["info"]["type"], take_market["info"]["type"]) == (
        "STOP_LOSS", "TAKE_PROFIT")
    assert buyer.balances()[base] == ("0.30000000", "0.20000000")
    assert sorted(o["id"] for o in buys.cancel_all_orders(symbol)) == sorted(
        [stop_market["id"], take_market["id"]])
    assert buyer.balances()[base] == ("0.50000000", "0.00000000")


def test_every_error_class_comes_from_a_real_refusal(stack, market, settings, tmp_path):
    from tests.api.conftest import start_web

    base, quote = market.split("-")
    symbol, seller, buyer, sells, buys, resting, bid, taken = _traded(stack, market)
    before = buyer.balances()
    raw_id = symbol.replace("/", "")
    with pytest.raises(ccxt.InsufficientFunds):
        buys.create_order(symbol, "limit", "buy", 100, 100)
    with pytest.raises(ccxt.OrderNotFound):
        buys.fetch_order("999999999", symbol)
    with pytest.raises(ccxt.OrderNotFound):
        buys.cancel_order(taken["id"], symbol)                # filled already
    with pytest.raises(ccxt.InvalidOrder):                   # off the lot: no rounding
        buys.private_post_order({"symbol": raw_id, "side": "BUY", "type": "LIMIT",
                                 "timeInForce": "GTC", "quantity": "0.0015", "price": "90"})
    with pytest.raises(ccxt.InvalidOrder):                   # off the tick
        buys.private_post_order({"symbol": raw_id, "side": "BUY", "type": "LIMIT",
                                 "timeInForce": "GTC", "quantity": "0.001", "price": "90.001"})
    with pytest.raises(ccxt.BadRequest):                     # below the minimum notional
        buys.private_post_order({"symbol": raw_id, "side": "BUY", "type": "LIMIT",
                                 "timeInForce": "GTC", "quantity": "0.001", "price": "90"})
    with pytest.raises(ccxt.BadRequest):
        buys.private_post_order({"symbol": raw_id, "side": "BUY", "type": "LIMIT"})
    with pytest.raises(ccxt.BadSymbol):
        buys.public_get_depth({"symbol": "NOSUCHPAIR"})
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        buys.create_order(symbol, "limit", "buy", 0.1, 101, {"postOnly": True})
    with pytest.raises(ccxt.OrderImmediatelyFillable):       # a stop that would trigger now
        buys.create_order(symbol, "stop_loss_limit", "sell", 0.1, 100.6, {"stopPrice": 100.6})
    wrong = ccxt_client(stack, buyer)
    wrong.secret = "0" * 64
    with pytest.raises(ccxt.AuthenticationError):
        wrong.fetch_balance()
    reader = new_trader(stack, scopes=("read",))
    reading = ccxt_client(stack, reader)
    reading.load_markets()
    with pytest.raises(ccxt.PermissionDenied):
        reading.create_order(symbol, "limit", "buy", 0.1, 90)
    late = ccxt_client(stack, buyer)
    late.options["timeDifference"] = 20_000                   # signs 20 s in the past
    with pytest.raises(ccxt.InvalidNonce):
        late.fetch_balance()
    assert buyer.balances() == before                         # nothing of it changed anything
    web, url = start_web(tmp_path, RATE_LIMIT_PER_USER="3/minute")
    try:
        limited = ccxt_client(url, buyer)
        limited.enableRateLimit = False
        with pytest.raises(ccxt.DDoSProtection):
            for _ in range(4):
                limited.fetch_balance()
    finally:
        assert web.stop() == 0


def test_the_async_class_reads_and_trades_the_same(stack, market):
    import ccxt.async_support

    base, quote = market.split("-")
    symbol = f"{base}/{quote}"
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "1")
    buyer.fund(quote, "100")

    async def run() -> tuple:
        sells = ccxt.async_support.binance(ccxt_config(stack, seller))
        buys = ccxt.async_support.binance(ccxt_config(stack, buyer))
        try:
            await sells.load_markets()
            await buys.load_markets()
            server_time = await sells.fetch_time()
            ask = await sells.create_order(symbol, "limit", "sell", 0.25, 80)
            took = await buys.create_order(symbol, "market", "buy", 0.25)
            book = await buys.fetch_order_book(symbol)
            ticker = await buys.fetch_ticker(symbol)
            tickers = await buys.fetch_tickers([symbol])
            bids_asks = await buys.fetch_bids_asks([symbol])
            prices = await buys.fetch_last_prices([symbol])
            fee = await buys.fetch_trading_fee(symbol)
            balance = await buys.fetch_balance()
            fetched = await sells.fetch_order(ask["id"], symbol)
            return (server_time, took, book, ticker, tickers, bids_asks, prices, fee, balance,
                    fetched)
        finally:
            await sells.close()
            await buys.close()

    (server_time, took, book, ticker, tickers, bids_asks, prices, fee, balance,
     fetched) = asyncio.run(run())
    assert abs(server_time - ccxt.binance().milliseconds()) < 60_000
    assert (took["status"], took["filled"], took["cost"], took["fee"]["cost"]) == (
        "closed", 0.25, 20, 0.04)
    assert (fetched["status"], fetched["filled"]) == ("closed", 0.25)
    assert book["bids"] == [] and book["asks"] == [] and isinstance(book["nonce"], int)
    assert (ticker["last"], ticker["baseVolume"], ticker["quoteVolume"]) == (80, 0.25, 20)
    assert list(tickers) == [symbol] and tickers[symbol]["last"] == 80
    assert symbol in bids_asks and prices[symbol]["price"] == 80
    assert (fee["maker"], fee["taker"]) == (0.001, 0.002)
    assert (balance[base]["total"], balance[quote]["free"], balance[quote]["used"]) == (
        0.25, 79.96, 0)
    assert buyer.balances() == {base: ("0.25000000", "0.00000000"), quote: ("79.96", "0.00")}
    assert seller.balances()[quote] == ("19.98", "0.00")      # 20.00 - 0.02 maker fee
