"""python-binance 1.0.37's ``BinanceSocketManager``, pointed at our host by its URL class
attributes only: a raw trade socket, a partial book, a multiplexed (combined) socket and
the user socket (over the WebSocket API) receive the streams' exact frames."""

from __future__ import annotations

import asyncio
import warnings

from tests.api.binance.conftest import ccxt_client, new_trader
from tests.api.binance.test_python_binance import client_class, event_loop  # noqa: F401

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "websockets", DeprecationWarning)
    from binance import BinanceSocketManager
    from binance.async_client import AsyncClient

FRAME_SECONDS_MAX = 20


def socket_manager(client: AsyncClient, stack: str) -> BinanceSocketManager:
    manager = type("OurSockets", (BinanceSocketManager,),
                   {"STREAM_URL": stack.replace("http://", "ws://") + "/"})
    return manager(client)


async def _frame(socket, done):
    while True:
        frame = await asyncio.wait_for(socket.recv(), FRAME_SECONDS_MAX)
        if done(frame):
            return frame


def test_the_socket_manager_receives_trades_books_candles_and_the_users_orders(
        stack, market, event_loop):  # noqa: F811
    base, quote = market.split("-")
    symbol = market.replace("-", "")
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "3")
    buyer.fund(quote, "1000")
    ws = stack.replace("http://", "ws://")

    async def run():
        ours = type("OurAsync", (client_class(stack, AsyncClient),),
                    {"WS_API_URL": ws + "/ws-api/v3"})
        client = await ours.create(seller.key, seller.secret)
        sockets = socket_manager(client, stack)
        trades, book = sockets.trade_socket(symbol), sockets.depth_socket(symbol, depth=5)
        combined = sockets.multiplex_socket([f"{symbol.lower()}@aggTrade",
                                             f"{symbol.lower()}@kline_1m"])
        user = sockets.user_socket()
        try:
            async with trades, book, combined, user:
                await asyncio.sleep(1)
                sells, buys = ccxt_client(stack, seller), ccxt_client(stack, buyer)
                sells.create_order(f"{base}/{quote}", "limit", "sell", 1.5, 100.5)
                buys.create_order(f"{base}/{quote}", "market", "buy", 1)
                return (await _frame(trades, lambda f: f.get("e") == "trade"),
                        await _frame(book, lambda f: f["asks"] == [["100.50", "0.50000000"]]),
                        await _frame(combined, lambda f: f["data"]["e"] == "aggTrade"),
                        await _frame(combined, lambda f: f["data"]["e"] == "kline" and
                                     f["data"]["k"]["n"] == 1),
                        await _frame(user, lambda f: f.get("X") == "PARTIALLY_FILLED"))
        finally:
            await client.close_connection()

    trade, book, aggregate, candle, report = event_loop.run_until_complete(run())
    assert {k: trade[k] for k in ("e", "s", "p", "q", "m", "M")} == {
        "e": "trade", "s": symbol, "p": "100.50", "q": "1.00000000", "m": False, "M": True}
    assert book["bids"] == [] and isinstance(book["lastUpdateId"], int)
    assert aggregate["stream"] == f"{symbol.lower()}@aggTrade"
    assert {k: aggregate["data"][k] for k in ("a", "p", "q", "f", "l")} == {
        "a": trade["t"], "p": "100.50", "q": "1.00000000", "f": trade["t"], "l": trade["t"]}
    k = candle["data"]["k"]
    assert (k["i"], k["o"], k["h"], k["l"], k["c"], k["v"], k["x"]) == (
        "1m", "100.50", "100.50", "100.50", "100.50", "1.00000000", False)
    assert (report["e"], report["x"], report["l"], report["L"], report["n"], report["t"]) == (
        "executionReport", "TRADE", "1.00000000", "100.50", "0.11", trade["t"])
