"""IB's bar sizes and its step-size table (the longest duration one request may ask for, per bar
size); the duration itself is source-neutral (`engine.market.spans`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from engine.market.spans import Duration

if TYPE_CHECKING:
    from engine.market.calendar import TradingCalendar

# barSizeSetting -> bar length in seconds (0 for daily bars: one bar per session).
BAR_SIZES: dict[str, int] = {
    "1 min": 60,
    "2 mins": 120,
    "3 mins": 180,
    "5 mins": 300,
    "10 mins": 600,
    "15 mins": 900,
    "20 mins": 1200,
    "30 mins": 1800,
    "1 hour": 3600,
    "4 hours": 14400,
    "1 day": 0,
}

# Our timeframes (DESIGN.md) and the IB bar size that serves each.
TIMEFRAME_BAR_SIZES: dict[str, str] = {
    "1m": "1 min",
    "5m": "5 mins",
    "15m": "15 mins",
    "30m": "30 mins",
    "1h": "1 hour",
    "4h": "4 hours",
    "1d": "1 day",
}

# Longer than any stretch the exchange has been closed since the calendar starts (2000; the
# longest, after 11 September 2001, was six days).
_LONGEST_CLOSURE = pd.Timedelta(days=14)


def longest_duration(bar_size: str) -> Duration:
    """IB's step-size table: 1 min -> 1 D; 2 mins -> 2 D; 3-20 mins -> 1 W; 30 mins to
    4 hours -> 1 M; 1 day -> 1 Y."""
    seconds = BAR_SIZES[bar_size]
    if seconds == 0:
        return Duration(1, "Y")
    if seconds == 60:
        return Duration(1, "D")
    if seconds == 120:
        return Duration(2, "D")
    if seconds <= 1200:
        return Duration(1, "W")
    return Duration(1, "M")


def exceeds_step(bar_size: str, duration: Duration, end: pd.Timestamp) -> bool:
    return duration.start_before(end) < longest_duration(bar_size).start_before(end)


def answer_start(
    duration: Duration, end: pd.Timestamp, bar_seconds: int, calendar: TradingCalendar
) -> pd.Timestamp:
    """Where IB's answer to a request reaching `duration` back from `end` begins. For
    intraday bars IB counts `D` in trading days: "1 D" is the last session that opened before
    `end` (on a Sunday, Friday's), "2 D" that one and the one before. Everything else, daily
    bars included, is calendar arithmetic."""
    if duration.unit != "D" or bar_seconds == 0:
        return duration.start_before(end)
    recent = calendar.sessions_between(end - _LONGEST_CLOSURE, end)
    if not recent:  # beyond the calendar: there are no bars to count
        return duration.start_before(end)
    first = max(recent[-1].ordinal - duration.count + 1, 0)
    return calendar.session_at(first).open
