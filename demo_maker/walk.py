"""The reference price: a seeded random walk in whole ticks, pulled gently back toward
where it started so that a demo left running for days stays near its opening prices."""

from __future__ import annotations

import random
from decimal import Decimal

VOLATILITY_BPS_PER_STEP = 4       # one step's typical move, in basis points of the price
REVERSION_PER_STEP = Decimal("0.002")   # the share of the distance to the start won back
PRICE_TICKS_MIN = 100             # never nearer zero than this many ticks


class RandomWalk:
    def __init__(self, start: Decimal, tick: Decimal, seed: int) -> None:
        self.tick = tick
        self.start_ticks = max(PRICE_TICKS_MIN, int(start / tick))
        self.ticks = self.start_ticks
        self._random = random.Random(seed)

    @property
    def price(self) -> Decimal:
        return self.ticks * self.tick

    def step(self) -> Decimal:
        """Move once and return the new reference price (a multiple of the tick)."""
        spread = self.ticks * VOLATILITY_BPS_PER_STEP / 10_000
        # The draw is a float, but only ever rounded to a whole number of ticks: the price
        # itself is an exact multiple of the tick.
        move = round(self._random.gauss(0, spread))
        pull = int((self.start_ticks - self.ticks) * REVERSION_PER_STEP)
        self.ticks = max(PRICE_TICKS_MIN, self.ticks + move + pull)
        return self.price

    def chance(self, probability: float) -> bool:
        return self._random.random() < probability

    def share(self, low_percent: int, high_percent: int) -> Decimal:
        """A random share between the two percentages, exact to the percent."""
        return Decimal(self._random.randint(low_percent, high_percent)) / 100
