"""Markets: a base traded against a quote, with tick size, lot size, minimum notional, fees."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


FEE_BPS_MAX = 1000


@dataclass(frozen=True)
class Market:
    symbol: str              # BASE-QUOTE
    base: str
    quote: str
    tick_size: Decimal       # prices are whole multiples of this (in quote)
    lot_size: Decimal        # quantities are whole multiples of this (in base)
    min_notional: Decimal    # price x quantity at least this (in quote)
    maker_fee_bps: int
    taker_fee_bps: int
    status: str              # open or halted

    @property
    def is_open(self) -> bool:
        return self.status == "open"


