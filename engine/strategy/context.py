"""Historical context: what a strategy knows about a trading day before it opens, from the
sessions before it only (DESIGN.md, "Sessions").

A strategy declares what it needs as a class attribute and reads the day's context in on_bar:

    class Gap(Strategy):
        history = HistoryNeeds(days=20, extremes_days=252)   # 20-day volume, 52-week high/low

        def on_bar(self, bars):
            day = self.context
            if day.complete and bars.close[-1] > day.high:
                self.buy(reason="above the 52-week high")

The session computes every day's context once, before the run (engine.session.history).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class HistoryNeeds:
    """How many sessions before each day a strategy's context covers.

    `days`: the averages (volume per day and per minute of the session) and the previous close.
    `extremes_days`: the high and low (252 for the 52-week ones); 0 means `days`."""

    days: int = 20
    extremes_days: int = 0

    def __post_init__(self) -> None:
        for name, least in (("days", 1), ("extremes_days", 0)):
            value = getattr(self, name)
            # bool is an int to isinstance, and `days=True` is surely a mistake
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                what = "a positive whole number" if least else "a whole number >= 0"
                raise ValueError(f"history {name} must be {what}, got {value!r}")

    @property
    def extremes(self) -> int:
        """Sessions the high and low cover."""
        return self.extremes_days or self.days

    @property
    def sessions(self) -> int:
        """Sessions before each day the context reads: complete when all of them had bars."""
        return max(self.days, self.extremes)


@dataclass(frozen=True, eq=False)  # eq=False: an array field makes == ambiguous
class DayContext:
    """One trading day's context, from the sessions before it only (never the day itself).

    The window is the `days` (or `extremes` for high/low) exchange sessions before the day;
    a session of the window with no stored bars is left out of the averages and makes the
    context incomplete. A value with no session to come from is NaN."""

    date: datetime.date  # the trading day this context is for
    open_ns: int  # the day's open (int64 ns UTC)
    bar_seconds: int  # the stored timeframe's bar length (of the slots); 0 for daily bars
    previous_close: float  # the last close of the latest session with bars in the `days` window
    avg_volume: float  # mean daily volume over the `days` window
    # Mean volume of each bar slot of the session over the `days` window: slot k holds the
    # stored bars starting k bar lengths after the open (for a 1m session, minute k; for daily
    # bars a single slot). Slots are of the session's stored timeframe also for a strategy on a
    # derived one: a 5m bar's usual volume is the sum of its five minutes'. A slot a session of
    # the window had no bar in counts as 0 volume, unless the session had closed by then (early
    # close); NaN where no session had the slot. Read-only, one shared array per day.
    avg_volume_by_minute: np.ndarray = field(repr=False)
    high: float  # highest high over the extremes window
    low: float  # lowest low over the extremes window
    sessions: int  # sessions of the window (the longer one) that had bars
    complete: bool  # every session of the window had bars

    def slot(self, time_ns: int) -> int:
        """The index in `avg_volume_by_minute` of the slot holding `time_ns` (a bar's start)
        on this day."""
        if self.bar_seconds == 0:
            return 0
        return (time_ns - self.open_ns) // (self.bar_seconds * 1_000_000_000)


class DayContexts(Protocol):
    """What the session hands a strategy: the context of the day of any bar of the run."""

    def context_at(self, time_ns: int) -> DayContext:
        """The context of the session the bar starting at `time_ns` (ns UTC) belongs to."""
        ...
