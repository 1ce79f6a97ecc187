"""Historical context (engine/session/history.py): each day's previous close, average volumes,
high and low equal a plain pandas computation over the exchange sessions before the day, read
from the store before the run and from the run's own bars after; nothing of the day itself or
later changes it; a history with holes is incomplete, with a reason, never an error."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import Session, calendar_for
from engine.market.schema import bars_frame
from engine.market.store import BarStore
from engine.market.timeframes import TIMEFRAME_SECONDS
from engine.session.bars import NS, SessionBars, read_session_bars
from engine.session.history import SessionHistory, read_history
from engine.strategy.context import DayContext, HistoryNeeds
from tests.support.bar_fixtures import FIRST, LAST, store_bars

CALENDAR = calendar_for()
# 20 sessions with the early close of Friday 2023-11-24 (13:00) among them.
SPAN = CALENDAR.sessions_for_dates(pd.Timestamp("2023-11-13"), pd.Timestamp("2023-12-08"))


def synthetic(timeframe: str, sessions: list[Session]) -> pd.DataFrame:
    """The simulated gateway's bars of `sessions`, as the store holds them."""
    bars = SyntheticMarket(CALENDAR).bars(
        "AAPL", TIMEFRAME_SECONDS[timeframe], sessions[0].open, sessions[-1].close
    )
    columns = {name: getattr(bars, name) for name in ("open", "high", "low", "close", "volume")}
    return bars_frame(pd.DatetimeIndex(bars.start * NS, tz="UTC"), columns)


def history_of(
    data: Path, frame: pd.DataFrame, timeframe: str, run: list[Session], needs: HistoryNeeds
) -> tuple[SessionBars, SessionHistory]:
    """`frame` stored, and the history of the run of sessions `run` read back."""
    store = BarStore(data, CALENDAR)
    if len(frame):
        store.merge("AAPL", timeframe, frame)
    bars = read_session_bars(store, CALENDAR, "AAPL", timeframe, run[0].date, run[-1].date)
    return bars, read_history(store, CALENDAR, bars, needs)


# -- the reference: pandas over the sessions before each day -----------------------------------


def session_labels(frame: pd.DataFrame, timeframe: str) -> pd.Series:
    """Each bar's session date, the exchange's way: its local date (daily bars: their label)."""
    stamps = frame["timestamp"]
    if TIMEFRAME_SECONDS[timeframe] == 0:
        return stamps.dt.tz_localize(None)
    return stamps.dt.tz_convert(CALENDAR.timezone).dt.normalize().dt.tz_localize(None)


def reference(frame: pd.DataFrame, timeframe: str, day: Session, needs: HistoryNeeds) -> dict:
    """`day`'s context computed straight from its definition."""
    frame = frame.assign(label=session_labels(frame, timeframe))
    daily = frame.groupby("label").agg(
        volume=("volume", "sum"), high=("high", "max"), low=("low", "min"), close=("close", "last")
    )

    def before(count: int) -> list[Session]:
        return [CALENDAR.session_at(i) for i in range(max(0, day.ordinal - count), day.ordinal)]

    recent = before(needs.days)
    prior = daily.reindex([s.date for s in recent])
    closes = prior["close"].dropna()
    extremes = daily.reindex([s.date for s in before(needs.extremes)])
    held = int(daily.index.isin([s.date for s in before(needs.sessions)]).sum())

    # Volume per bar slot from the open: a slot without a bar is 0 while the session is open.
    seconds = TIMEFRAME_SECONDS[timeframe]
    opens = {s.date: s.open for s in recent}
    inside = frame[frame["label"].isin(list(opens))]
    if seconds:
        since_open = inside["timestamp"] - inside["label"].map(opens)
        slot = since_open // pd.Timedelta(seconds=seconds)
    else:
        slot = pd.Series(0, index=inside.index)
    table = inside.assign(slot=slot).pivot_table(
        index="label", columns="slot", values="volume", aggfunc="sum"
    )
    expected = dict(zip(opens, CALENDAR.expected_per_session(recent, seconds), strict=True))
    slots = max(expected.values(), default=1)
    volumes = table.reindex(columns=range(slots)).to_numpy(copy=True)
    for row, label in enumerate(table.index):
        open_slots = volumes[row, : expected[label]]
        open_slots[np.isnan(open_slots)] = 0.0
    return {
        "previous_close": closes.iloc[-1] if len(closes) else math.nan,
        "avg_volume": prior["volume"].mean(),
        "avg_volume_by_minute": pd.DataFrame(volumes).mean(axis=0).to_numpy(),
        "high": extremes["high"].max(),
        "low": extremes["low"].min(),
        "sessions": held,
        "complete": held == needs.sessions,
    }


