"""The public strategy API: what users write their strategies against (DESIGN.md, "Strategies").

    from engine.strategy import Strategy

    class Breakout(Strategy):
        \"\"\"Buy a close above the highest high of the last `lookback` bars.\"\"\"
        name = "breakout"
        lookback: int = 20

        def on_bar(self, bars):
            if len(bars) <= self.lookback:
                return
            if bars.close[-1] > bars.high[-self.lookback - 1 : -1].max():
                self.buy(confidence=1.0, reason="new high")

`indicators` holds moving averages, RSI, ATR, rolling extremes and crossing tests;
`HistoryNeeds` declares the historical context a strategy reads as `self.context`.
"""

from __future__ import annotations

from engine.strategy import indicators
from engine.strategy.base import BUY, SELL, Bars, Parameter, Signals, Strategy
from engine.strategy.context import DayContext, HistoryNeeds

__all__ = [
    "BUY",
    "SELL",
    "Bars",
    "DayContext",
    "HistoryNeeds",
    "Parameter",
    "Signals",
    "Strategy",
    "indicators",
]
