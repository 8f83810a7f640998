"""python-binance 1.0.37, unchanged but for its base URL (shared/BINANCE.md section 1.2),
against the whole stack: what its users call, with the balances it leaves to the unit.

Each test makes its own market (tick 0.01, lot 0.001, maker 10 bps, taker 20 bps, base
scale 8, quote scale 2) and its own traders, funded through the faucet.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D
from typing import Any, Callable

import warnings

import pytest

from tests.api.binance.conftest import Trader, new_trader

with warnings.catch_warnings():
    # python-binance 1.0.37 imports websockets' legacy client (for its WebSocket API, which
    # these tests do not use), deprecated since websockets 14; warnings are errors here.
    warnings.filterwarnings("ignore", "websockets", DeprecationWarning)
    from binance.async_client import AsyncClient
    from binance.client import Client
    from binance.exceptions import BinanceAPIException

WAIT_SECONDS_MAX = 10.0     # for a new market to show (read every 2 s), for a stop to fill
ZERO_BASE, ZERO_QUOTE = "0.00000000", "0.00"


@pytest.fixture(scope="module", autouse=True)
def event_loop():
    """The loop python-binance takes: every Client, sync ones too, takes the thread's
    current event loop (making one if there is none) and never closes it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def client_class(url: str, base: type = Client) -> type:
    """python-binance pointed at our host: its URL class attributes, nothing else."""
    return type("OurClient", (base,), {"API_URL": url + "/api", "MARGIN_API_URL": url + "/sapi"})


def binance_client(url: str, trader: Trader | None = None, secret: str | None = None) -> Client:
    if trader is None:
        return client_class(url)()
    return client_class(url)(trader.key, secret or trader.secret)


def until(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def listed(client: Client, symbol: str) -> dict:
    """The symbol's exchangeInfo entry, once the face has read the new market."""
    info = until(lambda: client.get_symbol_info(symbol), lambda found: found is not None)
    assert info is not None, symbol
    return info


def refused(call: Callable[..., Any], **params: Any) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as raised:
        call(**params)
    return raised.value


def asset(client: Client, code: str) -> tuple[str, str]:
    found = client.get_asset_balance(asset=code)
    return found["free"], found["locked"]


@pytest.fixture
def traded(stack, market):
    """A seller's 1.5 @ 100.00 and a buyer's market buy of 1 against it (fees 10/20 bps)."""
    base, quote = market.split("-")
    symbol = base + quote
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "2")
    buyer.fund(quote, "1000")
    sells, buys = binance_client(stack, seller), binance_client(stack, buyer)
    listed(sells, symbol)
    sold = sells.order_limit_sell(symbol=symbol, quantity="1.5", price="100.00")
    bought = buys.order_market_buy(symbol=symbol, quantity="1")
    return dict(base=base, quote=quote, symbol=symbol, seller=seller, buyer=buyer,
                sells=sells, buys=buys, sold=sold, bought=bought)


