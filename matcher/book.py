"""The pure matching core: one market's order book, price-time priority.

No database, no queue, no clock: the caller hands in each request with the time
it stands for (``now``) and gets back events. The same requests in the same
order always give the same events, so a book can be rebuilt, replayed and
benchmarked on its own.

Rules:
* price-time priority; a trade happens at the resting (maker) order's price;
* self-trade prevention cancels the newest order (the taker's remainder);
* post-only orders that would take are rejected;
* IOC keeps what fills and cancels the rest; FOK fills whole or is rejected;
* market buys spend at most their budget (the funds held for them), fee included; a
  buy by quote amount is filled (whole, for FOK) once what is left cannot pay for one
  more lot at the price where it stops: the next level's, or the last level's when
  the book runs out (the remainder is released);
* conditional orders (stops and take-profits) wait outside the book until the last
  trade price reaches their stop price, then enter as market or limit orders: a stop buy
  and a take-profit sell at or above it, a stop sell and a take-profit buy at or below
  it; those a trade reaches enter one at a time, in sequence order, each triggering
  even if one before it moves the price back;
* an order past its ``expire_at`` never trades: it expires when met.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, localcontext

from sortedcontainers import SortedDict

from matcher.order_types import AT_MARKET, CONDITIONAL, triggers_rising
from matcher.statuses import CANCELLED, EXPIRED, FILLED, REJECTED
from money import buyer_cost

ZERO = Decimal(0)
TRIGGER_ROUNDS_MAX = 1000  # cascading triggers (stops and take-profits) per request


@dataclass(slots=True, eq=False)  # orders are equal only to themselves
class Order:
    id: int
    user_id: int
    side: str                          # buy or sell
    type: str                          # one of matcher.order_types.ALL
    time_in_force: str                 # gtc, ioc, fok, gtd
    quantity: Decimal | None           # base still to fill; None: a market buy by budget only
    price: Decimal | None = None       # limit price
    stop_price: Decimal | None = None
    budget: Decimal | None = None      # market buys: quote they may still spend, fee included
    post_only: bool = False
    expire_at: datetime | None = None
    sequence: int = 0                  # arrival order: time priority
    triggered: bool = False

    @property
    def is_waiting(self) -> bool:
        """A conditional order (stop or take-profit) not triggered yet."""
        return self.type in CONDITIONAL and not self.triggered

    @property
    def is_market(self) -> bool:
        return self.type in AT_MARKET


class Trade(NamedTuple):
    maker_order_id: int
    taker_order_id: int
    maker_user_id: int
    taker_user_id: int
    taker_side: str
    price: Decimal
    quantity: Decimal
    kind: str = "trade"      # tells events of equal fields apart (tuples compare by value)


class Rested(NamedTuple):
    order_id: int
    kind: str = "rested"


class Triggered(NamedTuple):
    order_id: int
    kind: str = "triggered"


class Closed(NamedTuple):
    order_id: int
    status: str                        # filled, cancelled, expired, rejected
    reason: str | None = None
    kind: str = "closed"


Event = Trade | Rested | Triggered | Closed


@dataclass
class MarketRules:
    taker_fee_bps: int
    quote_scale: int
    lot_size: Decimal


@dataclass
class Book:
    rules: MarketRules
    bids: SortedDict[Decimal, deque[Order]] = field(default_factory=SortedDict)  # -price
    asks: SortedDict[Decimal, deque[Order]] = field(default_factory=SortedDict)  # price
    orders: dict[int, Order] = field(default_factory=dict)  # resting and waiting
    stops: dict[int, Order] = field(default_factory=dict)   # waiting: stops, take-profits
    last_price: Decimal | None = None

    # Requests ------------------------------------------------------------------

    def submit(self, order: Order, now: datetime) -> list[Event]:
        events: list[Event] = []
        if order.expire_at is not None and order.expire_at <= now:
            return [Closed(order.id, EXPIRED)]
        if order.is_waiting:
            if self._trigger_reached(order):
                order.triggered = True
                events.append(Triggered(order.id))
            else:
                self.stops[order.id] = order
                self.orders[order.id] = order
                return events
        self._execute(order, now, events)
        if self.stops:
            self._trigger_due(now, events)
        return events

    def cancel(self, order_id: int, status: str = CANCELLED) -> list[Event]:
        order = self.orders.pop(order_id, None)
        if order is None:
            return []
        if self.stops.pop(order_id, None) is None:
            self._unlink(order)
        return [Closed(order_id, status)]

    def restore(self, order: Order) -> None:
        """Put back a resting or waiting order while rebuilding from the database."""
        self.orders[order.id] = order
        if order.is_waiting:
            self.stops[order.id] = order
        else:
            self._side(order.side).setdefault(self._key(order), deque()).append(order)

    # Matching ------------------------------------------------------------------

    def _execute(self, taker: Order, now: datetime, events: list[Event]) -> None:
        if taker.post_only and self._crosses(taker, now):
            events.append(Closed(taker.id, REJECTED, "post_only_would_take"))
            return
        if taker.time_in_force == "fok" and not self._fillable(taker, now):
            events.append(Closed(taker.id, REJECTED, "fok_not_filled"))
            return
        stopped = self._match(taker, now, events)
        if stopped is not None:
            events.append(stopped)
        elif self._done(taker):
            events.append(Closed(taker.id, FILLED))
        elif taker.is_market or taker.time_in_force in ("ioc", "fok"):
            events.append(Closed(taker.id, CANCELLED, "no_more_liquidity"))
        else:
            self.orders[taker.id] = taker
            self._side(taker.side).setdefault(self._key(taker), deque()).append(taker)
            events.append(Rested(taker.id))

    def _match(self, taker: Order, now: datetime, events: list[Event]) -> Closed | None:
        """Trade ``taker`` against the book; a Closed event if it must stop early."""
        opposite = self._side("sell" if taker.side == "buy" else "buy")
        traded = False
        while opposite and not self._done(taker):
            key = opposite.keys()[0]
            price = -key if taker.side == "sell" else key
            if taker.price is not None and not taker.is_market and \
                    (price > taker.price if taker.side == "buy" else price < taker.price):
                return None
            queue = opposite[key]
            while queue and not self._done(taker):
                maker = queue[0]
                if maker.expire_at is not None and maker.expire_at <= now:
                    queue.popleft()
                    del self.orders[maker.id]
                    events.append(Closed(maker.id, EXPIRED))
                    continue
                if maker.user_id == taker.user_id:
                    return Closed(taker.id, CANCELLED, "self_trade_prevented")
                quantity = self._quantity(taker, maker, price)
                if quantity == ZERO:  # a market buy has spent what it may
                    if taker.quantity is None and traded:
                        return Closed(taker.id, FILLED)  # a buy by quote amount: done
                    return Closed(taker.id, CANCELLED, "budget_exhausted")
                traded = True
                self._trade(taker, maker, price, quantity, events)
                if maker.quantity == ZERO:
                    queue.popleft()
                    del self.orders[maker.id]
                    events.append(Closed(maker.id, FILLED))
            if not queue:
                del opposite[key]
        if taker.quantity is None and traded and self._spent(taker.budget, self.last_price):
            return Closed(taker.id, FILLED)  # the book ran out as the budget did
        return None

    def _quantity(self, taker: Order, maker: Order, price: Decimal) -> Decimal:
        assert maker.quantity is not None
        quantity = maker.quantity if taker.quantity is None else min(taker.quantity,
                                                                     maker.quantity)
        if taker.budget is not None:
            quantity = min(quantity, self._largest_lots(taker.budget, price))
        return quantity

    def _largest_lots(self, budget: Decimal, price: Decimal) -> Decimal:
        """The most base, in whole lots, that ``budget`` pays for at ``price`` with the fee."""
        lot = self.rules.lot_size
        with localcontext() as context:
            context.prec = 100
            rate = 1 + Decimal(self.rules.taker_fee_bps) / 10_000
            quantity = (budget / (price * rate * lot)).to_integral_value(ROUND_DOWN) * lot
        while quantity > ZERO and self.cost(price, quantity) > budget:
            quantity -= lot  # the fee's rounding up can cost one lot more than the estimate
        return quantity

    def cost(self, price: Decimal, quantity: Decimal) -> Decimal:
        """What a taker buy pays for ``quantity`` at ``price``: the notional rounded up to the
        quote's scale, plus the fee on the exact notional, rounded up."""
        return buyer_cost(price, quantity, self.rules.taker_fee_bps, self.rules.quote_scale)

    def _trade(self, taker: Order, maker: Order, price: Decimal, quantity: Decimal,
               events: list[Event]) -> None:
        assert maker.quantity is not None
        maker.quantity -= quantity
        if taker.quantity is not None:
            taker.quantity -= quantity
        if taker.budget is not None:
            taker.budget -= self.cost(price, quantity)
        self.last_price = price
        events.append(Trade(maker.id, taker.id, maker.user_id, taker.user_id, taker.side,
                           price, quantity))

    @staticmethod
    def _done(order: Order) -> bool:
        return order.quantity is not None and order.quantity == ZERO

    def _crosses(self, order: Order, now: datetime) -> bool:
        best = self._best_live_price(order, now)
        if best is None or order.price is None:
            return best is not None
        return best <= order.price if order.side == "buy" else best >= order.price

    def _best_live_price(self, order: Order, now: datetime) -> Decimal | None:
        opposite = self._side("sell" if order.side == "buy" else "buy")
        for key, queue in opposite.items():
            if any(m.expire_at is None or m.expire_at > now for m in queue):
                return -key if order.side == "sell" else key
        return None

    def _fillable(self, taker: Order, now: datetime) -> bool:
        """FOK: would the whole order trade now (without meeting the taker's own orders)?

        A buy by quote amount (no quantity) is whole once what is left of its budget
        cannot pay for one more lot where it stops, as ``_match`` ends it: at a maker it
        cannot buy out, or at the last level when the book runs out. That remainder is
        released; an order that could buy nothing at all is killed."""
        needed, budget = taker.quantity, taker.budget
        price, traded = None, False
        for price, maker in self._live_makers(taker, now):
            if maker.user_id == taker.user_id:
                return False
            assert maker.quantity is not None
            quantity = maker.quantity if needed is None else min(needed, maker.quantity)
            if budget is not None:
                affordable = self._largest_lots(budget, price)
                if affordable < quantity:  # the budget ends at this maker
                    return needed is None and (traded or affordable > ZERO)
                budget -= self.cost(price, quantity)
            traded = True
            if needed is not None:
                needed -= quantity
                if needed == ZERO:
                    return True
        return needed is None and traded and self._spent(budget, price)

    def _live_makers(self, taker: Order, now: datetime) -> Iterator[tuple[Decimal, Order]]:
        """(price, maker) in the order ``taker`` would meet them, within its limit price,
        skipping the expired."""
        opposite = self._side("sell" if taker.side == "buy" else "buy")
        for key, queue in opposite.items():
            price = -key if taker.side == "sell" else key
            if taker.price is not None and not taker.is_market and \
                    (price > taker.price if taker.side == "buy" else price < taker.price):
                return
            for maker in queue:
                if maker.expire_at is None or maker.expire_at > now:
                    yield price, maker

    def _spent(self, budget: Decimal | None, price: Decimal | None) -> bool:
        """Whether a buy by quote amount with ``budget`` left is done: it cannot pay for one
        more lot at ``price`` (the last it traded at)."""
        return budget is not None and price is not None and \
            self._largest_lots(budget, price) == ZERO

    # Conditional orders: stops and take-profits ---------------------------------

    def _trigger_reached(self, order: Order) -> bool:
        if self.last_price is None or order.stop_price is None:
            return False
        if triggers_rising(order.type, order.side):
            return self.last_price >= order.stop_price
        return self.last_price <= order.stop_price

    def _trigger_due(self, now: datetime, events: list[Event]) -> None:
        """Trigger, one at a time and lowest sequence first, every waiting order whose stop
        price the last price has reached. Once reached an order stays due even if one
        triggered before it moves the price back (a take-profit sell can trade below a
        stop buy's price that the same trade reached)."""
        due: dict[int, Order] = {}
        for _ in range(TRIGGER_ROUNDS_MAX):
            due.update((o.id, o) for o in self.stops.values() if self._trigger_reached(o))
            if not due:
                return
            order = due.pop(min(due, key=lambda i: due[i].sequence))
            del self.stops[order.id]
            del self.orders[order.id]
            order.triggered = True
            events.append(Triggered(order.id))
            if order.expire_at is not None and order.expire_at <= now:
                events.append(Closed(order.id, EXPIRED))
                continue
            self._execute(order, now, events)

    # Helpers -------------------------------------------------------------------

    def _side(self, side: str) -> SortedDict[Decimal, deque[Order]]:
        return self.bids if side == "buy" else self.asks

    @staticmethod
    def _key(order: Order) -> Decimal:
        assert order.price is not None
        return -order.price if order.side == "buy" else order.price

    def _unlink(self, order: Order) -> None:
        levels = self._side(order.side)
        key = self._key(order)
        queue = levels.get(key)
        if queue is None:
            return
        queue.remove(order)
        if not queue:
            del levels[key]

    def depth(self, side: str) -> list[tuple[Decimal, Decimal]]:
        """Aggregated levels, best first: (price, quantity)."""
        levels = self._side(side)
        return [(-key if side == "buy" else key,
                 sum((o.quantity for o in queue if o.quantity is not None), ZERO))
                for key, queue in levels.items()]