def assert_matches(context: DayContext, expected: dict) -> None:
    for name in ("previous_close", "avg_volume", "high", "low"):
        np.testing.assert_allclose(getattr(context, name), expected[name], err_msg=name)
    by_minute = context.avg_volume_by_minute
    wanted = expected["avg_volume_by_minute"]
    # The context's array covers the longest session of the run; slots past the window's are NaN.
    assert len(by_minute) >= len(wanted)
    np.testing.assert_allclose(by_minute[: len(wanted)], wanted, err_msg="by minute")
    assert np.isnan(by_minute[len(wanted) :]).all()
    assert (context.sessions, context.complete) == (expected["sessions"], expected["complete"])


def same_context(one: DayContext, other: DayContext) -> bool:
    """Equal to the bit, NaN equal to NaN."""

    def values(context: DayContext) -> np.ndarray:
        scalars = [context.previous_close, context.avg_volume, context.high, context.low]
        return np.concatenate([scalars, context.avg_volume_by_minute])

    same_counts = (one.date, one.sessions, one.complete) == (
        other.date,
        other.sessions,
        other.complete,
    )
    return same_counts and np.array_equal(values(one), values(other), equal_nan=True)


# -- equal to pandas ---------------------------------------------------------------------------


@st.composite
def stored_bars(draw: st.DrawFn) -> tuple[str, pd.DataFrame, int, HistoryNeeds]:
    """Bars of SPAN with whole sessions and random bars left out and random volumes, where
    the run starts, and what the strategy needs."""
    timeframe = draw(st.sampled_from(["1m", "5m", "1d"]))
    frame = synthetic(timeframe, SPAN)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frame["volume"] = rng.integers(0, 5_000, len(frame)).astype(float)
    labels = session_labels(frame, timeframe)
    dropped = draw(st.sets(st.sampled_from([s.date for s in SPAN]), max_size=6))
    keep = ~labels.isin(dropped) & (rng.random(len(frame)) >= draw(st.sampled_from([0, 0.1, 0.7])))
    start = draw(st.integers(0, len(SPAN) - 1))
    days = draw(st.integers(1, 6))
    needs = HistoryNeeds(days, draw(st.sampled_from([0, 1, days, 12])))
    return timeframe, frame[keep.to_numpy()].reset_index(drop=True), start, needs


@settings(max_examples=40, deadline=None)
@given(stored_bars())
def test_every_day_equals_pandas_over_the_sessions_before_it(case) -> None:
    timeframe, frame, start, needs = case
    run = SPAN[start:]
    with tempfile.TemporaryDirectory() as data:
        _, history = history_of(Path(data), frame, timeframe, run, needs)
    assert len(history) == len(run)
    for index, day in enumerate(run):
        context = history.context(index)
        assert context.date == day.date.date()
        assert_matches(context, reference(frame, timeframe, day, needs))
        assert history.complete[index] == context.complete


def test_the_52_week_high_and_low_cover_the_252_sessions_before_the_day(tmp_path: Path) -> None:
    """Daily bars from 2023-02-01; the run starts 2024-03-04, whose 252 sessions before are
    2023-03-02 .. 2024-03-01. Extremes planted on the window's edges count; one just outside
    (2023-03-01) does not, and leaves the window's first day the day after."""
    run = CALENDAR.sessions_for_dates(pd.Timestamp(FIRST), pd.Timestamp(LAST))
    stored = CALENDAR.sessions_for_dates(pd.Timestamp("2023-02-01"), pd.Timestamp(LAST))
    frame = synthetic("1d", stored)
    day = frame["timestamp"].dt.strftime("%Y-%m-%d")
    frame.loc[day == "2023-03-01", "high"] = 9_000.0  # 253 sessions before: outside
    frame.loc[day == "2023-03-02", "high"] = 8_000.0  # 252 before: the window's first
    frame.loc[day == "2024-03-01", "low"] = 1.0  # the session before
    frame.loc[day == "2024-03-04", "high"] = 10_000.0  # the day itself: never its own context
    needs = HistoryNeeds(days=20, extremes_days=252)
    _, history = history_of(tmp_path, frame, "1d", run, needs)

    first, second = history.context(0), history.context(1)
    assert (first.high, first.low, first.sessions, first.complete) == (8_000.0, 1.0, 252, True)
    assert history.missing_reason(0) == ""
    # 2024-03-05: the window starts 2023-03-03 and now holds 2024-03-04.
    assert (second.high, second.low) == (10_000.0, 1.0)
    assert first.previous_close == frame.loc[day == "2024-03-01", "close"].item()
    for index, session in enumerate(run):
        assert_matches(history.context(index), reference(frame, "1d", session, needs))


