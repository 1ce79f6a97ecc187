"""A strategy reading a second timeframe (`timeframes = ("1h",)`, `self.bars_of("1h")`): at
each of its bars it sees exactly the derived bars complete by that bar's end, session-aligned
(09:30, 10:30, ... and the early close's short last hour), and nothing a later bar could
change."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.session.bars import NS, SessionBars
from engine.session.pipeline import Pipeline, SessionSetupError
from engine.strategy import Bars, Strategy
from engine.strategy.spec import StrategySpec
from tests.support.bar_fixtures import synthetic_session_bars

NEW_YORK = "America/New_York"


class Recorder(Strategy):
    """Records, at each of its bars, what it sees of every timeframe."""

    name = "recorder"
    timeframes = ("15m", "1h")

    def setup(self) -> None:
        self.seen: list[tuple] = []

    def on_bar(self, bars: Bars) -> None:
        views = {"main": bars} | {tf: self.bars_of(tf) for tf in self.timeframes}
        self.seen.append(tuple((name, len(v), *_last(v)) for name, v in views.items()))


def _last(bars: Bars) -> tuple:
    """The last bar's fields, every one, and a digest of all the closes."""
    if not len(bars):
        return ()
    fields = (bars.timestamp, bars.open, bars.high, bars.low, bars.close, bars.volume)
    return (*(float(f[-1]) for f in fields), float(bars.close.sum()))


@functools.cache
def minute_bars() -> SessionBars:
    """Wednesday to Friday around Thanksgiving 2024: Friday closes early, at 13:00."""
    return synthetic_session_bars("2024-11-26", "2024-11-29")


def changed(bars: SessionBars, k: int) -> SessionBars:
    """`bars` with bar k's prices and volume moved."""
    prices = np.vstack([bars.open, bars.high, bars.low, bars.close, bars.volume])
    prices[:4, k] += 1.25
    prices[4, k] *= 3
    sessions = list(bars.sessions)
    return SessionBars.from_arrays(bars.symbol, bars.timeframe, sessions, bars.timestamps, prices)


def play(bars: SessionBars, timeframe: str | None, steps: list[int]) -> Pipeline:
    pipeline = Pipeline(bars, [StrategySpec(Recorder, (), timeframe)])
    for seconds in steps:
        pipeline.advance_to(pipeline.clock + seconds * NS)
    pipeline.advance_to(pipeline.end)
    return pipeline


def test_each_bar_sees_the_derived_bars_complete_by_its_end_and_no_other() -> None:
    pipeline = play(minute_bars(), None, [])
    (recorder,) = pipeline.strategies
    main = pipeline.markets[0].series["1m"]
    assert len(recorder.seen) == len(main)
    for i, seen in enumerate(recorder.seen):
        now = int(main.end[i])
        for name, count, *last in seen[1:]:
            series = pipeline.markets[0].series[name]
            complete = int(np.searchsorted(series.end, now, side="right"))
            assert count == complete, (name, pd.Timestamp(now, tz="UTC"))
            if count:  # the last one visible, with its final values
                j = count - 1
                assert last[:6] == [
                    float(series.timestamps[j]),
                    float(series.open[j]),
                    float(series.high[j]),
                    float(series.low[j]),
                    float(series.close[j]),
                    float(series.volume[j]),
                ]
    # Session-aligned hours: the first one of a day appears with the 10:29 bar (ending 10:30),
    # and the early close's last hour (12:30-13:00) with its last minute.
    hour_opens = [i for i, s in enumerate(recorder.seen) if _local(s[0][2]) == "10:29"]
    assert len(hour_opens) == 3  # one a day
    for i in hour_opens:
        hours_now, hours_before = recorder.seen[i][2], recorder.seen[i - 1][2]
        assert _local(hours_now[2]) == "09:30" and hours_now[1] == hours_before[1] + 1
    assert _local(recorder.seen[-1][2][2]) == "12:30"
    assert recorder.seen[-2][2][1] == recorder.seen[-1][2][1] - 1


def _local(time_ns: float) -> str:
    return pd.Timestamp(int(time_ns), tz="UTC").tz_convert(NEW_YORK).strftime("%H:%M")


@settings(max_examples=30, deadline=None)
@given(
    k=st.integers(0, 989),  # 390 + 390 + 210 bars
    timeframe=st.sampled_from([None, "5m", "15m"]),
    steps=st.lists(st.integers(1, 4 * 3600), max_size=20),
)
def test_changing_a_later_bar_never_changes_what_was_seen_before(k, timeframe, steps) -> None:
    """Bar k changed: every call whose bar ended by bar k's start saw exactly what it saw
    before (whatever the clock steps), and the change does show once bar k is complete."""
    bars = minute_bars()
    before = play(bars, timeframe, []).strategies[0].seen
    pipeline = play(changed(bars, k), timeframe, steps)
    after = pipeline.strategies[0].seen
    main = pipeline.markets[0].series[timeframe or "1m"]
    known = np.searchsorted(main.end, bars.timestamps[k], side="right")  # calls ended by then
    assert after[:known] == before[:known]
    assert after[known:] != before[known:]  # bar k's own timeframe bar shows it


def test_an_extra_timeframe_the_session_cannot_derive_is_refused() -> None:
    class Daily(Recorder):
        """Wants 4h bars, which 1m bars do not give."""

        name = "daily"
        timeframes = ("4h",)

    with pytest.raises(SessionSetupError, match="daily: timeframe 4h cannot be read from 1m"):
        Pipeline(minute_bars(), [StrategySpec(Daily, ())])


def test_an_undeclared_timeframe_is_a_clear_error() -> None:
    class Sloppy(Strategy):
        """Reads a timeframe it did not declare."""

        name = "sloppy"

        def on_bar(self, bars: Bars) -> None:
            self.bars_of("1h")

    pipeline = Pipeline(minute_bars(), [StrategySpec(Sloppy, ())])
    pipeline.advance_to(pipeline.end)
    (failure,) = pipeline.failures
    assert failure.error == "ValueError: sloppy: timeframe '1h' is not declared (declared: none)"
