"""The messages' shapes: a committed batch to its market and to each trader, a new order
to its owner; and the channel names read back."""

import json

from events import channels
from events.messages import batch_messages, new_order_messages

CHANGES = {
    "time": "2026-12-01T00:00:00+00:00",
    "book": {"sequence": 7, "prev_sequence": 6, "changes": [["sell", "100", "0"]],
             "checksum": 12345},
    "orders": [{"user_id": 1, "id": "10", "status": "filled", "filled_quantity": "1",
                "held": "0.20"}],
    "trades": [{"price": "100", "quantity": "1", "taker_side": "buy", "maker_user_id": 2,
                "taker_user_id": 1, "maker_order_id": "9", "taker_order_id": "10"}],
}


def test_a_batch_goes_to_its_market_and_once_to_each_trader():
    messages = batch_messages("BTC-USDT", CHANGES)
    assert [channel for channel, _ in messages] == ["market:BTC-USDT", "user:1", "user:2"]
    public, taker, maker = (json.loads(text) for _, text in messages)
    assert public == {"market": "BTC-USDT", "time": CHANGES["time"], "book": CHANGES["book"],
                      "trades": [{"price": "100", "quantity": "1", "taker_side": "buy"}]}
    assert taker == {"market": "BTC-USDT", "orders": [
        {"id": "10", "status": "filled", "filled_quantity": "1", "held": "0.20"}], "fills": [
        {"order_id": "10", "price": "100", "quantity": "1", "liquidity": "taker"}]}
    assert maker == {"market": "BTC-USDT", "orders": [], "fills": [
        {"order_id": "9", "price": "100", "quantity": "1", "liquidity": "maker"}]}
    assert CHANGES["orders"][0]["user_id"] == 1        # what it was given is left as it was


def test_a_new_order_is_told_to_its_owner_as_accepted_with_nothing_filled():
    order = {"market": "BTC-USDT", "id": "11", "status": "accepted", "held": "200.40"}
    [(channel, text)] = new_order_messages([(5, order)])
    assert channel == "user:5" and json.loads(text) == {"market": "BTC-USDT", "fills": [],
        "orders": [{"id": "11", "status": "accepted", "filled_quantity": "0",
                    "held": "200.40"}]}


def test_channel_names_read_back():
    assert channels.user_of(channels.user_channel(42)) == 42
    assert channels.is_market_channel(channels.market_channel("ETH-BTC"))
    assert not channels.is_market_channel(channels.user_channel(42))
