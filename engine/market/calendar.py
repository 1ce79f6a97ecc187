"""The exchange calendar, from `exchange_calendars`: never a hand-written holiday list."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import exchange_calendars
import numpy as np
import pandas as pd

from engine.market.exchange import DEFAULT_EXCHANGE, EXCHANGE_TZ

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


class TradingCalendar:
    def __init__(self, exchange: str = DEFAULT_EXCHANGE):
        self.exchange = exchange
        self._calendar = exchange_calendars.get_calendar(exchange, start=CALENDAR_START)
        self.timezone = str(self._calendar.tz)  # the exchange's zone
        assert exchange != DEFAULT_EXCHANGE or self.timezone == EXCHANGE_TZ, self.timezone
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

    def _sessions_from(self, lo: int, hi: int) -> list[Session]:
        """Sessions lo…hi-1, made in one pass (`session_at` one by one indexes pandas thrice
        a session: 10 ms for five years)."""
        hi = min(hi, len(self._sessions))
        return [
            Session(label, ordinal, open_, close)
            for ordinal, label, open_, close in zip(
                range(lo, hi),
                self._sessions[lo:hi].tolist(),
                self._opens[lo:hi].tolist(),
                self._closes[lo:hi].tolist(),
                strict=True,
            )
        ]

    def sessions_between(self, start: pd.Timestamp, end: pd.Timestamp) -> list[Session]:
        """Sessions whose trading hours overlap [start, end) (UTC instants)."""
        first = int(self._closes.searchsorted(start, side="right"))
        last = int(self._opens.searchsorted(end, side="left"))
        return self._sessions_from(first, last)

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
        return self._sessions_from(lo, hi)

    def sessions_of_bars(
        self, bar_seconds: int, first: pd.Timestamp, last: pd.Timestamp
    ) -> list[Session]:
        """The sessions that bars starting `first` to `last` (UTC) cover: those of the first and
        last bars, whole, and everything between. A bar outside trading hours belongs to none,
        so the nearest session inside the range stands in for it. Daily bars (0) sit at their
        session's midnight UTC."""
        if bar_seconds == 0:
            return self.sessions_for_dates(first.tz_localize(None), last.tz_localize(None))
        return self.sessions_between(first, last + pd.Timedelta(1, "ns"))

    def expected_per_session(self, sessions: Sequence[Session], bar_seconds: int) -> list[int]:
        """How many bars each session has: one daily bar (0), else one per step from the open,
        the last cut short by the close."""
        if bar_seconds == 0:
            return [1] * len(sessions)
        return [math.ceil(s.minutes * 60 / bar_seconds) for s in sessions]

    def stored_per_session(
        self, sessions: Sequence[Session], bar_seconds: int, stored: pd.DatetimeIndex
    ) -> np.ndarray:
        """How many of each session's expected bar starts `stored` holds."""
        expected = self.bar_starts(sessions, bar_seconds).asi8
        # Bar starts never repeat: isin needs not dedupe them (a year of 1m bars: 1 ms, not 25)
        held = np.isin(expected, stored.as_unit("ns").asi8, assume_unique=True)
        counts = self.expected_per_session(sessions, bar_seconds)
        bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        cumulative = np.concatenate([[0], np.cumsum(held)])
        return cumulative[bounds[1:]] - cumulative[bounds[:-1]]

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


def calendar_for(exchange: str = DEFAULT_EXCHANGE) -> TradingCalendar:
    """One calendar per exchange per process: building one takes a fraction of a second."""
    return _calendar(exchange)


@functools.cache  # behind calendar_for, so that a defaulted and a named exchange share one
def _calendar(exchange: str) -> TradingCalendar:
    return TradingCalendar(exchange)
