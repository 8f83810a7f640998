"""User data in Binance's frames: ``executionReport``, ``outboundAccountPosition``,
``balanceUpdate`` (a deposit credited, a faucet grant, a withdrawal requested).

A user's event on the hub (``user:{id}``: an order placed, or a matcher's batch) says
which orders changed; the frames are read from the database, in one snapshot: the
orders' rows, every fill of the user since the last one this process sent them (each
fill its own ``TRADE`` report with its trade id and commission), and the balances of
the currencies involved. Only the sockets of that user hear them.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import func, select

from api.binance import shapes
from api.binance.symbols import Listed
from db.schema import fills, orders
from ledger import format_amount, user_balances
from matcher import statuses

if TYPE_CHECKING:
    from api.binance.services import BinanceServices
    from api.ws_sockets import Client

FILLS_PER_READ_MAX = 1000
ENDED = {statuses.CANCELLED: "CANCELED", statuses.EXPIRED: "EXPIRED",
         statuses.REJECTED: "REJECTED"}
Wrap = Callable[[dict[str, Any]], Any]   # a frame as the socket's protocol sends it


class UserStreams:
    def __init__(self, services: BinanceServices) -> None:
        self.services = services
        self.sinks: dict[int, dict[Client, Wrap]] = {}
        self.fill_cursor: dict[int, int] = {}   # user: the last fill id sent

    def add(self, user_id: int, client: Client, wrap: Wrap) -> None:
        if user_id not in self.sinks:
            with self.services.native.engine.connect() as conn:
                self.fill_cursor[user_id] = conn.execute(select(func.max(fills.c.id)).where(
                    fills.c.user_id == user_id)).scalar() or 0
        self.sinks.setdefault(user_id, {})[client] = wrap

    def remove(self, user_id: int, client: Client) -> None:
        sinks = self.sinks.get(user_id, {})
        sinks.pop(client, None)
        if not sinks:
            self.sinks.pop(user_id, None)
            self.fill_cursor.pop(user_id, None)

    def forget(self, client: Client) -> None:
        """A socket that closed, whichever user it heard."""
        for user_id in [u for u, sinks in self.sinks.items() if client in sinks]:
            self.remove(user_id, client)

    def received(self, user_id: int, event: dict[str, Any]) -> None:
        sinks = self.sinks.get(user_id)
        if not sinks or not (event["orders"] or event.get("balance")):
            return
        found = self._balance_frames(user_id, event["balance"]) if event.get("balance") \
            else self._frames(user_id, event)
        for client, wrap in list(sinks.items()):
            if client.user_id == user_id:   # not ended meanwhile
                for frame in found:
                    client.offer(wrap(frame))

    def _frames(self, user_id: int, event: dict[str, Any]) -> list[dict[str, Any]]:
        changed = {int(o["id"]): o["status"] for o in event["orders"]}
        snapshot = self.services.native.engine.execution_options(
            isolation_level="REPEATABLE READ")
        with snapshot.connect() as conn:
            new_fills = conn.execute(select(fills).where(
                fills.c.user_id == user_id, fills.c.id > self.fill_cursor.get(user_id, 0))
                .order_by(fills.c.id).limit(FILLS_PER_READ_MAX)).all()
            ids = set(changed) | {f.order_id for f in new_fills}
            rows = {r.id: r for r in conn.execute(select(orders).where(orders.c.id.in_(ids)))}
            balances = user_balances(conn, user_id)
        if new_fills:
            self.fill_cursor[user_id] = new_fills[-1].id
        now = int(time.time() * 1000)
        listed = {m: self.services.symbols.of_market(m) for m in {r.market for r in rows.values()}}
        found = [execution_report(rows[i], listed[rows[i].market], "NEW", "NEW", now)
                 for i, status in changed.items() if status in statuses.NEW and i in rows]
        found += _trade_reports(new_fills, rows, listed, now)
        found += [execution_report(rows[i], listed[rows[i].market], ENDED[status],
                                   shapes.status(rows[i]), now)
                  for i, status in changed.items() if status in ENDED and i in rows]
        currencies = {c for one in listed.values() for c in (one.market.base, one.market.quote)}
        if found:
            found.append(_position(balances, currencies, now))
        return found

    def _balance_frames(self, user_id: int, change: dict[str, str]) -> list[dict[str, Any]]:
        """Money in or out outside trading: Binance's ``balanceUpdate``, then the
        currency's position."""
        with self.services.native.engine.connect() as conn:
            balances = user_balances(conn, user_id)
        now = int(time.time() * 1000)
        return [{"e": "balanceUpdate", "E": now, "a": change["currency"], "d": change["delta"],
                 "T": now}, _position(balances, {change["currency"]}, now)]


