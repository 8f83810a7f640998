"""From the core's events to money: trade settlements, fees, holds released, order states.

Pure: each entry's account is named by (owner, currency, kind); the matcher's worker
finds the accounts and writes what this returns in one transaction. Every transfer's
key is derived from the request's sequence number, so a batch that is replayed after
a crash posts nothing twice.

A trade of ``quantity`` at ``price``. The exact notional (price x quantity) and
the exact fees can have more decimals than the quote currency, so rounding is
explicit and in the exchange's favour, with every remainder booked:

* the buyer pays its order's cumulative notional rounded up, and its cumulative
  exact fee rounded up, less what it paid before: however many fills an order
  has, it pays at most one unit more than exact for each, never more than it
  holds;
* the seller receives each fill's notional rounded down, less its order's
  cumulative exact fee rounded up and not yet charged (never more than this
  fill's proceeds: the rest waits for its next fill);
* the difference between what the buyer pays and the seller receives, at least
  zero, goes to the fee account with both fees.

    buyer held quote       -(buyer pays + buyer fee)
    seller available quote +(seller receives - seller fee)
    exchange fees quote    +(buyer fee + seller fee + buyer pays - seller receives)
    seller held base       -quantity
    buyer available base   +quantity
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from money import MONEY, round_down, round_up
from matcher.book import Closed, Event, Trade, Rested, Triggered
from money import exact_fee
from matcher.errors import HoldExceeded
from matcher.markets import Market
from matcher.statuses import ACCEPTED, OPEN, PARTIALLY_FILLED

# The ledger's account kinds that settlement moves money between (ledger.AccountKind's values).
AVAILABLE, HELD, FEES = "available", "held", "fees"


class Leg(NamedTuple):
    """One entry of a transfer, its account named by owner (None: the exchange), currency
    and kind."""

    owner: int | None
    currency: str
    kind: str
    amount: Decimal


class Posting(NamedTuple):
    """A transfer for the ledger (``ledger.Transfer`` once its legs' accounts are found)."""

    key: str
    kind: str
    legs: tuple[Leg, ...]
    reference: str


@dataclass
class OrderState:
    """What settlement tracks of one order; written back to its row after each batch."""

    id: int
    user_id: int
    side: str
    hold_currency: str
    hold_remaining: Decimal
    filled_quantity: Decimal
    filled_notional: Decimal
    fee_paid: Decimal
    fee_accrued: Decimal               # exact, unrounded: fee_paid catches up with it
    status: str
    reject_reason: str | None = None
    triggered_at: datetime | None = None
    priority: int | None = None         # the book's step when it entered the book


@dataclass
class Settlement:
    transfers: list[Posting] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)     # one per Trade, in order
    changed: set[int] = field(default_factory=set)                 # order ids to write back
    last_price: Decimal | None = None


def settle(events: list[Event], states: dict[int, OrderState], market: Market,
           quote_scale: int, key: str, now: datetime, into: Settlement) -> None:
    """Add what ``events`` (of the request named ``key``) mean to ``into``."""
    for index, event in enumerate(events):
        if isinstance(event, Trade):
            _trade(event, states, market, quote_scale, f"{key}:{index}", into)
        elif isinstance(event, Rested):
            state = states[event.order_id]
            state.status = PARTIALLY_FILLED if state.filled_quantity else OPEN
            into.changed.add(state.id)
        elif isinstance(event, Triggered):
            state = states[event.order_id]
            state.triggered_at = now
            state.status = ACCEPTED
            into.changed.add(state.id)
        elif isinstance(event, Closed):
            _close(event, states[event.order_id], into)


def _trade(event: Trade, states: dict[int, OrderState], market: Market, quote_scale: int,
          key: str, into: Settlement) -> None:
    maker, taker = states[event.maker_order_id], states[event.taker_order_id]
    buyer, seller = (taker, maker) if event.taker_side == "buy" else (maker, taker)
    notional = MONEY.multiply(event.price, event.quantity)
    paid = round_up(buyer.filled_notional + notional, quote_scale) - \
        round_up(buyer.filled_notional, quote_scale)
    received = round_down(notional, quote_scale)
    buyer_bps, seller_bps = (market.taker_fee_bps, market.maker_fee_bps) if buyer is taker \
        else (market.maker_fee_bps, market.taker_fee_bps)
    buyer.fee_accrued += exact_fee(notional, buyer_bps)
    seller.fee_accrued += exact_fee(notional, seller_bps)
    buyer_fee = round_up(buyer.fee_accrued, quote_scale) - buyer.fee_paid
    seller_fee = min(round_up(seller.fee_accrued, quote_scale) - seller.fee_paid, received)
    maker_fee, taker_fee = (seller_fee, buyer_fee) if buyer is taker else (buyer_fee, seller_fee)
    base, quote = market.base, market.quote
    legs = (
        Leg(buyer.user_id, quote, HELD, (paid + buyer_fee).copy_negate()),
        Leg(seller.user_id, quote, AVAILABLE, received - seller_fee),
        Leg(None, quote, FEES, buyer_fee + seller_fee + paid - received),
        Leg(seller.user_id, base, HELD, event.quantity.copy_negate()),
        Leg(buyer.user_id, base, AVAILABLE, event.quantity),
    )
    into.transfers.append(Posting(f"trade:{key}", "trade",
                                  tuple(leg for leg in legs if leg.amount != 0),
                                  f"{market.symbol}:{maker.id}:{taker.id}"))
    buyer.hold_remaining -= paid + buyer_fee
    seller.hold_remaining -= event.quantity
    for state in (buyer, seller):
        if state.hold_remaining < 0:  # the ledger would refuse it too; say which order
            raise HoldExceeded(f"order {state.id} would spend more than it holds")
    for state, charged in ((buyer, buyer_fee), (seller, seller_fee)):
        state.filled_quantity += event.quantity
        state.filled_notional += notional
        state.fee_paid += charged
        state.status = PARTIALLY_FILLED
        into.changed.add(state.id)
    into.trades.append({"market": market.symbol, "price": event.price,
                        "quantity": event.quantity, "taker_side": event.taker_side,
                        "maker_order_id": maker.id, "taker_order_id": taker.id,
                        "maker_user_id": maker.user_id, "taker_user_id": taker.user_id,
                        "maker_fee": maker_fee, "taker_fee": taker_fee,
                        "transfer_key": f"trade:{key}"})
    into.last_price = event.price


def _close(event: Closed, state: OrderState, into: Settlement) -> None:
    state.status = event.status
    state.reject_reason = event.reason
    if state.hold_remaining > 0:
        user, currency, amount = state.user_id, state.hold_currency, state.hold_remaining
        into.transfers.append(Posting(
            f"release:order:{state.id}", "order_release",
            (Leg(user, currency, HELD, amount.copy_negate()),
             Leg(user, currency, AVAILABLE, amount)),
            f"order:{state.id}"))
        state.hold_remaining = Decimal(0)
    into.changed.add(state.id)
