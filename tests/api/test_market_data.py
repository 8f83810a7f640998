"""Public market data from what the matcher committed: book, trades, candles, tickers."""

from datetime import datetime, timedelta, timezone

import requests

from matcher.candles import bucket
from tests.api.client import error_of
from tests.trading import Clock, create_market, funded_user, place, runner


def test_book_trades_candles_and_ticker_follow_the_trades(api_url, engine, admin_engine,
                                                          settings):
    market = create_market(admin_engine, maker_fee_bps=10, taker_fee_bps=20)
    start = bucket(datetime.now(timezone.utc), "1m") - timedelta(minutes=5)
    clock = Clock(start + timedelta(seconds=10))
    run = runner(engine, settings, market, clock)
    seller = funded_user(engine, market, base="5")
    buyer = funded_user(engine, market, quote="1000")
    place(engine, seller, market, clock.now, side="sell", type="limit", quantity="1",
          price="100.00")
    place(engine, buyer, market, clock.now, side="buy", type="limit", quantity="0.4",
          price="100.00")
    run.run_pending()
    clock.now = start + timedelta(seconds=25)      # a taker sell in the same minute
    place(engine, buyer, market, clock.now, side="buy", type="limit", quantity="0.3",
          price="99.50")
    place(engine, seller, market, clock.now, side="sell", type="market", quantity="0.3")
    run.run_pending()
    clock.now = start + timedelta(seconds=40)
    place(engine, buyer, market, clock.now, side="buy", type="market", quantity="0.1")
    run.run_pending()
    clock.now = start + timedelta(minutes=2, seconds=5)
    place(engine, seller, market, clock.now, side="sell", type="limit", quantity="0.5",
          price="99.00")
    place(engine, buyer, market, clock.now, side="buy", type="market", quantity="0.2")
    run.run_pending()

    book = requests.get(f"{api_url}/v1/markets/{market}/book?depth=10", timeout=10).json()
    assert book["bids"] == []
    assert book["asks"] == [["99.00", "0.30000000"], ["100.00", "0.50000000"]]
    assert book["sequence"] > 0
    top = requests.get(f"{api_url}/v1/markets/{market}/book?depth=1", timeout=10).json()
    assert top["asks"] == [["99.00", "0.30000000"]] and top["sequence"] == book["sequence"]

    listed = requests.get(f"{api_url}/v1/markets/{market}/trades", timeout=10).json()["items"]
    assert [(t["price"], t["quantity"], t["taker_side"]) for t in listed] == [
        ("99.00", "0.20000000", "buy"), ("100.00", "0.10000000", "buy"),
        ("99.50", "0.30000000", "sell"), ("100.00", "0.40000000", "buy")]

    candles = requests.get(f"{api_url}/v1/markets/{market}/candles?interval=1m&limit=10",
                           timeout=10).json()["items"]
    by_start = {c["start"]: c for c in candles}
    first, empty, third = (by_start[(start + timedelta(minutes=m)).isoformat()]
                           for m in (0, 1, 2))
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"],
            first["quote_volume"], first["taker_buy_volume"], first["taker_buy_quote_volume"],
            first["trades"]) == (
        "100.00", "100.00", "99.50", "100.00", "0.80000000", "79.85", "0.50000000", "50.00", 3)
    assert (empty["open"], empty["close"], empty["volume"], empty["quote_volume"],
            empty["taker_buy_volume"], empty["taker_buy_quote_volume"], empty["trades"]) == (
        "100.00", "100.00", "0.00000000", "0.00", "0.00000000", "0.00", 0)
    assert (third["open"], third["low"], third["volume"], third["taker_buy_volume"],
            third["taker_buy_quote_volume"]) == (
        "99.00", "99.00", "0.20000000", "0.20000000", "19.80")
    # From the first trade to now, every minute; none before the first trade. (A seventh
    # if the clock turned a minute since the test began.)
    assert [c["start"] for c in candles][:6] == [(start + timedelta(minutes=m)).isoformat()
                                                 for m in range(6)]
    assert len(candles) in (6, 7)

    ticker = requests.get(f"{api_url}/v1/markets/{market}/ticker", timeout=10).json()
    assert ticker == {"market": market, "open": "100.00", "high": "100.00", "low": "99.00",
                      "last": "99.00", "volume": "1.00000000", "quote_volume": "99.65",
                      "change": "-1.00", "change_percent": "-1.00", "trades": 4}
    tickers = requests.get(f"{api_url}/v1/tickers", timeout=10).json()["items"]
    assert ticker in tickers


def test_market_data_of_an_unknown_market_is_a_clear_404(api_url):
    for path in ("book", "trades", "candles", "ticker"):
        response = requests.get(f"{api_url}/v1/markets/NO-PE/{path}", timeout=10)
        assert error_of(response) == (404, "unknown_market", "market")
    bad = requests.get(f"{api_url}/v1/markets/NO-PE/candles?interval=2m", timeout=10)
    assert error_of(bad)[:2] == (400, "invalid_request")
