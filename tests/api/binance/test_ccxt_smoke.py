from decimal import Decimal as D

from tests.api.binance.conftest import ccxt_client, new_trader


def test_ccxt_trades_through_the_face(stack, market):
    base, quote = market.split("-")
    symbol = f"{base}/{quote}"
    seller, buyer = new_trader(stack), new_trader(stack)
    seller.fund(base, "2")
    buyer.fund(quote, "1000")
    public = ccxt_client(stack)
    markets = public.load_markets()
    assert symbol in markets
    sells = ccxt_client(stack, seller)
    buys = ccxt_client(stack, buyer)
    sells.load_markets()
    buys.load_markets()
    placed = sells.create_order(symbol, "limit", "sell", 1.5, 100)
    assert placed["status"] == "open", placed
    bought = buys.create_order(symbol, "market", "buy", 1)
    assert bought["status"] == "closed", bought
    assert bought["filled"] == 1 and bought["cost"] == 100
    balance = buys.fetch_balance()
    assert balance[base]["free"] == 1 and balance[quote]["free"] == 899.8
    print(public.fetch_ticker(symbol))
    print(public.fetch_order_book(symbol))
    print(public.fetch_trades(symbol))
    print(sells.fetch_my_trades(symbol))
    print(sells.fetch_open_orders(symbol))
    canceled = sells.cancel_order(placed["id"], symbol)
    assert canceled["status"] == "canceled", canceled
    assert seller.balances()[base] == ("1.00000000", "0.00000000")
    assert seller.balances()[quote] == ("99.90", "0.00")
