"""Gap analysis and the segment planner: segments cover exactly the missing sessions, never
overlap, keep within IB's limits, reach back far enough, and are as few as IB allows."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ib.durations import TIMEFRAME_BAR_SIZES, exceeds_step
from engine.ib.source import MAX_BARS_PER_REQUEST, IBSource
from engine.loading.planner import LoadMode, RequestLimits, days_back, plan_load
from engine.market.calendar import Session, calendar_for
from engine.market.spans import Duration
from engine.market.timeframes import TIMEFRAME_SECONDS, TIMEFRAMES

CALENDAR = calendar_for()
YEAR_2024 = CALENDAR.sessions_for_dates(pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31"))
NOTHING = pd.DatetimeIndex([], tz="UTC")


def ib_limits(timeframe: str) -> RequestLimits:
    """IB's limits, as its source gives them to the planner."""
    return RequestLimits.of(IBSource, timeframe)


def stored_bars(sessions: list[Session], timeframe: str, keep: list[str]) -> pd.DatetimeIndex:
    """Bars for each session: 'all', 'none' or 'part' (every other bar)."""
    parts = []
    for session, how in zip(sessions, keep, strict=True):
        starts = CALENDAR.bar_starts([session], TIMEFRAME_SECONDS[timeframe])
        if how == "all":
            parts.append(starts)
        elif how == "part":
            parts.append(starts[::2])
    if not parts:
        return NOTHING
    return parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]


def covered(segment) -> list[int]:
    return [
        s.ordinal for s in CALENDAR.sessions_for_dates(segment.first_session, segment.last_session)
    ]


def fits(timeframe: str, sessions: list[Session]) -> bool:
    """Whether one request may cover these consecutive sessions (the planner's rule, restated
    independently for the optimum below)."""
    bar_size = TIMEFRAME_BAR_SIZES[timeframe]
    end = sessions[-1].close
    bars = sum(CALENDAR.expected_per_session(sessions, TIMEFRAME_SECONDS[timeframe]))
    return bars <= MAX_BARS_PER_REQUEST and not exceeds_step(
        bar_size, days_back(sessions[0].open, end), end
    )


def fewest_requests(timeframe: str, run: list[Session]) -> int:
    """The optimum for one run of consecutive sessions, by dynamic programming: best[i] is
    the fewest requests for run[i:]; a request from i may stop at any j while it still fits."""
    best = [0] * (len(run) + 1)
    for i in range(len(run) - 1, -1, -1):
        options = []
        for j in range(i + 1, len(run) + 1):
            if not fits(timeframe, run[i:j]):
                break  # a longer request cannot fit either
            options.append(1 + best[j])
        best[i] = min(options)
    return best[0]


def runs(sessions: list[Session]) -> list[list[Session]]:
    out: list[list[Session]] = []
    for session in sessions:
        if out and out[-1][-1].ordinal == session.ordinal - 1:
            out[-1].append(session)
        else:
            out.append([session])
    return out


@st.composite
def stores(draw):
    timeframe = draw(st.sampled_from(TIMEFRAMES))
    first = draw(st.integers(0, len(YEAR_2024) - 2))
    count = draw(st.integers(1, min(45, len(YEAR_2024) - first)))
    sessions = YEAR_2024[first : first + count]
    keep = draw(st.lists(st.sampled_from(["all", "none", "part"]), min_size=count, max_size=count))
    return timeframe, sessions, keep


@settings(max_examples=60, deadline=None)
@given(stores())
def test_full_mode_segments_cover_exactly_the_missing_sessions(case) -> None:
    timeframe, sessions, keep = case
    stored = stored_bars(sessions, timeframe, keep)
    plan = plan_load(CALENDAR, timeframe, LoadMode.FULL, sessions, stored, ib_limits(timeframe))
    # A one-bar session cannot be half stored: 'part' keeps its only bar.
    missing = [
        s
        for s, how in zip(sessions, keep, strict=True)
        if how == "none"
        or (
            how == "part"
            and CALENDAR.expected_per_session([s], TIMEFRAME_SECONDS[timeframe])[0] > 1
        )
    ]
    ordinals = [o for segment in plan.segments for o in covered(segment)]
    assert sorted(ordinals) == [s.ordinal for s in missing]  # exact cover ...
    assert len(ordinals) == len(set(ordinals))  # ... without overlap
    assert plan.missing_sessions == len(missing)
    bar_size = TIMEFRAME_BAR_SIZES[timeframe]
    for segment in plan.segments:
        members = CALENDAR.sessions_for_dates(segment.first_session, segment.last_session)
        assert segment.sessions == len(members)
        assert segment.start == members[0].open and segment.end == members[-1].close
        assert segment.duration.start_before(segment.end) <= segment.start  # never short
        assert not exceeds_step(bar_size, segment.duration, segment.end)
        assert segment.expected_bars <= MAX_BARS_PER_REQUEST
        assert segment.expected_bars == len(
            CALENDAR.bar_starts(members, TIMEFRAME_SECONDS[timeframe])
        )
    ends = [segment.end for segment in plan.segments]
    assert ends == sorted(ends, reverse=True)  # newest first
    assert len(plan.segments) == sum(fewest_requests(timeframe, run) for run in runs(missing))


