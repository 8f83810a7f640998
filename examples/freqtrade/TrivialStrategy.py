"""A strategy that trades once: it buys at market as soon as it has a closed candle, holds
for one candle, and sells at market whatever the price (ROI of -100 % after a minute).

It shows the path of an order through our exchange, not a way to make money: it enters
only while its database holds no trade of the pair, so a fresh database gives exactly one
round trip.
"""

from __future__ import annotations

from datetime import datetime

from pandas import DataFrame

from freqtrade.persistence import Trade
from freqtrade.strategy import IStrategy


class TrivialStrategy(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    can_short = False
    # Minutes held -> profit that exits: never within the first minute, anything after it.
    minimal_roi = {"0": 100.0, "1": -1.0}
    stoploss = -0.99
    trailing_stop = False
    use_exit_signal = False
    process_only_new_candles = True
    startup_candle_count = 1
    order_types = {"entry": "market", "exit": "market", "stoploss": "market",
                   "stoploss_on_exchange": False}

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe

    def confirm_trade_entry(self, pair: str, order_type: str, amount: float, rate: float,
                            time_in_force: str, current_time: datetime,
                            entry_tag: str | None, side: str, **kwargs) -> bool:
        return not Trade.get_trades_proxy(pair=pair)
