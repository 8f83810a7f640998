"""Order types: one spelling for the core, placing, the matcher's worker and the API, and
what each type means to the book.

A conditional order (a stop or a take-profit) waits outside the book until the last trade
price reaches its ``stop_price``, then enters as the market or limit order it names. A stop
follows the price away from the trader (a buy triggers as the price rises to its stop, a
sell as it falls to it); a take-profit the other way (a sell triggers as the price rises to
it, a buy as it falls to it).
"""

from __future__ import annotations

from typing import Final

MARKET: Final = "market"
LIMIT: Final = "limit"
STOP_MARKET: Final = "stop_market"
STOP_LIMIT: Final = "stop_limit"
TAKE_PROFIT_MARKET: Final = "take_profit_market"
TAKE_PROFIT_LIMIT: Final = "take_profit_limit"

ALL: Final = (MARKET, LIMIT, STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET,
              TAKE_PROFIT_LIMIT)                                     # the API's order
CONDITIONAL: Final = (STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT)
AT_MARKET: Final = (MARKET, STOP_MARKET, TAKE_PROFIT_MARKET)  # no limit: price protection only
WITH_PRICE: Final = (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT)    # a limit price, required
_STOPS: Final = (STOP_MARKET, STOP_LIMIT)


def triggers_rising(kind: str, side: str) -> bool:
    """Whether a conditional order of ``kind`` and ``side`` triggers once the last price is at
    or above its stop price (True) rather than at or below it (False)."""
    return (side == "buy") == (kind in _STOPS)