@pytest.mark.parametrize(
    ("timeframe", "requests"),
    [("1m", 252), ("5m", 53), ("15m", 53), ("30m", 12), ("1h", 12), ("4h", 12), ("1d", 1)],
)
def test_a_year_from_an_empty_store(timeframe: str, requests: int) -> None:
    plan = plan_load(CALENDAR, timeframe, LoadMode.FULL, YEAR_2024, NOTHING, ib_limits(timeframe))
    assert len(plan.segments) == requests
    assert plan.sessions == 252 and plan.missing_sessions == 252 and plan.stored_bars == 0
    assert sum(segment.expected_bars for segment in plan.segments) == plan.expected_bars
    # the optimum: no plan for a run of 252 sessions needs fewer
    assert requests == fewest_requests(timeframe, YEAR_2024)


def test_one_minute_bars_take_one_request_per_session_with_early_closes() -> None:
    sessions = CALENDAR.sessions_for_dates(pd.Timestamp("2024-11-25"), pd.Timestamp("2024-12-03"))
    plan = plan_load(CALENDAR, "1m", LoadMode.FULL, sessions, NOTHING, ib_limits("1m"))
    assert [s.duration for s in plan.segments] == [Duration(1, "D")] * len(sessions)
    black_friday = next(s for s in plan.segments if s.first_session == pd.Timestamp("2024-11-29"))
    assert black_friday.expected_bars == 210
    assert black_friday.end == pd.Timestamp("2024-11-29 18:00", tz="UTC")  # 13:00 New York


def test_a_complete_store_needs_no_request() -> None:
    sessions = YEAR_2024[:30]
    stored = CALENDAR.bar_starts(sessions, 60)
    for mode in LoadMode:
        plan = plan_load(CALENDAR, "1m", mode, sessions, stored, ib_limits("1m"))
        assert plan.segments == () and plan.stored_bars == plan.expected_bars


def test_modes_choose_their_side_of_the_stored_data() -> None:
    sessions = YEAR_2024[:20]
    keep = ["none"] * 3 + ["all"] * 4 + ["none"] * 2 + ["all"] * 5 + ["none"] * 6
    stored = stored_bars(sessions, "1h", keep)
    newest = sessions[13].date
    oldest = sessions[3].date

    def dates(mode: LoadMode) -> list[pd.Timestamp]:
        plan = plan_load(CALENDAR, "1h", mode, sessions, stored, ib_limits("1h"))
        return sorted(
            s.date
            for segment in plan.segments
            for s in CALENDAR.sessions_for_dates(segment.first_session, segment.last_session)
        )

    assert dates(LoadMode.LOCAL) == []
    assert dates(LoadMode.TAIL) == [s.date for s in sessions[14:]]
    assert all(d > newest for d in dates(LoadMode.TAIL))
    assert dates(LoadMode.BACKFILL) == [s.date for s in sessions[:3]]
    assert all(d < oldest for d in dates(LoadMode.BACKFILL))
    assert dates(LoadMode.FULL) == [
        s.date for s, how in zip(sessions, keep, strict=True) if how == "none"
    ]


def test_backfill_fetches_the_sessions_nearest_the_stored_data_first() -> None:
    sessions = YEAR_2024[:30]
    stored = CALENDAR.bar_starts(sessions[25:], 60)
    plan = plan_load(CALENDAR, "1m", LoadMode.BACKFILL, sessions, stored, ib_limits("1m"))
    assert plan.segments[0].first_session == sessions[24].date
    assert plan.segments[-1].first_session == sessions[0].date


def test_daily_bars_and_the_year_limit() -> None:
    sessions = CALENDAR.sessions_for_dates(pd.Timestamp("2020-01-02"), pd.Timestamp("2024-12-31"))
    plan = plan_load(CALENDAR, "1d", LoadMode.FULL, sessions, NOTHING, ib_limits("1d"))
    assert len(plan.segments) == 5  # one year per request
    for segment in plan.segments:
        assert not exceeds_step("1 day", segment.duration, segment.end)


@given(
    st.datetimes(min_value=pd.Timestamp("2001-01-01"), max_value=pd.Timestamp("2030-01-01")),
    st.integers(1, 400 * 86400 * 10**3),
)
def test_days_back_is_rounded_up_never_truncated(start, span_ms: int) -> None:
    start = pd.Timestamp(start, tz="UTC")
    end = start + pd.Timedelta(milliseconds=span_ms)
    duration = days_back(start, end)
    assert duration.unit == "D"
    assert duration.start_before(end) <= start
    assert Duration(duration.count - 1, "D").start_before(end) > start or duration.count == 1


def test_without_limits_each_run_of_missing_sessions_is_one_segment() -> None:
    # A local report's plan: the runs the store lacks, not the requests a source would need.
    sessions = YEAR_2024[:10]
    stored = stored_bars(sessions, "1m", ["none"] * 4 + ["all"] + ["none"] * 5)
    plan = plan_load(CALENDAR, "1m", LoadMode.FULL, sessions, stored)
    assert [(s.first_session, s.last_session) for s in plan.segments] == [
        (sessions[5].date, sessions[9].date),
        (sessions[0].date, sessions[3].date),
    ]
    assert (
        len(plan_load(CALENDAR, "1m", LoadMode.FULL, sessions, stored, ib_limits("1m")).segments)
        == 9
    )
