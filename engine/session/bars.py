"""A session's stored bars in memory, columnar, with the calendar facts every stage needs:
which session each bar belongs to and when it ends."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.market.calendar import Session, TradingCalendar
from engine.market.store import BarStore
from engine.market.timeframes import TIMEFRAME_SECONDS

NS = 10**9


@dataclass(frozen=True)
class SessionBars:
    """Bars of one symbol and timeframe over a run of sessions. Times are int64 ns UTC."""

    symbol: str
    timeframe: str
    sessions: tuple[Session, ...]  # every exchange session of the range, bars or not
    timestamps: np.ndarray  # bar starts; daily bars at the session's midnight UTC
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    session: np.ndarray  # index into `sessions` of each bar's session
    end: np.ndarray  # when each bar is complete: its start plus its length, or the close
    ignored: int  # stored bars outside the sessions' trading hours, left out

    @property
    def bar_seconds(self) -> int:
        return TIMEFRAME_SECONDS[self.timeframe]

    # Made once: every stage's setup asks (each derived timeframe, the quality, the history).
    @functools.cached_property
    def session_open(self) -> np.ndarray:
        return np.array([s.open.value for s in self.sessions], dtype=np.int64)

    @functools.cached_property
    def session_close(self) -> np.ndarray:
        return np.array([s.close.value for s in self.sessions], dtype=np.int64)

    @functools.cached_property
    def since_open(self) -> np.ndarray:
        """How long after its session's open each bar starts (ns)."""
        return self.timestamps - self.session_open[self.session]

    def __len__(self) -> int:
        return len(self.timestamps)

    @classmethod
    def from_arrays(
        cls,
        symbol: str,
        timeframe: str,
        sessions: list[Session],
        timestamps: np.ndarray,
        prices: np.ndarray,
    ) -> SessionBars:
        """`prices` is the store's (5, n) block of open, high, low, close, volume."""
        opens = np.array([s.open.value for s in sessions], dtype=np.int64)
        closes = np.array([s.close.value for s in sessions], dtype=np.int64)
        seconds = TIMEFRAME_SECONDS[timeframe]
        if seconds == 0:
            labels = np.array([s.date.value for s in sessions], dtype=np.int64)
            session = np.searchsorted(labels, timestamps)
            inside = session < len(sessions)
            inside[inside] = labels[session[inside]] == timestamps[inside]
        else:
            # The last session that opened at or before the bar, if the bar starts before its close.
            session = np.searchsorted(opens, timestamps, side="right") - 1
            inside = session >= 0
            inside[inside] = timestamps[inside] < closes[session[inside]]
        keep = np.flatnonzero(inside)
        session = session[keep]
        stamps = timestamps[keep]
        if seconds == 0:
            end = closes[session]
        else:
            end = np.minimum(stamps + seconds * NS, closes[session])
        columns = [np.ascontiguousarray(prices[row, keep]) for row in range(5)]
        return cls(
            symbol,
            timeframe,
            tuple(sessions),
            np.ascontiguousarray(stamps),
            *columns,
            session=session.astype(np.int64),
            end=end,
            ignored=len(timestamps) - len(keep),
        )


def read_session_bars(
    store: BarStore,
    calendar: TradingCalendar,
    symbol: str,
    timeframe: str,
    first: pd.Timestamp,
    last: pd.Timestamp,
) -> SessionBars:
    """The stored bars of the sessions dated `first` to `last` (inclusive)."""
    sessions = calendar.sessions_for_dates(first, last)
    if not sessions:
        return SessionBars.from_arrays(
            symbol, timeframe, [], np.empty(0, np.int64), np.empty((5, 0))
        )
    if TIMEFRAME_SECONDS[timeframe] == 0:
        lo = pd.Timestamp(sessions[0].date.value, tz="UTC")
        hi = pd.Timestamp(sessions[-1].date.value, tz="UTC") + pd.Timedelta(days=1)
    else:
        lo, hi = sessions[0].open, sessions[-1].close
    stamps, prices = store.read_arrays(symbol, timeframe, lo, hi)
    return SessionBars.from_arrays(symbol, timeframe, sessions, stamps, prices)
