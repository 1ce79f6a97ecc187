"""The bars of one timeframe as a session publishes them: the stored timeframe as it is, and the
coarser ones derived from it, session-aligned, each published only once complete."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.market.timeframes import TIMEFRAME_SECONDS
from engine.session.bars import NS, SessionBars


@dataclass(frozen=True)
class BarView:
    """The last published bars of a timeframe, copied: safe to hand to another thread."""

    timeframe: str
    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamps)


class BarSeries:
    """One timeframe's bars, laid out in advance from the timestamps alone, values filled in as
    bars complete. `published` bars are visible; nothing past it may be read by a strategy."""

    def __init__(self, base: SessionBars, timeframe: str):
        self.timeframe = timeframe
        self.base = base
        self.published = 0
        if timeframe == base.timeframe:
            # The stored bars themselves: every one is complete at its end.
            self.first_bar = np.arange(len(base), dtype=np.int64)
            self.timestamps, self.end = base.timestamps, base.end
            self.open, self.high, self.low = base.open, base.high, base.low
            self.close, self.volume = base.close, base.volume
            self.session = base.session
            self._derived = False
            return
        step = TIMEFRAME_SECONDS[timeframe] * NS
        starts = base.timestamps - base.since_open % step
        change = np.flatnonzero(np.diff(starts)) + 1 if len(starts) else np.empty(0, np.int64)
        self.first_bar = np.concatenate([[0], change]).astype(np.int64) if len(starts) else change
        self.timestamps = starts[self.first_bar]
        self.session = base.session[self.first_bar]
        # A bin ends a step after its start, or at the close when the close cuts it short.
        self.end = np.minimum(self.timestamps + step, base.session_close[self.session])
        size = len(self.first_bar)
        self.open, self.high, self.low = np.empty(size), np.empty(size), np.empty(size)
        self.close, self.volume = np.empty(size), np.empty(size)
        self._derived = True

    def __len__(self) -> int:
        return len(self.timestamps)

    def publish_until(self, clock: int) -> tuple[int, int]:
        """Publish every bar complete at `clock` (ns); return the range of newly published ones.
        The caller has processed every stored bar that ends by `clock`."""
        lo = self.published
        hi = int(np.searchsorted(self.end, clock, side="right"))
        if hi > lo and self._derived:
            self._aggregate(lo, hi)
        self.published = max(lo, hi)
        return lo, self.published

    def _aggregate(self, lo: int, hi: int) -> None:
        base = self.base
        start = self.first_bar[lo]
        stop = self.first_bar[hi] if hi < len(self.first_bar) else len(base)
        cuts = self.first_bar[lo:hi] - start
        last = np.append(self.first_bar[lo + 1 : hi], stop) - 1
        self.open[lo:hi] = base.open[self.first_bar[lo:hi]]
        self.high[lo:hi] = np.maximum.reduceat(base.high[start:stop], cuts)
        self.low[lo:hi] = np.minimum.reduceat(base.low[start:stop], cuts)
        self.close[lo:hi] = base.close[last]
        self.volume[lo:hi] = np.add.reduceat(base.volume[start:stop], cuts)

    def view(self, count: int) -> BarView:
        """The last `count` published bars."""
        lo = max(0, self.published - count)
        hi = self.published
        return BarView(
            self.timeframe,
            self.timestamps[lo:hi].copy(),
            self.open[lo:hi].copy(),
            self.high[lo:hi].copy(),
            self.low[lo:hi].copy(),
            self.close[lo:hi].copy(),
            self.volume[lo:hi].copy(),
        )
