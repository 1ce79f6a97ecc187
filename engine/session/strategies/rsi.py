"""RSI with Wilder's smoothing: BUY at the bar where RSI falls below `oversold` (the bar before
at or above it), SELL where it rises above `overbought` (the bar before at or below it).

Wilder's seeding, as TA-Lib has it: the first averages are the plain means of the first `period`
gains and losses (RSI is first defined at bar `period`); after that
avg[t] = (avg[t-1] * (period - 1) + x[t]) / period. RSI = 100 - 100 / (1 + gain / loss), 100 when
there were no losses, 50 when the price did not move at all.

Confidence is how far past the threshold RSI went at the signal: 1.0 at 5 points or more.
"""

from __future__ import annotations

import itertools

import numpy as np

from engine.session.strategies.base import BUY, SELL, Strategy, StrategySignals

FULL_CONFIDENCE_DEPTH = 5.0


class Rsi(Strategy):
    name = "rsi"
    parameters = {"period": (14, int), "oversold": (30.0, float), "overbought": (70.0, float)}

    def __init__(self, period: int = 14, oversold: float = 30.0, overbought: float = 70.0):
        if period < 2:
            raise ValueError(f"period must be at least 2, got {period}")
        if not 0 < oversold < overbought < 100:
            raise ValueError(
                f"need 0 < oversold < overbought < 100, got oversold={oversold:g}, "
                f"overbought={overbought:g}"
            )
        self.period, self.oversold, self.overbought = period, oversold, overbought
        self._last_close: float | None = None
        self._seed_gain = self._seed_loss = 0.0  # sums over the first `period` changes
        self._changes = 0  # price changes seen, up to `period`
        self._gain = self._loss = 0.0  # Wilder averages, once seeded
        self._previous_rsi = np.nan

    def update(self, close: np.ndarray) -> StrategySignals:
        if len(close) == 0:
            return StrategySignals.none()
        if self._last_close is None:
            self._last_close = float(close[0])
            close = close[1:]
            offset = 1
        else:
            offset = 0
        change = np.diff(close, prepend=self._last_close)
        self._last_close = float(close[-1]) if len(close) else self._last_close
        gains = np.maximum(change, 0.0).tolist()
        losses = np.maximum(-change, 0.0).tolist()
        # Seeding: the first `period` changes are summed one by one, then averaged.
        seeding = min(self.period - self._changes, len(gains))
        for gain, loss in zip(gains[:seeding], losses[:seeding], strict=True):
            self._seed_gain += gain
            self._seed_loss += loss
        self._changes += seeding
        if self._changes < self.period:
            return StrategySignals.none()
        # Seeded in this update: the bar of the last seeding change has the first RSI.
        seeded_now = seeding > 0
        if seeded_now:
            self._gain, self._loss = self._seed_gain / self.period, self._seed_loss / self.period
        gain = self._smooth(self._gain, gains[seeding:])
        loss = self._smooth(self._loss, losses[seeding:])
        if not seeded_now:
            gain, loss = gain[1:], loss[1:]
        self._gain, self._loss = float(gain[-1]), float(loss[-1])
        rsi = np.full(len(gains), np.nan)
        rsi[len(gains) - len(gain) :] = _rsi(gain, loss)
        signals = self._signals(rsi)
        self._previous_rsi = rsi[-1]
        return StrategySignals(signals.index + offset, signals.action, signals.confidence)

    def _smooth(self, start: float, values: list[float]) -> np.ndarray:
        """Wilder's recursion from `start` over `values`, one value at a time (so any split of
        the values into updates gives the same bits); `start` comes first in the result."""
        keep, period = self.period - 1, self.period
        steps = itertools.accumulate(values, lambda a, x: (a * keep + x) / period, initial=start)
        return np.fromiter(steps, float, count=len(values) + 1)

    def _signals(self, rsi: np.ndarray) -> StrategySignals:
        before = np.concatenate([[self._previous_rsi], rsi[:-1]])
        with np.errstate(invalid="ignore"):  # NaN during the warm-up compares false
            buys = (rsi < self.oversold) & (before >= self.oversold)
            sells = (rsi > self.overbought) & (before <= self.overbought)
        at = np.flatnonzero(buys | sells)
        action = np.where(buys[at], BUY, SELL).astype(np.int8)
        depth = np.where(buys[at], self.oversold - rsi[at], rsi[at] - self.overbought)
        confidence = np.minimum(1.0, depth / FULL_CONFIDENCE_DEPTH)
        return StrategySignals(at, action, confidence)


def _rsi(gain: np.ndarray, loss: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + gain / loss)
    rsi[loss == 0] = 100.0
    rsi[(loss == 0) & (gain == 0)] = 50.0
    return rsi