# -- no look-ahead -----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    today=st.integers(0, len(SPAN) - 10),  # the run's days but its last
    scale=st.floats(0.5, 2.0),
    drop_every=st.integers(1, 7),
)
def test_a_days_own_bars_and_later_ones_change_nothing_in_its_context(
    today: int, scale: float, drop_every: int
) -> None:
    """Every stored bar of `today` and after scaled, and some left out: the contexts of the
    days up to `today` are the same to the bit; the next day's is not."""
    run = SPAN[8:]  # eight sessions before the run come from the store
    frame = synthetic("1m", SPAN)
    needs = HistoryNeeds(days=3, extremes_days=10)
    changed = frame.copy()
    later = (frame["timestamp"] >= run[today].open).to_numpy()
    changed.loc[later, ["open", "high", "low", "close", "volume"]] *= scale
    changed.loc[later, "high"] += 1.0  # a new high even at scale 1
    keep = ~later | (np.arange(len(frame)) % drop_every != 0)
    changed = changed[keep].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as other:
        _, before = history_of(Path(one), frame, "1m", run, needs)
        _, after = history_of(Path(other), changed, "1m", run, needs)
    for index in range(today + 1):
        assert same_context(before.context(index), after.context(index))
    assert not same_context(before.context(today + 1), after.context(today + 1))


# -- missing history ---------------------------------------------------------------------------


def test_nothing_stored_before_the_run_gives_incomplete_contexts_not_an_error(
    tmp_path: Path,
) -> None:
    """The store holds only the run (2024-03-04 .. 15): the first day has no history at all,
    later ones what the run's earlier days give."""
    store_bars(tmp_path)
    run = CALENDAR.sessions_for_dates(pd.Timestamp(FIRST), pd.Timestamp(LAST))
    bars, history = history_of(tmp_path, pd.DataFrame(), "1m", run, HistoryNeeds(days=5))

    first = history.context(0)
    assert (first.sessions, first.complete) == (0, False)
    assert all(np.isnan([first.previous_close, first.avg_volume, first.high, first.low]))
    assert np.isnan(first.avg_volume_by_minute).all()
    assert history.missing_reason(0) == "history: 0 of 5 sessions before 2024-03-04"
    assert history.missing_reason(3) == "history: 3 of 5 sessions before 2024-03-07"
    assert history.complete.tolist() == [False] * 5 + [True] * 5
    assert history.missing_reason(5) == ""
    # 2024-03-05's previous close is 2024-03-04's last close.
    assert history.context(1).previous_close == bars.close[bars.session == 0][-1]


def test_a_symbol_never_stored_has_no_history_anywhere(tmp_path: Path) -> None:
    run = CALENDAR.sessions_for_dates(pd.Timestamp(FIRST), pd.Timestamp(LAST))
    _, history = history_of(tmp_path, pd.DataFrame(), "1m", run, HistoryNeeds(days=3))
    assert not history.complete.any()
    assert [history.context(i).sessions for i in range(len(run))] == [0] * len(run)
    assert history.missing_reason(9) == "history: 0 of 3 sessions before 2024-03-15"


