"""The Binance symbols a process keeps (``api.binance.symbols``)."""

from __future__ import annotations

import pytest

from api.binance.errors import BinanceError
from api.binance.symbols import Symbols
from tests.trading import create_market


def test_a_market_listed_since_the_last_read_is_found_for_our_own_rows(engine, admin_engine):
    symbols = Symbols(engine)
    symbols.all()                    # read now: not again for REFRESH_SECONDS
    market = create_market(admin_engine)
    assert symbols.of_market(market).market.symbol == market   # read again, not refused
    with pytest.raises(BinanceError) as refused:
        symbols.of_market("NOPE-NONE")
    assert refused.value.code == -1121