def test_public_market_data_after_one_trade(stack, traded):
    symbol, base, quote = traded["symbol"], traded["base"], traded["quote"]
    public = binance_client(stack)
    assert public.ping() == {}
    assert abs(public.get_server_time()["serverTime"] - time.time() * 1000) < 5000
    info = public.get_exchange_info()
    assert symbol in {s["symbol"] for s in info["symbols"]}
    symbol_info = public.get_symbol_info(symbol)
    assert (symbol_info["status"], symbol_info["baseAsset"], symbol_info["quoteAsset"]) == \
        ("TRADING", base, quote)
    assert "LIMIT_MAKER" in symbol_info["orderTypes"]
    filters = {f["filterType"]: f for f in symbol_info["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00100000"
    assert filters["NOTIONAL"]["minNotional"] == "1.00"
    book = public.get_order_book(symbol=symbol)
    assert isinstance(book["lastUpdateId"], int) and book["lastUpdateId"] > 0
    assert book["bids"] == [] and book["asks"] == [["100.00", "0.50000000"]]
    recent = public.get_recent_trades(symbol=symbol)
    assert [(t["price"], t["qty"], D(t["quoteQty"]), t["isBuyerMaker"]) for t in recent] == \
        [("100.00", "1.00000000", D(100), False)]
    aggregate = public.get_aggregate_trades(symbol=symbol)
    assert [(t["a"], t["p"], t["q"], t["m"]) for t in aggregate] == \
        [(recent[0]["id"], "100.00", "1.00000000", False)]
    klines = public.get_klines(symbol=symbol, interval=Client.KLINE_INTERVAL_1MINUTE, limit=5)
    assert klines and all(len(k) == 12 for k in klines)
    traded_klines = [k for k in klines if D(k[5])]
    assert [(k[1], k[2], k[3], k[4], k[5], D(k[7]), k[8]) for k in traded_klines] == \
        [("100.00", "100.00", "100.00", "100.00", "1.00000000", D(100), 1)]
    assert all(k[6] == k[0] + 59_999 for k in klines)
    earliest = public.get_klines(symbol=symbol, interval="1m", startTime=0, limit=1)
    assert earliest[0][5] == "1.00000000"
    ticker = public.get_ticker(symbol=symbol)
    assert (ticker["symbol"], ticker["lastPrice"], ticker["openPrice"], ticker["highPrice"],
            ticker["lowPrice"], ticker["volume"], D(ticker["quoteVolume"]), ticker["count"]) == \
        (symbol, "100.00", "100.00", "100.00", "100.00", "1.00000000", D(100), 1)
    assert (ticker["askPrice"], ticker["askQty"], ticker["bidPrice"]) == \
        ("100.00", "0.50000000", ZERO_QUOTE)
    assert public.get_symbol_ticker(symbol=symbol) == {"symbol": symbol, "price": "100.00"}
    assert public.get_orderbook_ticker(symbol=symbol) == {
        "symbol": symbol, "bidPrice": ZERO_QUOTE, "bidQty": ZERO_BASE, "askPrice": "100.00",
        "askQty": "0.50000000"}
    average = public.get_avg_price(symbol=symbol)
    assert (average["mins"], average["price"]) == (5, "100.00")


def test_limit_sell_and_market_buy_pay_the_maker_and_taker_fees(stack, traded):
    symbol, base, quote = traded["symbol"], traded["base"], traded["quote"]
    sold, bought = traded["sold"], traded["bought"]
    sells, buys = traded["sells"], traded["buys"]
    assert (sold["status"], sold["type"], sold["side"], sold["fills"]) == \
        ("NEW", "LIMIT", "SELL", [])
    assert sold["clientOrderId"].startswith("x-HNA2TXFJ")
    assert (bought["status"], bought["type"], bought["executedQty"]) == \
        ("FILLED", "MARKET", "1.00000000")
    assert D(bought["cummulativeQuoteQty"]) == D(100)
    assert bought["fills"] == [{"price": "100.00", "qty": "1.00000000", "commission": "0.20",
                                "commissionAsset": quote,
                                "tradeId": bought["fills"][0]["tradeId"]}]
    assert traded["buyer"].balances() == {base: ("1.00000000", ZERO_BASE),
                                          quote: ("899.80", ZERO_QUOTE)}
    assert traded["seller"].balances() == {base: ("0.50000000", "0.50000000"),
                                           quote: ("99.90", ZERO_QUOTE)}
    assert asset(buys, quote) == ("899.80", ZERO_QUOTE)
    assert asset(sells, base) == ("0.50000000", "0.50000000")
    account = sells.get_account()
    assert {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]
            if b["asset"] in (base, quote)} == {base: ("0.50000000", "0.50000000"),
                                                quote: ("99.90", ZERO_QUOTE)}
    assert account["canTrade"] is True

    seen = sells.get_order(symbol=symbol, orderId=sold["orderId"])
    assert (seen["status"], seen["executedQty"], seen["origQty"], seen["price"]) == \
        ("PARTIALLY_FILLED", "1.00000000", "1.50000000", "100.00")
    assert [o["orderId"] for o in sells.get_open_orders(symbol=symbol)] == [sold["orderId"]]
    assert buys.get_open_orders(symbol=symbol) == []
    assert [(o["orderId"], o["status"]) for o in buys.get_all_orders(symbol=symbol)] == \
        [(bought["orderId"], "FILLED")]
    [sell_trade] = sells.get_my_trades(symbol=symbol)
    [buy_trade] = buys.get_my_trades(symbol=symbol)
    assert (sell_trade["orderId"], sell_trade["price"], sell_trade["qty"],
            sell_trade["commission"], sell_trade["commissionAsset"], sell_trade["isMaker"],
            sell_trade["isBuyer"]) == (sold["orderId"], "100.00", "1.00000000", "0.10", quote,
                                       True, False)
    assert (buy_trade["orderId"], buy_trade["commission"], buy_trade["commissionAsset"],
            buy_trade["isMaker"], buy_trade["isBuyer"]) == \
        (bought["orderId"], "0.20", quote, False, True)
    assert sell_trade["id"] == buy_trade["id"] == bought["fills"][0]["tradeId"]

    cancelled = sells.cancel_order(symbol=symbol, orderId=sold["orderId"])
    assert (cancelled["status"], cancelled["executedQty"]) == ("CANCELED", "1.00000000")
    assert cancelled["origClientOrderId"] == sold["clientOrderId"]
    assert traded["seller"].balances() == {base: ("1.00000000", ZERO_BASE),
                                           quote: ("99.90", ZERO_QUOTE)}
    assert asset(sells, base) == ("1.00000000", ZERO_BASE)
    again = refused(sells.cancel_order, symbol=symbol, orderId=sold["orderId"])
    assert (again.status_code, again.code, again.message) == (400, -2011, "Unknown order sent.")
    unknown = refused(sells.cancel_order, symbol=symbol, orderId=10**15)
    assert (unknown.code, unknown.message) == (-2011, "Unknown order sent.")
    missing = refused(sells.get_order, symbol=symbol, orderId=10**15)
    assert (missing.status_code, missing.code, missing.message) == \
        (400, -2013, "Order does not exist.")
    assert [o["status"] for o in sells.get_all_orders(symbol=symbol)] == ["CANCELED"]


def test_market_buy_by_quote_amount_spends_it_plus_the_taker_fee(stack, market):
    base, quote = market.split("-")
    symbol = base + quote
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "1.5")
    buyer.fund(quote, "100")
    sells, buys = binance_client(stack, seller), binance_client(stack, buyer)
    listed(buys, symbol)
    sells.order_limit_sell(symbol=symbol, quantity="1.5", price="100.00")
    bought = buys.create_order(symbol=symbol, side="BUY", type="MARKET", quoteOrderQty="50")
    assert (bought["status"], bought["executedQty"], bought["origQty"]) == \
        ("FILLED", "0.50000000", "0.50000000")
    assert D(bought["cummulativeQuoteQty"]) == D(50) and D(bought["origQuoteOrderQty"]) == D(50)
    assert [(f["qty"], f["commission"]) for f in bought["fills"]] == [("0.50000000", "0.10")]
    assert buyer.balances() == {base: ("0.50000000", ZERO_BASE), quote: ("49.90", ZERO_QUOTE)}
    assert seller.balances() == {base: (ZERO_BASE, "1.00000000"), quote: ("49.95", ZERO_QUOTE)}


