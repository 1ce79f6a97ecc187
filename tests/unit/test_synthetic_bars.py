"""Synthetic bars: a pure function of (symbol, bar size, bar start, seed), on the exchange
calendar's session minutes, OHLC consistent, and longer bars aggregating the minute bars."""

from __future__ import annotations

import itertools

import exchange_calendars
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ib.synthetic import DEFAULT_SEED, BarArrays, SyntheticMarket
from engine.ib.universe import UNIVERSE
from engine.market.calendar import calendar_for

SYMBOLS = sorted(UNIVERSE)
BAR_SECONDS = [60, 300, 900, 1800, 3600, 14400, 0]
COLUMNS = ("start", "open", "high", "low", "close", "volume", "wap", "count")
DAY_S = 86_400
FIRST_S = int(pd.Timestamp("2015-01-01", tz="UTC").timestamp())
LAST_S = int(pd.Timestamp("2025-12-15", tz="UTC").timestamp())
MAX_SPAN_S = 14 * DAY_S  # about ten sessions

# The calendar and market are built once; hypothesis must not time examples that load them.
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(calendar_for(), DEFAULT_SEED)


@pytest.fixture(scope="module")
def xnys() -> exchange_calendars.ExchangeCalendar:
    """exchange_calendars itself, as the independent reference for session minutes."""
    return exchange_calendars.get_calendar("XNYS", start="2000-01-01")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def at(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(seconds, unit="s", tz="UTC")


def assert_same_bars(actual: BarArrays, expected: BarArrays) -> None:
    assert len(actual) == len(expected)
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), err_msg=name)


def day_bars(market: SyntheticMarket, symbol: str, day: str, bar_seconds: int) -> BarArrays:
    start = utc(day)
    return market.bars(symbol, bar_seconds, start, start + pd.Timedelta(days=1))


def session_minutes(xnys, day: str) -> pd.DatetimeIndex:
    """Every minute of the session [open, close), from exchange_calendars directly."""
    open_, close = xnys.session_open(day), xnys.session_close(day)
    minutes = xnys.minutes_in_range(open_, close - pd.Timedelta(minutes=1))
    assert len(minutes) == (close - open_) // pd.Timedelta(minutes=1)
    return minutes


def epoch_s(index: pd.DatetimeIndex) -> np.ndarray:
    return index.as_unit("s").asi8


def assert_ohlc_consistent(bars: BarArrays) -> None:
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.low <= bars.high)
    assert np.all(bars.low > 0)
    assert np.all(bars.volume > 0)
    assert np.all(bars.count > 0)
    assert np.all((bars.wap >= bars.low) & (bars.wap <= bars.high))
    assert np.all(np.isfinite(bars.open) & np.isfinite(bars.close))


# -- any split of a span, in any order, gives the same bars ----------------------------------


@settings(PROPERTY, max_examples=80)
@given(
    symbol=st.sampled_from(SYMBOLS),
    bar_seconds=st.sampled_from(BAR_SECONDS),
    anywhere_s=st.integers(FIRST_S, LAST_S),
    anchored=st.booleans(),
    span_s=st.one_of(
        st.integers(1, MAX_SPAN_S),
        st.tuples(st.integers(0, 13), st.integers(1, DAY_S)).map(lambda t: t[0] * DAY_S + t[1]),
    ),
    data=st.data(),
)
def test_any_split_of_a_span_gives_the_same_bars(
    market: SyntheticMarket,
    symbol: str,
    bar_seconds: int,
    anywhere_s: int,
    anchored: bool,
    span_s: int,
    data,
) -> None:
    # Bars start every `step` seconds from the session open (daily bars: at the open).
    step = bar_seconds or DAY_S
    per_session = 390 * 60 // step
    start_s = anywhere_s
    if anchored:  # start on a bar start, or a few bars before or after the session
        session = market.calendar.first_session_on_or_after(at(anywhere_s).tz_localize(None))
        bar = data.draw(st.integers(-2, per_session + 2), label="bars after the open")
        start_s = session.open.value // 10**9 + step * bar
    start, end = at(start_s), at(start_s + span_s)
    whole = market.bars(symbol, bar_seconds, start, end)

    offsets = data.draw(
        st.lists(
            st.one_of(
                st.integers(1, max(1, span_s - 1)),
                # whole bars (and days) after the start: on bar starts when it is anchored
                st.tuples(st.integers(0, 13), st.integers(0, per_session)).map(
                    lambda t: t[0] * DAY_S + t[1] * step
                ),
            ),
            max_size=6,
        ),
        label="split offsets",
    )
    points = sorted({start_s + o for o in offsets if 0 < o < span_s})
    edges = [start_s, *points, start_s + span_s]
    spans = list(itertools.pairwise(edges))

    parts = [market.bars(symbol, bar_seconds, at(a), at(b)) for a, b in spans]
    assert_same_bars(BarArrays.concat(parts), whole)

    # Bars start strictly increasing and inside the span.
    assert np.all(np.diff(whole.start) > 0)
    if bar_seconds:
        assert np.all((whole.start >= start_s) & (whole.start < start_s + span_s))

    # The same sub-spans fetched in another order (warm and cold caches mixed), sorted by start.
    order = data.draw(st.permutations(range(len(spans))), label="fetch order")
    shuffled = BarArrays.concat(
        [market.bars(symbol, bar_seconds, at(spans[i][0]), at(spans[i][1])) for i in order]
    )
    assert_same_bars(shuffled.select(np.argsort(shuffled.start, kind="stable")), whole)


