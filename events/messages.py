"""The messages' shapes: pure functions from what changed to (channel, JSON text) pairs."""

from __future__ import annotations

import json
from typing import Any

from events.channels import market_channel, user_channel

Message = tuple[str, str]     # (channel, JSON text)


def batch_messages(market: str, changes: dict[str, Any]) -> list[Message]:
    """A committed matcher batch: the market's channel for every web process (book, public
    trades), then each user's (their orders, and their side of each trade as a fill)."""
    by_user: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for order in changes["orders"]:
        mine = by_user.setdefault(order["user_id"], {"orders": [], "fills": []})
        mine["orders"].append({k: v for k, v in order.items() if k != "user_id"})
    for trade in changes["trades"]:
        for side in ("maker", "taker"):
            by_user.setdefault(trade[f"{side}_user_id"], {"orders": [], "fills": []})[
                "fills"].append({"order_id": trade[f"{side}_order_id"], "price": trade["price"],
                                 "quantity": trade["quantity"], "liquidity": side})
    public = {"market": market, "time": changes["time"], "book": changes["book"],
              "trades": [{k: t[k] for k in ("price", "quantity", "taker_side")}
                         for t in changes["trades"]]}
    return [(market_channel(market), json.dumps(public))] + [
        (user_channel(user_id), json.dumps({"market": market, **events}))
        for user_id, events in by_user.items()]


def balance_messages(changes: list[tuple[int, str, str]]) -> list[Message]:
    """Money into or out of a user's balances outside trading (a deposit credited, a faucet
    grant, a withdrawal's hold), each ``(user_id, currency, signed amount)`` on its owner's
    channel, in the shape of a batch's user message with no orders or fills."""
    return [(user_channel(user_id), json.dumps({
        "market": None, "orders": [], "fills": [],
        "balance": {"currency": currency, "delta": delta}}))
        for user_id, currency, delta in changes]


def new_order_messages(orders: list[tuple[int, dict[str, Any]]]) -> list[Message]:
    """Each new order on its owner's channel, before the matcher has seen it."""
    return [(user_channel(user_id), json.dumps({
        "market": order["market"], "fills": [], "orders": [
            {"id": order["id"], "status": order["status"], "filled_quantity": "0",
             "held": order["held"]}]}))
        for user_id, order in orders]
