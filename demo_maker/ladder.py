"""Which quotes a market should have around a reference price: pure arithmetic on the
market's rules, every price a multiple of the tick and every amount of the lot.

The quotes sit on a fixed grid (a step of a few ticks, anchored at zero), so that when the
reference moves by one step only the level that falls off one end and the one that
appears at the other change: two requests, not a whole new ladder.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

LEVELS = 5                  # quotes on each side
STEP_BPS = 10               # the grid's step, in basis points of the starting price
BUY, SELL = "buy", "sell"


@dataclass(frozen=True)
class Rules:
    """A market as its exchangeInfo filters say it."""
    symbol: str             # ccxt's unified symbol, "BTC/USDT"
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_notional: Decimal


@dataclass(frozen=True)
class Quote:
    side: str
    price: Decimal


def multiple(value: Decimal, step: Decimal, rounding: str = ROUND_FLOOR) -> Decimal:
    """``value`` rounded to a multiple of ``step`` (down unless told), at the step's
    exponent so that it prints as the market does (``100.10``, not ``100.1000``)."""
    return ((value / step).to_integral_value(rounding=rounding) * step).quantize(step)


def grid_step(reference: Decimal, rules: Rules) -> Decimal:
    return max(rules.tick, multiple(reference * STEP_BPS / 10_000, rules.tick))


def ladder(reference: Decimal, step: Decimal, levels: int = LEVELS) -> set[Quote]:
    """Bids at and below the grid point under the reference, asks above it."""
    anchor = multiple(reference, step)
    bids = {Quote(BUY, anchor - k * step) for k in range(levels)}
    asks = {Quote(SELL, anchor + k * step) for k in range(1, levels + 1)}
    return {quote for quote in bids | asks if quote.price > 0}


def amount_at(base_amount: Decimal, price: Decimal, rules: Rules) -> Decimal | None:
    """``base_amount`` down to the lot, raised to the minimum notional at ``price``; None
    when the budget is less than one lot."""
    amount = multiple(base_amount, rules.lot)
    least = multiple(rules.min_notional / price, rules.lot, ROUND_CEILING)
    if amount <= 0:
        return None
    return max(amount, least)