def test_a_split_inside_a_session_gives_the_same_daily_and_hourly_bars(market) -> None:
    # A concrete case alongside the property: a split at 11:47:13 ET on a Wednesday.
    start, middle, end = utc("2024-03-04"), utc("2024-03-06 16:47:13"), utc("2024-03-09")
    for bar_seconds in (0, 60, 3600):
        whole = market.bars("MSFT", bar_seconds, start, end)
        assert len(whole) > 0
        parts = [
            market.bars("MSFT", bar_seconds, middle, end),
            market.bars("MSFT", bar_seconds, start, middle),
        ]
        assert_same_bars(BarArrays.concat(parts[::-1]), whole)


near_a_second = st.integers(-(10**9), 10**9)


@PROPERTY
@given(
    symbol=st.sampled_from(SYMBOLS),
    bar_seconds=st.sampled_from([60, 300, 3600, 14400]),
    day=st.dates(pd.Timestamp("2015-01-01").date(), pd.Timestamp("2025-12-15").date()),
    start_minute=st.integers(-60, 400),
    start_offset_ns=st.one_of(near_a_second, st.integers(0, 60 * 10**9)),
    span_minutes=st.integers(0, 3 * 24 * 60),
    span_offset_ns=st.one_of(near_a_second, st.integers(0, 60 * 10**9)),
)
def test_intraday_bars_are_exactly_those_starting_in_the_half_open_span(
    market: SyntheticMarket,
    symbol: str,
    bar_seconds: int,
    day,
    start_minute: int,
    start_offset_ns: int,
    span_minutes: int,
    span_offset_ns: int,
) -> None:
    """`bars()` promises the bars whose start lies in [start, end): also for bounds that are
    not whole seconds. Bounds are drawn near session minutes, where bars start."""
    session = market.calendar.first_session_on_or_after(pd.Timestamp(day))
    start_ns = session.open.value + start_minute * 60 * 10**9 + start_offset_ns
    end_ns = start_ns + max(1, span_minutes * 60 * 10**9 + span_offset_ns)
    start = pd.Timestamp(start_ns, unit="ns", tz="UTC")
    end = pd.Timestamp(end_ns, unit="ns", tz="UTC")
    bars = market.bars(symbol, bar_seconds, start, end)
    starts_ns = bars.start.astype(np.int64) * 10**9
    assert np.all((starts_ns >= start_ns) & (starts_ns < end_ns))
    # Nothing missing: the same bars as a whole-day request filtered by the exact bounds.
    days = market.bars(
        symbol,
        bar_seconds,
        start.floor("D") - pd.Timedelta(days=1),
        end.ceil("D") + pd.Timedelta(days=1),
    )
    days_ns = days.start.astype(np.int64) * 10**9
    expected = days.select((days_ns >= start_ns) & (days_ns < end_ns))
    assert_same_bars(bars, expected)


