"""What the face's handlers use: the native services, and what the face keeps itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from api.binance.listen_keys import ListenKeys
from api.binance.symbols import Symbols
from api.order_waits import OrderWaits
from api.services import Services


@dataclass(frozen=True)
class BinanceServices:
    native: Services
    symbols: Symbols
    order_waits: OrderWaits
    start_events: Callable[[], None]     # the process's listener of the matcher's events
    listen_keys: ListenKeys
