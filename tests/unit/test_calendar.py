"""The trading calendar: sessions, early closes, bar starts and gap classification, checked on
dates whose answer is known (NYSE 2024) and against exchange_calendars itself."""

from __future__ import annotations

import math

import exchange_calendars
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.market.calendar import Session, TradingCalendar, calendar_for
from engine.market.exchange import EXCHANGE_TZ
from engine.market.timeframes import TIMEFRAME_SECONDS, TIMEFRAMES

NYSE = calendar_for()
INTRADAY = [tf for tf in TIMEFRAMES if TIMEFRAME_SECONDS[tf]]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def new_york(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York").tz_convert("UTC")


def session(date: str, calendar: TradingCalendar = NYSE) -> Session:
    found = calendar.session_for_date(pd.Timestamp(date))
    assert found is not None, f"{date} is no session"
    return found


def dates(sessions: list[Session]) -> list[str]:
    return [f"{s.date:%Y-%m-%d}" for s in sessions]


# --- sessions --------------------------------------------------------------------------------


def test_calendar_for_builds_one_calendar_per_exchange() -> None:
    assert calendar_for("XNYS") is calendar_for("XNYS")
    assert calendar_for("XLON") is not calendar_for("XNYS")
    assert NYSE.exchange == "XNYS"
    assert NYSE.timezone == "America/New_York"
    assert calendar_for("XLON").timezone == "Europe/London"


def test_calendar_for_default_is_the_same_calendar() -> None:
    assert calendar_for() is calendar_for("XNYS")


def session_dates(first: str, last: str) -> list[str]:
    return dates(NYSE.sessions_for_dates(pd.Timestamp(first), pd.Timestamp(last)))


def test_sessions_for_dates_is_inclusive_and_skips_weekends_and_holidays() -> None:
    # 2024-01-15 is Martin Luther King Jr. Day; 13 and 14 a weekend.
    assert session_dates("2024-01-12", "2024-01-16") == ["2024-01-12", "2024-01-16"]
    # 2024-03-29 is Good Friday.
    assert session_dates("2024-03-27", "2024-04-02") == [
        "2024-03-27",
        "2024-03-28",
        "2024-04-01",
        "2024-04-02",
    ]
    assert session_dates("2024-01-02", "2024-01-02") == ["2024-01-02"]
    assert session_dates("2024-03-29", "2024-03-31") == []


def test_sessions_for_dates_numbers_sessions_consecutively() -> None:
    sessions = NYSE.sessions_for_dates(pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31"))
    assert len(sessions) == 252  # NYSE traded 252 sessions in 2024
    ordinals = [s.ordinal for s in sessions]
    assert ordinals == list(range(ordinals[0], ordinals[0] + len(sessions)))
    assert all(NYSE.session_at(s.ordinal) == s for s in sessions[:5])


def test_sessions_between_is_half_open_on_trading_hours() -> None:
    # From Friday afternoon to Tuesday morning over the MLK weekend.
    sessions = NYSE.sessions_between(utc("2024-01-12 20:00"), utc("2024-01-16 15:00"))
    assert dates(sessions) == ["2024-01-12", "2024-01-16"]
    # Starting at a close or ending at an open touches no trading minute of that session.
    friday = session("2024-01-12")
    tuesday = session("2024-01-16")
    assert NYSE.sessions_between(friday.close, tuesday.open) == []
    assert dates(NYSE.sessions_between(friday.close - pd.Timedelta(1, "ns"), tuesday.open)) == [
        "2024-01-12"
    ]


def test_sessions_carry_utc_open_and_close_across_daylight_saving() -> None:
    winter, summer = session("2024-01-02"), session("2024-07-01")
    assert (winter.open, winter.close) == (utc("2024-01-02 14:30"), utc("2024-01-02 21:00"))
    assert (summer.open, summer.close) == (utc("2024-07-01 13:30"), utc("2024-07-01 20:00"))
    assert NYSE.session_for_date(pd.Timestamp("2024-01-15")) is None
    assert NYSE.first_session_on_or_after(pd.Timestamp("2024-01-13")).date == pd.Timestamp(
        "2024-01-16"
    )


@pytest.mark.parametrize(
    ("date", "minutes", "early"),
    [
        ("2024-01-02", 390, False),
        ("2024-07-01", 390, False),
        ("2024-07-03", 210, True),  # Independence Day eve: 13:00 close
        ("2024-11-29", 210, True),  # the day after Thanksgiving
        ("2024-12-24", 210, True),
    ],
)
def test_session_minutes_and_early_closes(date: str, minutes: int, early: bool) -> None:
    found = session(date)
    assert found.minutes == minutes
    if early:
        assert found.close == new_york(f"{date} 13:00")


# --- bar starts ------------------------------------------------------------------------------

NORMAL_COUNTS = {"1m": 390, "5m": 78, "15m": 26, "30m": 13, "1h": 7, "4h": 2, "1d": 1}
EARLY_COUNTS = {"1m": 210, "5m": 42, "15m": 14, "30m": 7, "1h": 4, "4h": 1, "1d": 1}


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_bar_starts_per_session(timeframe: str) -> None:
    seconds = TIMEFRAME_SECONDS[timeframe]
    normal, early = session("2024-01-02"), session("2024-11-29")
    assert len(NYSE.bar_starts([normal], seconds)) == NORMAL_COUNTS[timeframe]
    assert len(NYSE.bar_starts([early], seconds)) == EARLY_COUNTS[timeframe]
    both = NYSE.bar_starts([normal, early], seconds)
    assert len(both) == NORMAL_COUNTS[timeframe] + EARLY_COUNTS[timeframe]
    assert str(both.tz) == "UTC"


@pytest.mark.parametrize("timeframe", INTRADAY)
def test_intraday_bars_step_from_the_open_and_the_last_one_is_cut_by_the_close(
    timeframe: str,
) -> None:
    seconds = TIMEFRAME_SECONDS[timeframe]
    for found in (session("2024-01-02"), session("2024-11-29")):
        starts = NYSE.bar_starts([found], seconds)
        assert starts[0] == found.open
        assert (np.diff(starts.asi8) == seconds * 10**9).all()
        assert starts[-1] < found.close <= starts[-1] + pd.Timedelta(seconds=seconds)


def test_hourly_bars_sit_at_half_past_in_new_york() -> None:
    starts = NYSE.bar_starts([session("2024-07-01")], 3600).tz_convert("America/New_York")
    assert [f"{t:%H:%M}" for t in starts] == [
        "09:30",
        "10:30",
        "11:30",
        "12:30",
        "13:30",
        "14:30",
        "15:30",
    ]


def test_daily_bars_sit_at_the_session_midnight_utc() -> None:
    sessions = NYSE.sessions_for_dates(pd.Timestamp("2024-01-12"), pd.Timestamp("2024-01-17"))
    starts = NYSE.bar_starts(sessions, 0)
    assert list(starts) == [utc("2024-01-12"), utc("2024-01-16"), utc("2024-01-17")]


def test_bar_starts_of_no_sessions_is_empty() -> None:
    assert len(NYSE.bar_starts([], 60)) == 0
    assert len(NYSE.bar_starts([], 0)) == 0


@settings(max_examples=60, deadline=None)
@given(
    exchange=st.sampled_from(["XNYS", "XLON"]),
    first=st.integers(min_value=0, max_value=6000),
    count=st.integers(min_value=1, max_value=12),
    timeframe=st.sampled_from(INTRADAY),
)
def test_bar_starts_property(exchange: str, first: int, count: int, timeframe: str) -> None:
    calendar = calendar_for(exchange)
    seconds = TIMEFRAME_SECONDS[timeframe]
    sessions = [calendar.session_at(first + i) for i in range(count)]
    starts = calendar.bar_starts(sessions, seconds).asi8
    assert (np.diff(starts) > 0).all()  # sorted and unique
    opens = np.array([s.open.value for s in sessions])
    closes = np.array([s.close.value for s in sessions])
    which = np.searchsorted(opens, starts, side="right") - 1
    assert (which >= 0).all()
    assert (starts < closes[which]).all()
    assert len(starts) == sum(math.ceil(s.minutes * 60 / seconds) for s in sessions)


# --- what bars cover --------------------------------------------------------------------------


def test_exchange_tz_is_the_default_calendars_zone() -> None:
    assert NYSE.timezone == EXCHANGE_TZ


@pytest.mark.parametrize("timeframe", ["1m", "1h", "1d"])
def test_sessions_of_bars_are_those_of_the_first_and_last_bar(timeframe: str) -> None:
    seconds = TIMEFRAME_SECONDS[timeframe]
    week = NYSE.sessions_for_dates(pd.Timestamp("2024-01-08"), pd.Timestamp("2024-01-12"))
    starts = NYSE.bar_starts(week[1:4], seconds)
    assert NYSE.sessions_of_bars(seconds, starts[0], starts[-1]) == week[1:4]


def test_sessions_of_bars_outside_hours_take_the_nearest_session_inside() -> None:
    # 08:00 New York before Tuesday's open, 18:00 after Wednesday's close.
    found = NYSE.sessions_of_bars(60, utc("2024-01-09 13:00"), utc("2024-01-10 23:00"))
    assert dates(found) == ["2024-01-09", "2024-01-10"]


def test_expected_and_stored_per_session_count_each_sessions_bars() -> None:
    two = NYSE.sessions_for_dates(pd.Timestamp("2024-07-02"), pd.Timestamp("2024-07-03"))
    assert NYSE.expected_per_session(two, 300) == [78, 42]  # the 3rd closes at 13:00
    assert NYSE.expected_per_session(two, 0) == [1, 1]
    starts = NYSE.bar_starts(two, 300)
    held = starts[70:100]  # the first session's last 8 and the second's first 22
    assert list(NYSE.stored_per_session(two, 300, held)) == [8, 22]


# --- other exchanges -------------------------------------------------------------------------


def test_london_works_through_the_same_api() -> None:
    london = calendar_for("XLON")
    week = london.sessions_for_dates(pd.Timestamp("2024-12-23"), pd.Timestamp("2024-12-31"))
    # Christmas Day and Boxing Day closed; Christmas Eve and New Year's Eve close at 12:30.
    assert dates(week) == ["2024-12-23", "2024-12-24", "2024-12-27", "2024-12-30", "2024-12-31"]
    assert [s.minutes for s in week] == [510, 270, 510, 510, 270]
    assert week[0].open == utc("2024-12-23 08:00")
    summer = session("2024-07-01", london)
    assert (summer.open, summer.close) == (utc("2024-07-01 07:00"), utc("2024-07-01 15:30"))
    assert len(london.bar_starts([week[0]], 60)) == 510
    assert len(london.bar_starts(week, 3600)) == 9 + 5 + 9 + 9 + 5
    # Easter Monday: London closed, New York open.
    assert london.session_for_date(pd.Timestamp("2024-04-01")) is None
    assert NYSE.session_for_date(pd.Timestamp("2024-04-01")) is not None


@pytest.mark.parametrize("exchange", ["XNYS", "XLON"])
def test_sessions_are_exchange_calendars_sessions(exchange: str) -> None:
    """The holidays come from exchange_calendars, not from a list of our own."""
    reference = exchange_calendars.get_calendar(exchange)
    ours = calendar_for(exchange).sessions_for_dates(
        pd.Timestamp("2023-01-01"), pd.Timestamp("2024-12-31")
    )
    expected = reference.sessions_in_range("2023-01-01", "2024-12-31")
    assert [s.date for s in ours] == list(expected)
    assert [s.close for s in ours] == list(reference.closes[expected])