def test_a_bound_half_a_second_past_a_bar_start_excludes_or_includes_it_correctly(
    market,
) -> None:
    open_ = utc("2024-03-05 14:30")
    half = pd.Timedelta(milliseconds=500)
    bars = market.bars("SPY", 60, open_ + half, open_ + pd.Timedelta(minutes=2) + half)
    # Bars start at 14:31 and 14:32: the 14:30 bar starts before `start`, the 14:32 bar
    # starts before `end`.
    assert pd.to_datetime(bars.start, unit="s", utc=True).tolist() == [
        utc("2024-03-05 14:31"),
        utc("2024-03-05 14:32"),
    ]


# -- determinism -----------------------------------------------------------------------------


def test_a_fresh_market_with_the_same_seed_gives_identical_bars(market) -> None:
    start, end = utc("2023-06-01"), utc("2023-06-15")
    for bar_seconds in (0, 60, 1800):
        warm = market.bars("NVDA", bar_seconds, start, end)
        # A new instance with empty caches, fetching in a different order.
        fresh = SyntheticMarket(calendar_for(), DEFAULT_SEED)
        fresh.bars("NVDA", 14400, start, end)
        assert_same_bars(fresh.bars("NVDA", bar_seconds, start, end), warm)


def test_a_different_seed_gives_different_prices(market) -> None:
    start, end = utc("2023-06-01"), utc("2023-06-15")
    other = SyntheticMarket(calendar_for(), DEFAULT_SEED + 1)
    for bar_seconds in (0, 60):
        ours = market.bars("NVDA", bar_seconds, start, end)
        theirs = other.bars("NVDA", bar_seconds, start, end)
        # Same calendar, so the same bar starts; but the prices differ.
        np.testing.assert_array_equal(theirs.start, ours.start)
        assert not np.array_equal(theirs.close, ours.close)
        assert np.mean(theirs.close != ours.close) > 0.5


def test_returned_arrays_are_copies_so_callers_cannot_corrupt_the_cache(market) -> None:
    start, end = utc("2022-02-01"), utc("2022-02-03")
    first = market.bars("IBM", 60, start, end)
    before = first.close.copy()
    first.close[:] = -1.0
    first.start[:] = 0
    again = market.bars("IBM", 60, start, end)
    np.testing.assert_array_equal(again.close, before)
    assert again.start[0] == int(utc("2022-02-01 14:30").timestamp())


# -- bars exist exactly at the session minutes ----------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        "2024-03-05",  # a normal Tuesday
        "2024-07-03",  # early close, 13:00 ET
        "2024-11-29",  # early close, day after Thanksgiving
        "2024-11-04",  # a normal day after the end of daylight saving time
    ],
)
def test_minute_bars_are_exactly_the_session_minutes(market, xnys, day: str) -> None:
    expected = session_minutes(xnys, day)
    bars = day_bars(market, "AAPL", day, 60)
    np.testing.assert_array_equal(bars.start, epoch_s(expected))


def test_early_close_sessions_are_short_and_normal_sessions_are_390_minutes(market) -> None:
    assert len(day_bars(market, "AAPL", "2024-03-05", 60)) == 390
    assert len(day_bars(market, "AAPL", "2024-11-29", 60)) == 210
    assert len(day_bars(market, "AAPL", "2024-07-03", 60)) == 210
    last = day_bars(market, "AAPL", "2024-11-29", 60).start[-1]
    assert at(int(last)) == utc("2024-11-29 17:59")  # 12:59 ET: the market closes at 13:00


@pytest.mark.parametrize("day", ["2024-12-25", "2024-01-06", "2024-01-07", "2024-07-04"])
@pytest.mark.parametrize("bar_seconds", BAR_SECONDS)
def test_no_bars_on_weekends_and_holidays(market, day: str, bar_seconds: int) -> None:
    assert len(day_bars(market, "SPY", day, bar_seconds)) == 0