def _position(balances: Any, currencies: set[str], now: int) -> dict[str, Any]:
    return {"e": "outboundAccountPosition", "E": now, "u": now, "B": [
        {"a": b.currency, "f": format_amount(b.available, b.scale),
         "l": format_amount(b.held, b.scale)}
        for b in balances.values() if b.currency in currencies]}


def _trade_reports(new_fills: list, rows: dict[int, Any], listed: dict[str, Listed],
                   now: int) -> list[dict[str, Any]]:
    """One TRADE report a fill; each order's running totals end at its row's."""
    later: dict[int, tuple[Decimal, Decimal]] = {}   # order: quantity, notional still to come
    for fill in new_fills:
        quantity, notional = later.get(fill.order_id, (Decimal(0), Decimal(0)))
        later[fill.order_id] = (quantity + fill.quantity, notional + fill.price * fill.quantity)
    found = []
    for fill in new_fills:
        row, one = rows[fill.order_id], listed[fill.market]
        quantity, notional = later[fill.order_id]
        quantity, notional = quantity - fill.quantity, notional - fill.price * fill.quantity
        later[fill.order_id] = (quantity, notional)
        final = quantity == 0 and shapes.status(row) == "FILLED"
        found.append(execution_report(
            row, one, "TRADE", "FILLED" if final else "PARTIALLY_FILLED", now, fill,
            row.filled_quantity - quantity, row.filled_notional - notional))
    return found


def execution_report(row: Any, listed: Listed, execution: str, status: str, now: int,
                     fill: Any = None, cumulative: Decimal | None = None,
                     cumulative_quote: Decimal | None = None) -> dict[str, Any]:
    order = shapes.order(row, listed)
    base, quote = listed.base_scale, listed.quote_scale
    zero = Decimal(0)
    if cumulative is None:
        cumulative = zero if execution == "NEW" else row.filled_quantity
        cumulative_quote = zero if execution == "NEW" else row.filled_notional
    return {
        "e": "executionReport", "E": now, "s": order["symbol"], "c": order["clientOrderId"],
        "S": order["side"], "o": order["type"], "f": order["timeInForce"],
        "q": order["origQty"], "p": order["price"], "P": order["stopPrice"],
        "F": order["icebergQty"], "g": -1, "C": "", "x": execution, "X": status,
        "r": "NONE", "i": order["orderId"],
        "l": format_amount(fill.quantity if fill else zero, base),
        "z": format_amount(cumulative, base),
        "L": format_amount(fill.price if fill else zero, quote),
        "n": format_amount(fill.fee, quote) if fill else "0",
        "N": fill.fee_currency if fill else None,
        "T": shapes.ms(fill.created_at) if fill else order["updateTime"],
        "t": fill.trade_id if fill else -1, "I": 0,
        "w": status in ("NEW", "PARTIALLY_FILLED") and order["isWorking"],
        "m": fill.liquidity == "maker" if fill else False, "M": False,
        "O": order["time"], "Z": format_amount(cumulative_quote or zero, quote + base),
        "Y": format_amount(fill.price * fill.quantity if fill else zero, quote + base),
        "Q": order["origQuoteOrderQty"], "W": order["workingTime"],
        "V": order["selfTradePreventionMode"]}
