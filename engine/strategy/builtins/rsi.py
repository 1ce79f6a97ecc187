"""RSI thresholds, bar by bar (`on_bar`) and, for speed, chunk by chunk (`on_chunk`)."""

from __future__ import annotations

import numpy as np

from engine.strategy import BUY, SELL, Bars, Signals, Strategy
from engine.strategy.indicators import Rsi as RsiIndicator

FULL_CONFIDENCE_DEPTH = 5.0  # RSI points past the threshold


class Rsi(Strategy):
    """Buy at the bar where Wilder's RSI falls below `oversold` (at or above it the bar
    before), sell where it rises above `overbought` (at or below it the bar before).
    Confidence is how far past the threshold RSI went: 1.0 at 5 points or more."""

    name = "rsi"
    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0

    def validate(self) -> None:
        if self.period < 2:
            raise ValueError(f"period must be at least 2, got {self.period}")
        if not 0 < self.oversold < self.overbought < 100:
            raise ValueError(
                f"need 0 < oversold < overbought < 100, got oversold={self.oversold:g}, "
                f"overbought={self.overbought:g}"
            )

    def setup(self) -> None:
        self.rsi = RsiIndicator(self.period)  # carries Wilder's averages from bar to bar

    def on_bar(self, bars: Bars) -> None:
        rsi = self.rsi(bars.close)
        if len(rsi) < 2:
            return
        before, now = rsi[-2], rsi[-1]
        if now < self.oversold <= before:
            self.buy(min(1.0, (self.oversold - now) / FULL_CONFIDENCE_DEPTH), self._below)
        elif now > self.overbought >= before:
            self.sell(min(1.0, (now - self.overbought) / FULL_CONFIDENCE_DEPTH), self._above)

    def on_chunk(self, bars: Bars, start: int) -> Signals:
        rsi = self.rsi(bars.close)
        before = rsi[start - 1 : -1] if start else np.concatenate([[np.nan], rsi[:-1]])
        now = rsi[start:]
        with np.errstate(invalid="ignore"):  # NaN in the warm-up compares false
            buys = (now < self.oversold) & (before >= self.oversold)
            sells = (now > self.overbought) & (before <= self.overbought)
        at = np.flatnonzero(buys | sells)
        depth = np.where(buys[at], self.oversold - now[at], now[at] - self.overbought)
        reason = np.where(buys[at], self._below, self._above)
        action = np.where(buys[at], BUY, SELL)
        return Signals(at + start, action, np.minimum(1.0, depth / FULL_CONFIDENCE_DEPTH), reason)

    @property
    def _below(self) -> str:
        return f"RSI fell below {self.oversold:g}"

    @property
    def _above(self) -> str:
        return f"RSI rose above {self.overbought:g}"
