"""One step of the demo in every market: move the reference price, cancel the quotes that
left the ladder, place those that joined it (nearest the price first), and now and then
cross the spread from the taker account, in the direction the price just moved."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

import ccxt

from demo_maker.ladder import BUY, SELL, Quote, Rules, amount_at, ladder
from demo_maker.venue import PacedBinance, text
from demo_maker.walk import RandomWalk

CROSS_CHANCE = 0.3                      # per market and step
CROSS_PERCENT = (20, 100)               # of a level's amount
LEVEL_PERCENT = (50, 150)               # each quote's amount around the level's
SYNC_SECONDS = 15                       # re-read the open quotes (people trade with them)

log = logging.getLogger("demo_maker")


@dataclass
class Market:
    rules: Rules
    walk: RandomWalk
    step: Decimal                       # the ladder's grid, a multiple of the tick
    level_amount: Decimal               # base per quote, before LEVEL_PERCENT
    resting: dict[Quote, str] = field(default_factory=dict)   # quote -> order id
    last_reference: Decimal = Decimal(0)


@dataclass
class Counts:
    placed: int = 0
    cancelled: int = 0
    crossed: int = 0
    refused: int = 0


class Maker:
    def __init__(self, maker: PacedBinance, taker: PacedBinance, markets: list[Market]) -> None:
        self.maker, self.taker, self.markets = maker, taker, markets
        self.short: set[str] = set()     # the roles an order found short of funds
        self.counts = Counts()
        self._synced_at = time.monotonic()

    def step(self) -> None:
        if time.monotonic() - self._synced_at > SYNC_SECONDS:
            for market in self.markets:
                self.sync(market)
            self._synced_at = time.monotonic()
        for market in self.markets:
            reference = market.walk.step()
            self._quote(market, reference)
            if market.walk.chance(CROSS_CHANCE):
                self._cross(market, BUY if reference >= market.last_reference else SELL)
            market.last_reference = reference

    def sync(self, market: Market) -> None:
        """Our open quotes as the exchange has them: filled ones leave the ladder."""
        resting: dict[Quote, str] = {}
        for order in self.maker.fetch_open_orders(market.rules.symbol):
            quote = Quote(order["side"], Decimal(order["info"]["price"]))
            if quote in resting:         # two at one price: one is enough
                self._cancel(market, order["id"])
            else:
                resting[quote] = order["id"]
        market.resting = resting

    def _quote(self, market: Market, reference: Decimal) -> None:
        wanted = ladder(reference, market.step)
        # Cancels first: the matcher takes requests in order, so a new bid never meets
        # our own old ask at its price (it would be cancelled as a self-trade).
        for quote in [q for q in market.resting if q not in wanted]:
            self._cancel(market, market.resting.pop(quote))
        for quote in sorted(wanted - market.resting.keys(),
                            key=lambda q: abs(q.price - reference)):
            self._place(market, quote)

    def _place(self, market: Market, quote: Quote) -> None:
        rules = market.rules
        amount = amount_at(market.level_amount * market.walk.share(*LEVEL_PERCENT),
                           quote.price, rules)
        if amount is None:
            return
        try:
            order = self.maker.create_order(rules.symbol, "limit", quote.side, text(amount),
                                            text(quote.price))
        except ccxt.InsufficientFunds:
            self.counts.refused += 1
            self.short.add("maker")
            return
        market.resting[quote] = order["id"]
        self.counts.placed += 1

    def _cancel(self, market: Market, order_id: str) -> None:
        try:
            self.maker.cancel_order(order_id, market.rules.symbol)
            self.counts.cancelled += 1
        except ccxt.OrderNotFound:       # filled or cancelled meanwhile: gone either way
            pass

    def _cross(self, market: Market, side: str) -> None:
        rules = market.rules
        amount = amount_at(market.level_amount * market.walk.share(*CROSS_PERCENT),
                           market.walk.price, rules)
        if amount is None:
            return
        try:
            self.taker.create_order(rules.symbol, "market", side, text(amount))
        except ccxt.InsufficientFunds:
            self.counts.refused += 1
            self.short.add("taker")
            return
        except ccxt.InvalidOrder as error:   # e.g. no liquidity on that side just now
            log.debug("%s %s not taken: %s", side, rules.symbol, error)
            return
        self.counts.crossed += 1
        self.sync(market)

    def cancel_all(self) -> None:
        for market in self.markets:
            try:
                self.maker.cancel_all_orders(market.rules.symbol)
            except ccxt.OrderNotFound:   # nothing open there
                pass
            market.resting.clear()
