"""Gap analysis and the segment planner: which sessions of a requested range the store lacks,
and the fewest IB requests that fetch them.

A session counts as missing when the store holds fewer bars than the calendar expects in it;
a missing session is fetched whole (the store's merge is idempotent). Runs of consecutive
missing sessions are cut into segments from their newest end backwards, each as long as IB's
step-size table and its 2000-bar limit allow; a segment's request ends at its last session's
close and reaches back a whole number of days, rounded up so that it never falls short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from engine.ib.adapter import BarRequest
from engine.ib.durations import TIMEFRAME_BAR_SIZES, Duration, exceeds_step
from engine.market.calendar import Session, TradingCalendar
from engine.market.timeframes import TIMEFRAME_SECONDS

MAX_BARS_PER_REQUEST = 2000
_DAY = pd.Timedelta(days=1)


class LoadMode(StrEnum):
    LOCAL = "local"  # the store only: nothing is fetched
    TAIL = "tail"  # from the newest stored session up to the end of the range
    BACKFILL = "backfill"  # from the oldest stored session back to the start of the range
    FULL = "full"  # every hole in the range


@dataclass(frozen=True)
class Segment:
    """One request: the sessions from `first_session` to `last_session`, all missing."""

    first_session: pd.Timestamp  # session dates (tz-naive labels)
    last_session: pd.Timestamp
    start: pd.Timestamp  # UTC: the first session's open; bars before it are trimmed
    end: pd.Timestamp  # UTC: the last session's close, the request's endDateTime
    duration: Duration
    sessions: int
    expected_bars: int

    @property
    def label(self) -> str:
        first, last = f"{self.first_session:%Y-%m-%d}", f"{self.last_session:%Y-%m-%d}"
        return first if first == last else f"{first} → {last}"

    def request(self, symbol: str, timeframe: str) -> BarRequest:
        return BarRequest(symbol, TIMEFRAME_BAR_SIZES[timeframe], self.end, self.duration)


@dataclass(frozen=True)
class LoadPlan:
    sessions: int  # trading sessions in the range (after the head timestamp)
    expected_bars: int  # bars the calendar has in those sessions
    stored_bars: int  # of those, the bars already in the store
    missing_sessions: int  # sessions the store lacks in the range, whatever the mode
    segments: tuple[Segment, ...]  # the requests for this mode, in fetch order

    @property
    def bars_to_fetch(self) -> int:
        return sum(segment.expected_bars for segment in self.segments)


def plan_load(
    calendar: TradingCalendar,
    timeframe: str,
    mode: LoadMode,
    sessions: list[Session],
    stored: pd.DatetimeIndex,
) -> LoadPlan:
    """The plan for `sessions` (the requested range, already bounded by the head timestamp)
    given `stored`, the bar starts the dataset holds (all of them: tail and backfill look at
    the newest and oldest)."""
    bar_seconds = TIMEFRAME_SECONDS[timeframe]
    expected = expected_per_session(calendar, sessions, bar_seconds)
    present = stored_per_session(calendar, sessions, bar_seconds, stored)
    missing = [s for s, e, p in zip(sessions, expected, present, strict=True) if p < e]
    wanted = _select(mode, missing, stored, calendar)
    per_session = dict(zip((s.ordinal for s in sessions), expected, strict=True))
    segments = cut_segments(wanted, timeframe, per_session)
    return LoadPlan(
        sessions=len(sessions),
        expected_bars=int(sum(expected)),
        stored_bars=int(sum(np.minimum(present, expected))),
        missing_sessions=len(missing),
        segments=tuple(sorted(segments, key=lambda segment: segment.end, reverse=True)),
    )


def expected_per_session(
    calendar: TradingCalendar, sessions: list[Session], bar_seconds: int
) -> list[int]:
    if bar_seconds == 0:
        return [1] * len(sessions)
    return [math.ceil(s.minutes * 60 / bar_seconds) for s in sessions]


def stored_per_session(
    calendar: TradingCalendar,
    sessions: list[Session],
    bar_seconds: int,
    stored: pd.DatetimeIndex,
) -> np.ndarray:
    """How many of each session's expected bar starts the store holds."""
    expected = calendar.bar_starts(sessions, bar_seconds).asi8
    held = np.isin(expected, stored.as_unit("ns").asi8)
    counts = expected_per_session(calendar, sessions, bar_seconds)
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cumulative = np.concatenate([[0], np.cumsum(held)])
    return cumulative[bounds[1:]] - cumulative[bounds[:-1]]


def _select(
    mode: LoadMode, missing: list[Session], stored: pd.DatetimeIndex, calendar: TradingCalendar
) -> list[Session]:
    if mode is LoadMode.LOCAL:
        return []
    if mode is LoadMode.FULL or len(stored) == 0:
        return missing
    if mode is LoadMode.TAIL:
        newest = _session_date(calendar, stored[-1])
        return [s for s in missing if s.date >= newest]
    oldest = _session_date(calendar, stored[0])
    return [s for s in missing if s.date <= oldest]


def _session_date(calendar: TradingCalendar, bar_start: pd.Timestamp) -> pd.Timestamp:
    """The session a stored bar belongs to (daily bars are stamped with the session date)."""
    found = calendar.sessions_between(bar_start, bar_start + pd.Timedelta(1, "ns"))
    return found[0].date if found else bar_start.tz_localize(None).normalize()


def cut_segments(
    sessions: list[Session], timeframe: str, expected: dict[int, int]
) -> list[Segment]:
    """Cut the runs of consecutive sessions into the fewest requests IB allows."""
    bar_size = TIMEFRAME_BAR_SIZES[timeframe]
    ordered = sorted(sessions, key=lambda s: s.ordinal)
    segments: list[Segment] = []
    last = len(ordered) - 1
    while last >= 0:
        end = ordered[last].close
        first, bars = last, expected[ordered[last].ordinal]
        while first > 0:
            candidate = ordered[first - 1]
            if candidate.ordinal != ordered[first].ordinal - 1:
                break  # a session the store holds lies between: a new run starts
            more = bars + expected[candidate.ordinal]
            if more > MAX_BARS_PER_REQUEST or exceeds_step(
                bar_size, days_back(candidate.open, end), end
            ):
                break
            first, bars = first - 1, more
        head = ordered[first]
        segments.append(
            Segment(
                first_session=head.date,
                last_session=ordered[last].date,
                start=head.open,
                end=end,
                duration=days_back(head.open, end),
                sessions=last - first + 1,
                expected_bars=bars,
            )
        )
        last = first - 1
    return segments


def days_back(start: pd.Timestamp, end: pd.Timestamp) -> Duration:
    """The whole number of days reaching from `end` back to `start` or before: rounded up,
    never truncated (KTRDR's "30 days -> 4 W" lost two days)."""
    return Duration(max(1, math.ceil((end - start) / _DAY)), "D")