def test_a_week_across_a_holiday_has_bars_on_the_sessions_only(market, xnys) -> None:
    start, end = utc("2024-12-23"), utc("2024-12-28")
    sessions = xnys.sessions_in_range("2024-12-23", "2024-12-27")
    daily = market.bars("QQQ", 0, start, end)
    np.testing.assert_array_equal(daily.start, epoch_s(sessions.tz_localize("UTC")))
    minutes = market.bars("QQQ", 60, start, end)
    expected = np.concatenate([epoch_s(session_minutes(xnys, s)) for s in sessions])
    np.testing.assert_array_equal(minutes.start, expected)
    assert len(minutes) == 390 * 3 + 210  # 24 Dec closes at 13:00, 25 Dec is a holiday


# -- OHLC consistency ------------------------------------------------------------------------


@PROPERTY
@given(
    symbol=st.sampled_from(SYMBOLS),
    day=st.dates(pd.Timestamp("2015-01-01").date(), pd.Timestamp("2025-12-31").date()),
    bar_seconds=st.sampled_from(BAR_SECONDS),
    seed=st.one_of(st.just(DEFAULT_SEED), st.integers(0, 2**32 - 1)),
)
def test_every_bar_is_ohlc_consistent(market, symbol, day, bar_seconds, seed) -> None:
    subject = market if seed == DEFAULT_SEED else SyntheticMarket(calendar_for(), seed)
    start = pd.Timestamp(day, tz="UTC")
    bars = subject.bars(symbol, bar_seconds, start, start + pd.Timedelta(days=3))
    assert_ohlc_consistent(bars)


@pytest.mark.slow
def test_whole_history_of_the_cheapest_stock_is_ohlc_consistent(market) -> None:
    # NVDA starts at $0.40: prices near a cent stress the rounding and the 0.01 floor.
    daily = market.bars("NVDA", 0, utc("2000-01-01"), utc("2026-01-01"))
    assert len(daily) > 6000
    assert_ohlc_consistent(daily)
    assert_ohlc_consistent(market.bars("NVDA", 60, utc("2000-01-03"), utc("2000-01-15")))


# -- longer bars aggregate the minutes -------------------------------------------------------


def aggregate(minutes: BarArrays) -> dict[str, float]:
    return {
        "open": minutes.open[0],
        "high": minutes.high.max(),
        "low": minutes.low.min(),
        "close": minutes.close[-1],
        "volume": minutes.volume.sum(),
        "count": minutes.count.sum(),
        "wap": float(np.sum(minutes.wap * minutes.volume) / minutes.volume.sum()),
    }


def assert_bar_aggregates(bars: BarArrays, i: int, minutes: BarArrays) -> None:
    expected = aggregate(minutes)
    for name in ("open", "high", "low", "close", "volume", "count"):
        assert getattr(bars, name)[i] == expected[name], name
    assert bars.wap[i] == pytest.approx(expected["wap"], abs=1e-4)


@pytest.mark.parametrize("day", ["2024-03-05", "2024-11-29", "2016-02-29"])
@pytest.mark.parametrize("symbol", ["AAPL", "TSLA", "META"])
def test_the_daily_bar_aggregates_the_sessions_minutes(market, symbol: str, day: str) -> None:
    daily = day_bars(market, symbol, day, 0)
    minutes = day_bars(market, symbol, day, 60)
    assert len(daily) == 1
    assert daily.start[0] == int(utc(day).timestamp())  # labelled with the session date
    assert_bar_aggregates(daily, 0, minutes)


