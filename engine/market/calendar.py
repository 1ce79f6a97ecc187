"""The exchange calendar, from `exchange_calendars`: never a hand-written holiday list."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import exchange_calendars
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


class TradingCalendar:
    def __init__(self, exchange: str = "XNYS"):
        self.exchange = exchange
        self._calendar = exchange_calendars.get_calendar(exchange, start=CALENDAR_START)
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


@functools.cache
def calendar_for(exchange: str = "XNYS") -> TradingCalendar:
    """One calendar per exchange per process: building one takes a fraction of a second."""
    return TradingCalendar(exchange)