def test_ioc_and_fok_that_cannot_fill_expire_and_release_their_holds(stack, market):
    base, quote = market.split("-")
    symbol = base + quote
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "1.5")
    buyer.fund(quote, "500")
    sells, buys = binance_client(stack, seller), binance_client(stack, buyer)
    listed(buys, symbol)
    sells.order_limit_sell(symbol=symbol, quantity="1.5", price="100.00")
    ioc = buys.create_order(symbol=symbol, side="BUY", type="LIMIT", timeInForce="IOC",
                            quantity="1", price="99.00")
    assert (ioc["status"], ioc["timeInForce"], ioc["executedQty"], ioc["fills"]) == \
        ("EXPIRED", "IOC", ZERO_BASE, [])
    fok = buys.create_order(symbol=symbol, side="BUY", type="LIMIT", timeInForce="FOK",
                            quantity="2", price="100.00")
    assert (fok["status"], fok["timeInForce"], fok["executedQty"], fok["fills"]) == \
        ("EXPIRED", "FOK", ZERO_BASE, [])
    assert buyer.balances() == {quote: ("500.00", ZERO_QUOTE)}
    assert asset(buys, quote) == ("500.00", ZERO_QUOTE)
    assert seller.balances() == {base: (ZERO_BASE, "1.50000000")}
    assert [o["status"] for o in buys.get_all_orders(symbol=symbol)] == ["EXPIRED", "EXPIRED"]
    assert buys.get_open_orders(symbol=symbol) == []