@PROPERTY
@given(
    symbol=st.sampled_from(SYMBOLS),
    day=st.dates(pd.Timestamp("2015-01-01").date(), pd.Timestamp("2025-12-31").date()),
    bar_seconds=st.sampled_from([0, 300, 900, 1800, 3600, 14400]),
)
def test_every_longer_bar_aggregates_its_minutes(market, symbol, day, bar_seconds) -> None:
    start = pd.Timestamp(day, tz="UTC")
    end = start + pd.Timedelta(days=1)
    bars = market.bars(symbol, bar_seconds, start, end)
    minutes = market.bars(symbol, 60, start, end)
    if bar_seconds == 0:
        assert len(bars) == (1 if len(minutes) else 0)
        if len(bars):
            assert_bar_aggregates(bars, 0, minutes)
        return
    assert len(bars) == -(-len(minutes) // (bar_seconds // 60))  # the last bar may be short
    for i, bar_start in enumerate(bars.start):
        inside = (minutes.start >= bar_start) & (minutes.start < bar_start + bar_seconds)
        assert inside.any()
        assert_bar_aggregates(bars, i, minutes.select(inside))


def test_hourly_bars_are_aligned_to_the_session_open(market) -> None:
    bars = day_bars(market, "AAPL", "2024-03-05", 3600)
    local = pd.to_datetime(bars.start, unit="s", utc=True).tz_convert("America/New_York")
    assert [t.strftime("%H:%M") for t in local] == [
        "09:30",
        "10:30",
        "11:30",
        "12:30",
        "13:30",
        "14:30",
        "15:30",
    ]
    minutes = day_bars(market, "AAPL", "2024-03-05", 60)
    for i in range(len(bars)):
        assert_bar_aggregates(bars, i, minutes.select(np.arange(len(minutes)) // 60 == i))
    # The 15:30 bar holds the last 30 minutes of the session only.
    assert bars.close[-1] == minutes.close[-1]


def test_four_hour_bars_start_at_the_open_and_at_13_30(market) -> None:
    bars = day_bars(market, "SPY", "2024-03-05", 14400)
    local = pd.to_datetime(bars.start, unit="s", utc=True).tz_convert("America/New_York")
    assert [t.strftime("%H:%M") for t in local] == ["09:30", "13:30"]


@pytest.mark.parametrize("day", ["2024-11-29", "2024-07-03"])
def test_the_last_bar_of_an_early_close_is_cut_at_the_close(market, day: str) -> None:
    hourly = day_bars(market, "MSFT", day, 3600)
    minutes = day_bars(market, "MSFT", day, 60)
    local = pd.to_datetime(hourly.start, unit="s", utc=True).tz_convert("America/New_York")
    assert [t.strftime("%H:%M") for t in local] == ["09:30", "10:30", "11:30", "12:30"]
    # 12:30-13:00: thirty minutes, ending with the session's last minute.
    last_half_hour = minutes.select(np.arange(len(minutes)) >= 180)
    assert len(last_half_hour) == 30
    assert_bar_aggregates(hourly, 3, last_half_hour)
    four_hour = day_bars(market, "MSFT", day, 14400)
    assert len(four_hour) == 1
    assert_bar_aggregates(four_hour, 0, minutes)
    daily = day_bars(market, "MSFT", day, 0)
    assert daily.close[0] == hourly.close[-1] == minutes.close[-1]


# -- the instrument's history ----------------------------------------------------------------


@pytest.mark.parametrize("bar_seconds", [0, 60, 3600])
def test_no_bars_before_the_instruments_first_date(market, bar_seconds: int) -> None:
    bars = market.bars("META", bar_seconds, utc("2012-05-01"), utc("2012-05-26"))
    first = int(utc("2012-05-18").timestamp())
    assert len(bars) > 0
    assert bars.start.min() >= first
    # ... and bars from the first session on.
    assert bars.start.min() < first + DAY_S
    assert len(market.bars("META", bar_seconds, utc("2011-01-01"), utc("2012-05-18"))) == 0


def test_first_session_is_the_head_timestamp_session(market) -> None:
    assert market.first_session(UNIVERSE["META"]).date == pd.Timestamp("2012-05-18")
    assert market.first_session(UNIVERSE["TSLA"]).date == pd.Timestamp("2010-06-29")
    # Older than the calendar: clamped to the calendar's first session.
    assert market.first_session(UNIVERSE["IBM"]).date == pd.Timestamp("2000-01-03")


# -- volume ----------------------------------------------------------------------------------


def test_intraday_volume_is_u_shaped(market) -> None:
    days = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    for symbol in ("AAPL", "IBM"):
        edges, midday = [], []
        for day in days:
            volume = day_bars(market, symbol, day, 60).volume
            assert len(volume) == 390
            edges.extend([*volume[:30], *volume[-30:]])
            midday.extend(volume[165:225])  # 12:15-13:15 ET
        assert np.mean(edges) > 1.5 * np.mean(midday)


def test_daily_volume_is_near_the_instruments_typical_volume(market) -> None:
    daily = market.bars("SPY", 0, utc("2024-01-01"), utc("2024-07-01"))
    typical = UNIVERSE["SPY"].daily_volume
    assert 0.8 * typical < np.median(daily.volume) < 1.25 * typical
