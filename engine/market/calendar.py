"""The exchange calendar, from `exchange_calendars`: never a hand-written holiday list."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import exchange_calendars
import numpy as np
import pandas as pd

# A fixed first session: the simulated gateway numbers sessions from here, so moving it would
# change every synthetic bar.
CALENDAR_START = "2000-01-01"


@dataclass(frozen=True)
class Session:
    date: pd.Timestamp  # the session label (midnight, tz-naive, as exchange_calendars has it)
    ordinal: int  # 0 for the calendar's first session
    open: pd.Timestamp  # UTC
    close: pd.Timestamp  # UTC; early closes included

    @property
    def minutes(self) -> int:
        return int((self.close - self.open).total_seconds() // 60)


class GapKind(StrEnum):
    """Why a stretch of time has no bars. Only `missing` is a hole in the data."""

    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    EARLY_CLOSE = "early close"
    OUTSIDE_HOURS = "outside trading hours"
    MISSING = "missing"


@dataclass(frozen=True)
class Gap:
    start: pd.Timestamp  # UTC, inclusive
    end: pd.Timestamp  # UTC, exclusive
    kind: GapKind


class TradingCalendar:
    def __init__(self, exchange: str = "XNYS"):
        self.exchange = exchange
        self._calendar = exchange_calendars.get_calendar(exchange, start=CALENDAR_START)
        self.timezone = str(self._calendar.tz)  # the exchange's zone, e.g. America/New_York
        self._sessions = self._calendar.sessions
        self._opens = pd.DatetimeIndex(self._calendar.opens)  # UTC
        self._closes = pd.DatetimeIndex(self._calendar.closes)

    @property
    def first_session(self) -> pd.Timestamp:
        return self._sessions[0]

    @property
    def last_session_ordinal(self) -> int:
        return len(self._sessions) - 1

    def session_at(self, ordinal: int) -> Session:
        label = self._sessions[ordinal]
        return Session(label, ordinal, self._opens[ordinal], self._closes[ordinal])

    def sessions_between(self, start: pd.Timestamp, end: pd.Timestamp) -> list[Session]:
        """Sessions whose trading hours overlap [start, end) (UTC instants)."""
        first = int(self._closes.searchsorted(start, side="right"))
        last = int(self._opens.searchsorted(end, side="left"))
        return [self.session_at(i) for i in range(first, min(last, len(self._sessions)))]

    def session_for_date(self, date: pd.Timestamp) -> Session | None:
        label = pd.Timestamp(date).normalize().tz_localize(None)
        index = int(self._sessions.searchsorted(label))
        if index < len(self._sessions) and self._sessions[index] == label:
            return self.session_at(index)
        return None

    def first_session_on_or_after(self, date: pd.Timestamp) -> Session:
        label = pd.Timestamp(date).normalize().tz_localize(None)
        return self.session_at(int(self._sessions.searchsorted(label)))

    def sessions_for_dates(self, first: pd.Timestamp, last: pd.Timestamp) -> list[Session]:
        """Sessions whose label lies in [first, last], both session dates (inclusive)."""
        lo = int(self._sessions.searchsorted(pd.Timestamp(first).tz_localize(None), "left"))
        hi = int(self._sessions.searchsorted(pd.Timestamp(last).tz_localize(None), "right"))
        return [self.session_at(i) for i in range(lo, hi)]

    def is_early_close(self, session: Session) -> bool:
        regular = self._calendar.close_times[-1][1]  # the exchange's latest regular close
        local_close = session.close.tz_convert(self._calendar.tz).time()
        return local_close < regular

    def bar_starts(self, sessions: Sequence[Session], bar_seconds: int) -> pd.DatetimeIndex:
        """Every bar start the exchange has in `sessions` (UTC): bars step from the session
        open, the last one cut short by the close; daily bars (0) sit at the session's
        midnight UTC."""
        if bar_seconds == 0:
            labels = np.array([s.date.value for s in sessions], dtype=np.int64)
            return pd.DatetimeIndex(labels, tz="UTC")
        step = bar_seconds * 10**9
        parts = [np.arange(s.open.value, s.close.value, step, dtype=np.int64) for s in sessions]
        values = np.concatenate(parts) if parts else np.empty(0, np.int64)
        return pd.DatetimeIndex(values, tz="UTC")

    def classify_gap(self, start: pd.Timestamp, end: pd.Timestamp) -> GapKind:
        """Why [start, end) (UTC) has no bars: a real hole when the market was open in it."""
        if self.sessions_between(start, end):
            return GapKind.MISSING
        days = pd.date_range(
            start.tz_convert(self._calendar.tz).normalize().tz_localize(None),
            (end - pd.Timedelta(1, "ns"))
            .tz_convert(self._calendar.tz)
            .normalize()
            .tz_localize(None),
            freq="D",
        )
        closed_weekdays = [d for d in days if d.weekday() < 5 and self.session_for_date(d) is None]
        # A closed weekday strictly inside the gap: the day the market never opened.
        if any(start < self._day_end(d) and self._day_start(d) < end for d in closed_weekdays):
            return GapKind.HOLIDAY
        if any(d.weekday() >= 5 for d in days):
            return GapKind.WEEKEND
        before = self.sessions_between(start - pd.Timedelta(minutes=1), start)
        if before and before[-1].close == start and self.is_early_close(before[-1]):
            return GapKind.EARLY_CLOSE
        return GapKind.OUTSIDE_HOURS

    def find_gaps(self, timestamps: pd.DatetimeIndex, bar_seconds: int) -> list[Gap]:
        """Every stretch between consecutive bars longer than one bar, classified. Daily bars
        (0) compare session dates: a skipped session is missing, the rest are not gaps."""
        if len(timestamps) < 2:
            return []
        values = timestamps.as_unit("ns").asi8
        if bar_seconds == 0:
            return self._daily_gaps(timestamps)
        step = bar_seconds * 10**9
        jumps = np.flatnonzero(np.diff(values) > step)
        gaps = []
        for i in jumps:
            # A session's last bar may be cut short by the close: the gap starts there.
            last_bar = pd.Timestamp(values[i], tz="UTC")
            session = self.sessions_between(last_bar, last_bar + pd.Timedelta(1, "ns"))
            start = last_bar + pd.Timedelta(step, "ns")
            if session:
                start = min(start, session[0].close)
            end = pd.Timestamp(values[i + 1], tz="UTC")
            gaps.append(Gap(start, end, self.classify_gap(start, end)))
        return gaps

    def _daily_gaps(self, timestamps: pd.DatetimeIndex) -> list[Gap]:
        labels = timestamps.tz_localize(None)
        ordinals = self._sessions.searchsorted(labels)
        gaps = []
        for i in np.flatnonzero(np.diff(ordinals) > 1):
            first = self.session_at(int(ordinals[i]) + 1)
            last = self.session_at(int(ordinals[i + 1]) - 1)
            gaps.append(Gap(first.open, last.close, GapKind.MISSING))
        return gaps

    def _day_start(self, day: pd.Timestamp) -> pd.Timestamp:
        return day.tz_localize(self._calendar.tz).tz_convert("UTC")

    def _day_end(self, day: pd.Timestamp) -> pd.Timestamp:
        return (day + pd.Timedelta(days=1)).tz_localize(self._calendar.tz).tz_convert("UTC")


def calendar_for(exchange: str = "XNYS") -> TradingCalendar:
    """One calendar per exchange per process: building one takes a fraction of a second."""
    return _calendar(exchange)


@functools.cache  # behind calendar_for, so that a defaulted and a named exchange share one
def _calendar(exchange: str) -> TradingCalendar:
    return TradingCalendar(exchange)
