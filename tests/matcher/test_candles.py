"""Candles without a database: a batch's row per interval, and the gaps filled."""

from datetime import datetime, timezone
from decimal import Decimal as D
from types import SimpleNamespace

from matcher.candles import INTERVALS, filled, from_trades

NOW = datetime(2026, 12, 1, 12, 3, 20, tzinfo=timezone.utc)


def _trade(price: str, quantity: str, taker_side: str) -> dict[str, object]:
    return {"price": D(price), "quantity": D(quantity), "taker_side": taker_side}


def test_a_batch_with_both_taker_sides_counts_the_taker_buys_apart_and_exactly():
    rows = from_trades("BTC-USDT", [_trade("100.01", "0.123", "buy"),
                                    _trade("99.99", "0.2", "sell"),
                                    _trade("100.03", "0.007", "buy")], NOW)
    assert [(r["interval"], r["start"]) for r in rows] == [
        ("1m", datetime(2026, 12, 1, 12, 3, tzinfo=timezone.utc)),
        ("5m", datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)),
        ("15m", datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)),
        ("1h", datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)),
        ("4h", datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)),
        ("1d", datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc))]
    for row in rows:
        assert {k: v for k, v in row.items() if k not in ("interval", "start")} == {
            "market": "BTC-USDT", "open": D("100.01"), "high": D("100.03"),
            "low": D("99.99"), "close": D("100.03"), "volume": D("0.330"),
            "quote_volume": D("32.99944"),            # 12.30123 + 19.998 + 0.70021
            "taker_buy_volume": D("0.130"), "taker_buy_quote_volume": D("13.00144"),
            "trades": 3}


def test_a_batch_of_taker_sells_only_has_no_taker_buy_volume():
    [row, *_] = from_trades("BTC-USDT", [_trade("99.99", "0.2", "sell")], NOW)
    assert (row["volume"], row["quote_volume"], row["taker_buy_volume"],
            row["taker_buy_quote_volume"]) == (D("0.2"), D("19.998"), D(0), D(0))


def test_candle_sums_stay_exact_past_the_default_decimal_precision():
    # 10^19 and 10^-10 need 30 digits: the default context (28) would drop the small one.
    [row, *_] = from_trades("BTC-USDT", [_trade("10000000000.00", "1000000000", "buy"),
                                         _trade("0.01", "0.00000001", "buy")], NOW)
    assert str(row["quote_volume"]) == "10000000000000000000.0000000001"
    assert str(row["taker_buy_quote_volume"]) == "10000000000000000000.0000000001"
    assert str(row["volume"]) == "1000000000.00000001"


def test_an_interval_without_trades_is_flat_at_the_last_close_with_no_volume():
    start = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    traded = SimpleNamespace(start=start, open=D("100"), high=D("101"), low=D("99"),
                             close=D("100.5"), volume=D("0.3"), quote_volume=D("30.1"),
                             taker_buy_volume=D("0.1"), taker_buy_quote_volume=D("10.1"),
                             trades=2)
    first, empty = filled([traded], "1m", start, start + 2 * INTERVALS["1m"], None)
    assert first == {"start": start, "open": D("100"), "high": D("101"), "low": D("99"),
                     "close": D("100.5"), "volume": D("0.3"), "quote_volume": D("30.1"),
                     "taker_buy_volume": D("0.1"), "taker_buy_quote_volume": D("10.1"),
                     "trades": 2}
    assert empty == {"start": start + INTERVALS["1m"], "open": D("100.5"),
                     "high": D("100.5"), "low": D("100.5"), "close": D("100.5"),
                     "volume": D(0), "quote_volume": D(0), "taker_buy_volume": D(0),
                     "taker_buy_quote_volume": D(0), "trades": 0}
