"""Settlement without a database: one trade's transfer, leg by leg, to the last unit."""

from datetime import datetime, timezone
from decimal import Decimal as D

from matcher.book import Trade
from matcher.markets import Market
from matcher.settlement import AVAILABLE, FEES, HELD, Leg, OrderState, Settlement, settle

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
MARKET = Market("BTC-USDT", "BTC", "USDT", D("0.01"), D("0.001"), D("1"), 10, 20, "open")


def test_a_taker_buy_pays_notional_and_taker_fee_and_the_seller_gets_notional_less_maker_fee():
    states = {9: OrderState(9, 2, "sell", "BTC", D("1"), D(0), D(0), D(0), D(0), "open"),
              10: OrderState(10, 1, "buy", "USDT", D("200.40"), D(0), D(0), D(0), D(0),
                             "accepted")}
    into = Settlement()
    settle([Trade(9, 10, 2, 1, "buy", D("100.00"), D("1"))], states, MARKET, 2,
           "BTC-USDT:5", NOW, into)
    [posting] = into.transfers
    assert (posting.key, posting.kind, posting.reference) == \
        ("trade:BTC-USDT:5:0", "trade", "BTC-USDT:9:10")
    assert posting.legs == (Leg(1, "USDT", HELD, D("-100.20")),
                            Leg(2, "USDT", AVAILABLE, D("99.90")),
                            Leg(None, "USDT", FEES, D("0.30")),
                            Leg(2, "BTC", HELD, D("-1")),
                            Leg(1, "BTC", AVAILABLE, D("1")))
    assert (states[10].hold_remaining, states[10].fee_paid, states[9].hold_remaining) == \
        (D("100.20"), D("0.20"), D("0"))