def test_limit_maker_that_would_cross_is_refused_and_holds_nothing(stack, market):
    base, quote = market.split("-")
    symbol = base + quote
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "1")
    buyer.fund(quote, "200")
    sells, buys = binance_client(stack, seller), binance_client(stack, buyer)
    listed(buys, symbol)
    sells.order_limit_sell(symbol=symbol, quantity="1", price="100.00")
    error = refused(buys.create_order, symbol=symbol, side="BUY", type="LIMIT_MAKER",
                    quantity="1", price="100.00")
    assert (error.status_code, error.code, error.message) == \
        (400, -2010, "Order would immediately match and take.")
    assert buyer.balances() == {quote: ("200.00", ZERO_QUOTE)}
    resting = buys.create_order(symbol=symbol, side="BUY", type="LIMIT_MAKER", quantity="1",
                                price="99.00")
    assert (resting["status"], resting["type"]) == ("NEW", "LIMIT_MAKER")
    # 99.00 held and the larger fee (taker, 20 bps): 0.20
    assert buyer.balances() == {quote: ("100.80", "99.20")}
    assert seller.balances() == {base: (ZERO_BASE, "1.00000000")}


def test_stop_loss_limit_triggered_by_a_trade_fills_as_taker(stack, market):
    base, quote = market.split("-")
    symbol = base + quote
    bidder, seller, stopper = new_trader(stack), new_trader(stack), new_trader(stack)
    bidder.fund(quote, "1000")
    seller.fund(base, "1.5")
    stopper.fund(base, "1")
    bids, sells, stops = (binance_client(stack, t) for t in (bidder, seller, stopper))
    listed(bids, symbol)
    bids.order_limit_buy(symbol=symbol, quantity="1", price="110.00")
    low_bid = bids.order_limit_buy(symbol=symbol, quantity="1.5", price="100.00")
    sells.order_limit_sell(symbol=symbol, quantity="1", price="110.00")     # last price 110
    stop = stops.create_order(symbol=symbol, side="SELL", type="STOP_LOSS_LIMIT",
                              timeInForce="GTC", quantity="1", price="100.00",
                              stopPrice="105.00")
    assert set(stop) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    waiting = stops.get_order(symbol=symbol, orderId=stop["orderId"])
    assert (waiting["status"], waiting["type"], waiting["stopPrice"], waiting["isWorking"]) == \
        ("NEW", "STOP_LOSS_LIMIT", "105.00", False)
    assert stopper.balances() == {base: (ZERO_BASE, "1.00000000")}

    sells.order_limit_sell(symbol=symbol, quantity="0.5", price="100.00")   # last price 100
    filled = until(lambda: stops.get_order(symbol=symbol, orderId=stop["orderId"]),
                   lambda order: order["status"] == "FILLED")
    assert (filled["status"], filled["executedQty"], filled["isWorking"]) == \
        ("FILLED", "1.00000000", True)
    assert D(filled["cummulativeQuoteQty"]) == D(100)
    [trade] = stops.get_my_trades(symbol=symbol)
    assert (trade["price"], trade["qty"], trade["commission"], trade["isMaker"]) == \
        ("100.00", "1.00000000", "0.20", False)
    assert stopper.balances() == {base: (ZERO_BASE, ZERO_BASE), quote: ("99.80", ZERO_QUOTE)}
    assert asset(stops, quote) == ("99.80", ZERO_QUOTE)
    # 110 + 0.11, then 50 + 0.05 and 100 + 0.10 as maker: the rest of the holds released
    assert bidder.balances() == {base: ("2.50000000", ZERO_BASE), quote: ("739.74", ZERO_QUOTE)}
    assert seller.balances() == {base: (ZERO_BASE, ZERO_BASE), quote: ("159.68", ZERO_QUOTE)}
    assert bids.get_order(symbol=symbol, orderId=low_bid["orderId"])["status"] == "FILLED"


