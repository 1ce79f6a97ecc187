"""Gap analysis and the segment planner: which sessions of a requested range the store lacks,
and the fewest requests that fetch them.

A session counts as missing when the store holds fewer bars than the calendar expects in it;
a missing session is fetched whole (the store's merge is idempotent). Runs of consecutive
missing sessions are cut into segments from their newest end backwards, each as long as the
source's longest span and its most bars per request allow; a segment's request ends at its last
session's close and reaches back a whole number of days, rounded up so that it never falls short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from engine.loading.modes import LoadMode
from engine.market.calendar import Session, TradingCalendar
from engine.market.spans import Duration
from engine.market.timeframes import TIMEFRAME_SECONDS

_DAY = pd.Timedelta(days=1)


class SourceLimits(Protocol):
    """The part of a `BarSource` the planner reads."""

    def longest_span(self, timeframe: str) -> Duration: ...

    def max_bars(self, timeframe: str) -> int: ...


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
        """Its sessions as the Jobs pane, `load` and the journal's records show them."""
        first, last = f"{self.first_session:%Y-%m-%d}", f"{self.last_session:%Y-%m-%d}"
        return first if first == last else f"{first} → {last}"


@dataclass(frozen=True)
class RequestLimits:
    """How much one request may ask of the source (its `longest_span` and `max_bars`)."""

    longest: Duration
    max_bars: int

    @classmethod
    def of(cls, source: SourceLimits, timeframe: str) -> RequestLimits:
        return cls(source.longest_span(timeframe), source.max_bars(timeframe))

    def allows(self, span: Duration, end: pd.Timestamp, bars: int) -> bool:
        return bars <= self.max_bars and span.start_before(end) >= self.longest.start_before(end)


@dataclass(frozen=True)
class LoadPlan:
    sessions: int  # trading sessions in the range (after the head timestamp)
    expected_bars: int  # bars the calendar has in those sessions
    stored_bars: int  # of those, the bars already in the store
    missing_sessions: int  # sessions the store lacks in the range, whatever the mode
    segments: tuple[Segment, ...]  # the requests for this mode, in fetch order


def plan_load(
    calendar: TradingCalendar,
    timeframe: str,
    mode: LoadMode,
    sessions: list[Session],
    stored: pd.DatetimeIndex,
    limits: RequestLimits | None = None,
) -> LoadPlan:
    """The plan for `sessions` (the requested range, already bounded by the head timestamp)
    given `stored`, the bar starts the dataset holds (all of them: tail and backfill look at
    the newest and oldest). `limits` are the source's; without them (a local report, which
    fetches nothing) each run of consecutive missing sessions is one segment."""
    bar_seconds = TIMEFRAME_SECONDS[timeframe]
    expected = calendar.expected_per_session(sessions, bar_seconds)
    present = calendar.stored_per_session(sessions, bar_seconds, stored)
    missing = [s for s, e, p in zip(sessions, expected, present, strict=True) if p < e]
    wanted = _select(mode, missing, stored, calendar)
    per_session = dict(zip((s.ordinal for s in sessions), expected, strict=True))
    segments = cut_segments(wanted, per_session, limits)
    return LoadPlan(
        sessions=len(sessions),
        expected_bars=int(sum(expected)),
        stored_bars=int(sum(np.minimum(present, expected))),
        missing_sessions=len(missing),
        segments=tuple(sorted(segments, key=lambda segment: segment.end, reverse=True)),
    )


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
    sessions: list[Session], expected: dict[int, int], limits: RequestLimits | None
) -> list[Segment]:
    """Cut the runs of consecutive sessions into the fewest requests `limits` allow (None:
    no limit, one segment per run)."""
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
            if limits is not None and not limits.allows(days_back(candidate.open, end), end, more):
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