def test_a_session_with_nothing_stored_is_left_out_of_the_averages(tmp_path: Path) -> None:
    """2024-03-06 has no bars: 2024-03-07's 2-day window holds only 2024-03-05."""
    store_bars(tmp_path, drop=slice(2 * 390, 3 * 390))
    run = CALENDAR.sessions_for_dates(pd.Timestamp(FIRST), pd.Timestamp(LAST))
    bars, history = history_of(tmp_path, pd.DataFrame(), "1m", run, HistoryNeeds(days=2))
    day = history.context(3)
    fifth = bars.session == 1
    assert (day.sessions, day.complete) == (1, False)
    assert day.avg_volume == bars.volume[fifth].sum()
    assert day.previous_close == bars.close[fifth][-1]
    np.testing.assert_array_equal(day.avg_volume_by_minute, bars.volume[fifth])
    assert history.missing_reason(3) == "history: 1 of 2 sessions before 2024-03-07"


def test_a_run_before_the_calendars_first_session_has_a_short_window(tmp_path: Path) -> None:
    run = CALENDAR.sessions_for_dates(pd.Timestamp("2000-01-03"), pd.Timestamp("2000-01-05"))
    _, history = history_of(tmp_path, pd.DataFrame(), "1m", run, HistoryNeeds(days=4))
    assert history.missing_reason(0) == "history: 0 of 4 sessions before 2000-01-03"


def test_an_empty_run_has_no_contexts(tmp_path: Path) -> None:
    store = BarStore(tmp_path, CALENDAR)
    weekend = read_session_bars(
        store, CALENDAR, "AAPL", "1m", pd.Timestamp("2024-03-09"), pd.Timestamp("2024-03-10")
    )
    history = read_history(store, CALENDAR, weekend, HistoryNeeds())
    assert len(history) == 0 and len(history.complete) == 0


# -- finding a bar's day -----------------------------------------------------------------------


def test_a_bar_finds_its_days_context_and_one_outside_the_run_is_an_error(tmp_path: Path) -> None:
    store_bars(tmp_path)
    run = CALENDAR.sessions_for_dates(pd.Timestamp(FIRST), pd.Timestamp(LAST))
    bars, history = history_of(tmp_path, pd.DataFrame(), "1m", run, HistoryNeeds(days=2))
    picks = np.arange(0, len(bars), 97)
    for bar in picks.tolist():
        stamp = int(bars.timestamps[bar])
        assert history.day_of(stamp) == bars.session[bar]
        assert history.context_at(stamp) is history.context(int(bars.session[bar]))
    last = history.context_at(int(bars.timestamps[-1]))
    assert last.slot(int(bars.timestamps[-1])) == 389  # the day's last minute
    for outside in (run[0].open - pd.Timedelta("1min"), run[0].close, run[-1].close):
        with pytest.raises(ValueError, match="no session of the run"):
            history.day_of(outside.value)


def test_daily_bars_find_their_day_by_the_sessions_label(tmp_path: Path) -> None:
    run = CALENDAR.sessions_for_dates(pd.Timestamp(FIRST), pd.Timestamp(LAST))
    bars, history = history_of(tmp_path, synthetic("1d", run), "1d", run, HistoryNeeds(days=1))
    assert [history.day_of(int(t)) for t in bars.timestamps] == list(range(len(run)))
    assert history.context(2).avg_volume_by_minute.tolist() == [bars.volume[1]]
    assert history.context(2).slot(int(bars.timestamps[2])) == 0


def test_the_per_minute_volume_is_read_only() -> None:
    run = SPAN[:2]
    with tempfile.TemporaryDirectory() as data:
        _, history = history_of(Path(data), synthetic("1m", SPAN), "1m", run, HistoryNeeds(1))
    with pytest.raises(ValueError, match="read-only"):
        history.context(1).avg_volume_by_minute[0] = 1.0


@pytest.mark.parametrize(
    ("days", "extremes", "message"),
    [
        (0, 0, "history days must be a positive whole number, got 0"),
        (2.5, 0, "history days must be a positive whole number, got 2.5"),
        (True, 0, "history days must be a positive whole number, got True"),
        (20, -1, "history extremes_days must be a whole number >= 0, got -1"),
    ],
)
def test_needs_are_whole_numbers(days, extremes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        HistoryNeeds(days, extremes)


def test_the_window_read_is_the_longer_of_days_and_extremes() -> None:
    assert HistoryNeeds(20, 252).sessions == 252
    assert HistoryNeeds(20).extremes == 20 and HistoryNeeds(20).sessions == 20
    assert HistoryNeeds(30, 5).sessions == 30
