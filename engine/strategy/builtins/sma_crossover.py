"""The SMA crossover, bar by bar (`on_bar`) and, for speed, chunk by chunk (`on_chunk`)."""

from __future__ import annotations

import numpy as np

from engine.strategy import BUY, SELL, Bars, Signals, Strategy
from engine.strategy.indicators import crossings, sma_order

FULL_CONFIDENCE_GAP = 0.0005  # 5 basis points of the slow average
ABOVE, BELOW = "fast SMA crossed above the slow one", "fast SMA crossed below the slow one"


class SmaCrossover(Strategy):
    """Buy when the fast SMA of the close crosses above the slow one (below at the bar before,
    above at this one; a touch is no cross), sell when it crosses below. Exact on cent prices.
    Confidence is the gap between the averages at the cross over the slow one: 1.0 at 5 basis
    points or more, 0.5 at 2.5 - a cross by a hair is a weak signal."""

    name = "sma_crossover"
    fast: int = 5
    slow: int = 20

    def validate(self) -> None:
        if self.fast < 1:
            raise ValueError(f"fast must be at least 1, got {self.fast}")
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be less than slow ({self.slow})")

    def on_bar(self, bars: Bars) -> None:
        if len(bars) <= self.slow:
            return
        # The last two bars' order of the averages: -1 fast below, 1 above, 0 equal.
        side, fast, slow = sma_order(bars.close[-self.slow - 1 :], self.fast, self.slow)
        confidence = min(1.0, abs(fast[-1] - slow[-1]) / slow[-1] / FULL_CONFIDENCE_GAP)
        if side[-2] < 0 < side[-1]:
            self.buy(confidence, reason=ABOVE)
        elif side[-2] > 0 > side[-1]:
            self.sell(confidence, reason=BELOW)

    def on_chunk(self, bars: Bars, start: int) -> Signals:
        first = max(0, start - self.slow)  # the windows of the chunk's first bars reach back
        side, fast, slow = sma_order(bars.close[first:], self.fast, self.slow)
        cross = crossings(side, 0)[start - first :]
        at = np.flatnonzero(cross)
        here = at + start - first
        confidence = np.minimum(
            1.0, np.abs(fast[here] - slow[here]) / slow[here] / FULL_CONFIDENCE_GAP
        )
        action = np.where(cross[at] > 0, BUY, SELL)
        return Signals(at + start, action, confidence, np.where(action == BUY, ABOVE, BELOW))