def test_a_partial_fill_then_cancel_releases_the_rest(stack, market):
    base, quote = market.split("-")
    symbol = base + quote
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "2")
    buyer.fund(quote, "50.10")
    sells, buys = binance_client(stack, seller), binance_client(stack, buyer)
    listed(sells, symbol)
    sold = sells.order_limit_sell(symbol=symbol, quantity="2", price="100.00")
    bought = buys.order_limit_buy(symbol=symbol, quantity="0.5", price="100.00")
    assert (bought["status"], bought["executedQty"]) == ("FILLED", "0.50000000")
    partial = sells.get_order(symbol=symbol, orderId=sold["orderId"])
    assert (partial["status"], partial["executedQty"], D(partial["cummulativeQuoteQty"])) == \
        ("PARTIALLY_FILLED", "0.50000000", D(50))
    assert seller.balances() == {base: (ZERO_BASE, "1.50000000"), quote: ("49.95", ZERO_QUOTE)}
    assert buyer.balances() == {base: ("0.50000000", ZERO_BASE), quote: (ZERO_QUOTE, ZERO_QUOTE)}
    cancelled = sells.cancel_order(symbol=symbol, orderId=sold["orderId"],
                                   newClientOrderId="my-cancel-1")
    assert (cancelled["status"], cancelled["executedQty"], cancelled["clientOrderId"]) == \
        ("CANCELED", "0.50000000", "my-cancel-1")
    assert seller.balances() == {base: ("1.50000000", ZERO_BASE), quote: ("49.95", ZERO_QUOTE)}


def test_test_order_answers_nothing_and_changes_nothing(stack, market):
    base, quote = market.split("-")
    symbol = base + quote
    buyer = new_trader(stack)
    buyer.fund(quote, "200")
    buys = binance_client(stack, buyer)
    listed(buys, symbol)
    assert buys.create_test_order(symbol=symbol, side="BUY", type="LIMIT", timeInForce="GTC",
                                  quantity="1", price="100.00") == {}
    assert buyer.balances() == {quote: ("200.00", ZERO_QUOTE)}
    assert buys.get_all_orders(symbol=symbol) == []
    error = refused(buys.create_test_order, symbol=symbol, side="BUY", type="LIMIT",
                    timeInForce="GTC", quantity="1", price="100.001")
    assert (error.code, error.message) == (-1013, "Filter failure: PRICE_FILTER")


def test_refusals_carry_binance_codes_and_change_nothing(stack, market):
    base, quote = market.split("-")
    symbol = base + quote
    buyer = new_trader(stack)
    buyer.fund(quote, "10")
    buys = binance_client(stack, buyer)
    listed(buys, symbol)
    limit = dict(symbol=symbol, side="BUY", type="LIMIT", timeInForce="GTC")
    poor = refused(buys.create_order, **limit, quantity="1", price="100.00")
    assert (poor.status_code, poor.code, poor.message) == \
        (400, -2010, "Account has insufficient balance for requested action.")
    unknown = refused(buys.create_order, **{**limit, "symbol": "NOSUCHSYMBOL"}, quantity="1",
                      price="1.00")
    assert (unknown.code, unknown.message) == (-1121, "Invalid symbol.")
    off_tick = refused(buys.create_order, **limit, quantity="0.01", price="5.005")
    assert (off_tick.code, off_tick.message) == (-1013, "Filter failure: PRICE_FILTER")
    off_lot = refused(buys.create_order, **limit, quantity="0.0015", price="5.00")
    assert (off_lot.code, off_lot.message) == (-1013, "Filter failure: LOT_SIZE")
    forged = binance_client(stack, buyer, secret="0" * len(buyer.secret))
    bad_signature = refused(forged.create_order, **limit, quantity="1", price="5.00")
    assert (bad_signature.code, bad_signature.message) == \
        (-1022, "Signature for this request is not valid.")
    assert refused(forged.get_account).code == -1022
    watcher = new_trader(stack, scopes=("read",))
    watcher.fund(quote, "10")
    read_only = binance_client(stack, watcher)
    assert asset(read_only, quote) == ("10.00", ZERO_QUOTE)
    not_allowed = refused(read_only.create_order, **limit, quantity="1", price="5.00")
    assert (not_allowed.status_code, not_allowed.code) == (403, -2015)
    assert buyer.balances() == {quote: ("10.00", ZERO_QUOTE)}
    assert watcher.balances() == {quote: ("10.00", ZERO_QUOTE)}
    assert buys.get_all_orders(symbol=symbol) == [] == read_only.get_all_orders(symbol=symbol)


