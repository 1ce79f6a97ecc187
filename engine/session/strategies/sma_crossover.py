"""SMA crossover: BUY at bar t when fast[t-1] < slow[t-1] and fast[t] > slow[t]; SELL mirrored.

Confidence is the separation of the two averages at the crossing, relative to the slow one:
1.0 at 5 basis points or more, 0.5 at 2.5 — a cross by a hair is a weak signal.
"""

from __future__ import annotations

import numpy as np

from engine.session.strategies.base import BUY, SELL, Strategy, StrategySignals

FULL_CONFIDENCE_SEPARATION = 0.0005


def window_means(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of every full window of `values`, each summed left to right: the same window
    gives the same bits wherever the array starts (unlike a cumulative sum)."""
    count = len(values) - window + 1
    if count <= 0:
        return np.empty(0)
    total = values[:count].copy()
    for offset in range(1, window):
        total += values[offset : offset + count]
    return total / window


class SmaCrossover(Strategy):
    name = "sma_crossover"
    parameters = {"fast": (5, int), "slow": (20, int)}

    def __init__(self, fast: int = 5, slow: int = 20):
        if fast < 1:
            raise ValueError(f"fast must be at least 1, got {fast}")
        if fast >= slow:
            raise ValueError(f"fast ({fast}) must be less than slow ({slow})")
        self.fast, self.slow = fast, slow
        self._tail = np.empty(0)  # the last slow-1 closes before the next update
        self._previous: tuple[float, float] | None = None  # fast and slow at the last bar

    def update(self, close: np.ndarray) -> StrategySignals:
        values = np.concatenate([self._tail, close])
        self._tail = values[-(self.slow - 1) :]
        slow = window_means(values, self.slow)
        if len(slow) == 0:
            return StrategySignals.none()
        fast = window_means(values[len(values) - len(slow) - self.fast + 1 :], self.fast)
        first = len(close) - len(slow)  # position in `close` of the first bar with both means
        if self._previous is not None:
            fast = np.concatenate([[self._previous[0]], fast])
            slow = np.concatenate([[self._previous[1]], slow])
            first -= 1
        self._previous = (float(fast[-1]), float(slow[-1]))
        buys = np.flatnonzero((fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])) + 1
        sells = np.flatnonzero((fast[:-1] > slow[:-1]) & (fast[1:] < slow[1:])) + 1
        at = np.sort(np.concatenate([buys, sells]))
        action = np.where(fast[at] > slow[at], BUY, SELL).astype(np.int8)
        separation = np.abs(fast[at] - slow[at]) / slow[at]
        confidence = np.minimum(1.0, separation / FULL_CONFIDENCE_SEPARATION)
        return StrategySignals(at + first, action, confidence)
