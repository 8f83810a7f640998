"""The rules of an order, without a database: what each order type holds, to the last
unit, and the rule each refusal names."""

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from ledger.errors import InsufficientFunds
from money import AmountError
from trading import rules
from trading.errors import InvalidOrder

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
# tick 0.05, lot 0.001, minimum notional 1, maker 10 bps, taker 20; BTC 8 decimals, USDT 2
MARKET = rules.MarketRow("BTC-USDT", "BTC", "USDT", D("0.05"), D("0.001"), D("1"), 10, 20,
                         "open", 8, 2, D("100.00"))


def decide(request: dict, usdt: str = "1000", available: dict | None = None) -> dict:
    available = {(1, "USDT"): D(usdt), (1, "BTC"): D("5")} if available is None else available
    return rules.decide(1, {"market": "BTC-USDT", **request}, {"BTC-USDT": MARKET}, {},
                        available, NOW)


@pytest.mark.parametrize("request_, held, currency, status", [
    ({"side": "buy", "type": "limit", "quantity": "2", "price": "100.00"},     # 200 + 0.40
     "200.40", "USDT", "accepted"),
    ({"side": "buy", "type": "market", "quote_quantity": "50.00"},             # 50 + 0.10
     "50.10", "USDT", "accepted"),
    ({"side": "buy", "type": "stop_market", "quantity": "1", "stop_price": "101.00"},
     "106.27", "USDT", "untriggered"),                                         # 106.05 + 0.22
    ({"side": "sell", "type": "limit", "quantity": "1.5", "price": "100.00"},
     "1.5", "BTC", "accepted"),
    ({"side": "buy", "type": "market", "quantity": "1"},                       # all there is
     "1000", "USDT", "accepted"),
    ({"side": "buy", "type": "take_profit_market", "quantity": "1", "stop_price": "95.00"},
     "99.95", "USDT", "untriggered"),                                          # 99.75 + 0.20
    ({"side": "buy", "type": "take_profit_limit", "quantity": "2", "price": "96.00",
      "stop_price": "95.00"}, "192.39", "USDT", "untriggered"),               # 192 + 0.39
    ({"side": "sell", "type": "take_profit_limit", "quantity": "1.5", "price": "104.00",
      "stop_price": "105.00"}, "1.5", "BTC", "untriggered"),
    ({"side": "sell", "type": "take_profit_market", "quantity": "0.25", "stop_price": "100.05"},
     "0.25", "BTC", "untriggered"),
])
def test_each_order_type_holds_what_it_may_need_to_the_last_unit(request_, held, currency,
                                                                  status):
    values = decide(request_)
    assert (values["hold"], values["hold_currency"], values["status"]) == \
        (D(held), currency, status)


@pytest.mark.parametrize("request_, code", [
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "100.02"}, "price_off_tick"),
    ({"side": "buy", "type": "limit", "quantity": "0.0005", "price": "100.00"},
     "quantity_off_lot"),
    ({"side": "buy", "type": "limit", "quantity": "0.001", "price": "100.00"},
     "below_min_notional"),
    ({"side": "buy", "type": "stop_limit", "quantity": "1", "price": "95.00",
      "stop_price": "90.00"}, "stop_price_wrong_side"),
    ({"side": "buy", "type": "limit", "quantity": "1", "price": "100.00",
      "time_in_force": "gtd", "expire_at": "2026-11-30T00:00:00Z"}, "expire_at_in_past"),
    ({"side": "sell", "type": "stop_market", "quantity": "1", "stop_price": "100.00"},
     "stop_price_wrong_side"),
    ({"side": "sell", "type": "take_profit_market", "quantity": "1", "stop_price": "100.00"},
     "stop_price_wrong_side"),                                # the last price: reached already
    ({"side": "sell", "type": "take_profit_limit", "quantity": "1", "price": "98.00",
      "stop_price": "99.95"}, "stop_price_wrong_side"),
    ({"side": "buy", "type": "take_profit_market", "quantity": "1", "stop_price": "100.05"},
     "stop_price_wrong_side"),
    ({"side": "buy", "type": "take_profit_limit", "quantity": "1", "price": "100.00",
      "stop_price": "100.00"}, "stop_price_wrong_side"),
])
def test_each_broken_rule_is_refused_with_its_code(request_, code):
    with pytest.raises(InvalidOrder) as refused:
        decide(request_)
    assert refused.value.code == code


def test_an_amount_past_its_scale_is_refused_never_rounded():
    with pytest.raises(AmountError):
        decide({"side": "buy", "type": "limit", "quantity": "1", "price": "100.001"})


def test_funds_are_decided_in_turn_and_to_the_unit():
    available = {(1, "USDT"): D("1000")}
    decide({"side": "buy", "type": "limit", "quantity": "6", "price": "100.00"},
           available=available)                                 # holds 601.20
    assert available[(1, "USDT")] == D("398.80")
    with pytest.raises(InsufficientFunds, match="holds 400.80 USDT; 398.80 is available"):
        decide({"side": "buy", "type": "limit", "quantity": "4", "price": "100.00"},
               available=available)
    with pytest.raises(InsufficientFunds, match="no USDT available"):
        decide({"side": "buy", "type": "market", "quantity": "1"}, usdt="0")


@pytest.mark.parametrize("request_, field", [
    ({"side": "buy", "type": "take_profit_limit", "quantity": "1", "stop_price": "95.00"},
     "price"),
    ({"side": "buy", "type": "take_profit_market", "quantity": "1", "price": "96.00",
      "stop_price": "95.00"}, "price"),
    ({"side": "sell", "type": "take_profit_limit", "quantity": "1", "price": "104.00"},
     "stop_price"),
    ({"side": "sell", "type": "take_profit_market", "quantity": "1"}, "stop_price"),
    ({"side": "buy", "type": "take_profit_market", "quote_quantity": "50.00",
      "stop_price": "95.00"}, "quote_quantity"),
])
def test_a_take_profit_needs_its_stop_price_and_a_price_only_when_limit(request_, field):
    with pytest.raises(InvalidOrder) as refused:
        decide(request_)
    assert refused.value.field == field


def test_a_wrong_side_take_profit_says_which_side_it_must_be_on():
    with pytest.raises(InvalidOrder, match="a sell take-profit must be above the last price"):
        decide({"side": "sell", "type": "take_profit_market", "quantity": "1",
                "stop_price": "99.00"})
    with pytest.raises(InvalidOrder, match="a buy take-profit must be below the last price"):
        decide({"side": "buy", "type": "take_profit_market", "quantity": "1",
                "stop_price": "101.00"})