def test_cancel_all_open_orders_releases_every_hold(stack, market):
    base, quote = market.split("-")
    symbol = base + quote
    trader = new_trader(stack)
    trader.fund(base, "1")
    trader.fund(quote, "100")
    client = binance_client(stack, trader)
    listed(client, symbol)
    buy = client.order_limit_buy(symbol=symbol, quantity="0.5", price="90.00")
    sell = client.order_limit_sell(symbol=symbol, quantity="1", price="110.00")
    # 45.00 + 0.09 (the taker's 20 bps) held for the buy, 1 base for the sell
    assert trader.balances() == {base: (ZERO_BASE, "1.00000000"), quote: ("54.91", "45.09")}
    cancelled = client.cancel_all_open_orders(symbol=symbol)
    assert sorted((o["orderId"], o["status"]) for o in cancelled) == \
        sorted([(buy["orderId"], "CANCELED"), (sell["orderId"], "CANCELED")])
    assert trader.balances() == {base: ("1.00000000", ZERO_BASE), quote: ("100.00", ZERO_QUOTE)}
    assert client.get_open_orders(symbol=symbol) == []
    none_left = refused(client.cancel_all_open_orders, symbol=symbol)
    assert (none_left.code, none_left.message) == (-2011, "Unknown order sent.")


def test_async_client_places_reads_and_cancels(stack, market, event_loop):
    base, quote = market.split("-")
    symbol = base + quote
    trader = new_trader(stack)
    trader.fund(quote, "100")
    listed(binance_client(stack), symbol)

    async def scenario() -> None:
        client = await client_class(stack, AsyncClient).create(trader.key, trader.secret)
        try:
            assert await client.ping() == {}
            info = await client.get_symbol_info(symbol)
            assert info["filters"][0]["tickSize"] == "0.01"
            placed = await client.order_limit_buy(symbol=symbol, quantity="1", price="50.00")
            assert (placed["status"], placed["price"], placed["origQty"]) == \
                ("NEW", "50.00", "1.00000000")
            assert (await client.get_order_book(symbol=symbol))["bids"] == \
                [["50.00", "1.00000000"]]
            assert await client.get_asset_balance(asset=quote) == \
                {"asset": quote, "free": "49.90", "locked": "50.10"}
            assert [o["orderId"] for o in await client.get_open_orders(symbol=symbol)] == \
                [placed["orderId"]]
            cancelled = await client.cancel_order(symbol=symbol, orderId=placed["orderId"])
            assert cancelled["status"] == "CANCELED"
            assert await client.get_asset_balance(asset=quote) == \
                {"asset": quote, "free": "100.00", "locked": ZERO_QUOTE}
            with pytest.raises(BinanceAPIException) as raised:
                await client.get_order(symbol=symbol, orderId=10**15)
            assert raised.value.code == -2013
        finally:
            await client.close_connection()

    event_loop.run_until_complete(scenario())
    assert trader.balances() == {quote: ("100.00", ZERO_QUOTE)}
