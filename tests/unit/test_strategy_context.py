"""A strategy declares the history it needs (`history = HistoryNeeds(...)`) and reads the day's
context as `self.context` in on_bar, or `self.context_at(time)` in on_chunk. The session hands
it a SessionHistory; here the strategy's `_bar` / `_chunk` are called directly, as the session
calls them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.session.bars import SessionBars, read_session_bars
from engine.session.history import SessionHistory, read_history
from engine.strategy import Bars, DayContext, HistoryNeeds, Signals, Strategy
from tests.support.bar_fixtures import FIRST, LAST, store_bars
from tests.support.strategy_calls import signal_at

CALENDAR = calendar_for()


class AboveYesterday(Strategy):
    """Buy a close above the previous session's close on twice the usual volume for the minute."""

    name = "above_yesterday"
    history = HistoryNeeds(days=2)
    factor: float = 2.0

    def setup(self) -> None:
        self.seen: list[DayContext] = []

    def on_bar(self, bars: Bars) -> None:
        day = self.context
        self.seen.append(day)
        usual = day.avg_volume_by_minute[day.slot(bars.timestamp[-1])]
        if day.complete and bars.close[-1] > day.previous_close and bars.volume[-1] > 2 * usual:
            self.buy(reason=f"above {day.previous_close} on volume")


class Plain(Strategy):
    name = "plain"

    def on_bar(self, bars: Bars) -> None:
        self.seen = self.context


class Chunked(Strategy):
    """Signals at every bar whose day has its full history: reads it per bar in on_chunk."""

    name = "chunked"
    history = HistoryNeeds(days=1, extremes_days=3)

    def on_bar(self, bars: Bars) -> None:
        if self.context.complete:
            self.buy()

    def on_chunk(self, bars: Bars, start: int) -> Signals:
        complete = [self.context_at(t).complete for t in bars.timestamp[start:].tolist()]
        index = start + np.flatnonzero(complete)
        return Signals(index, np.ones(len(index)), np.ones(len(index)))


@pytest.fixture
def stored(tmp_path: Path) -> tuple[BarStore, SessionBars]:
    """The ten sessions 2024-03-04 .. 15 stored; the run is the last eight."""
    store_bars(tmp_path)
    store = BarStore(tmp_path, CALENDAR)
    first = pd.Timestamp(FIRST) + pd.Timedelta(days=2)
    return store, read_session_bars(store, CALENDAR, "AAPL", "1m", first, pd.Timestamp(LAST))


@pytest.fixture
def run(stored) -> tuple[SessionBars, SessionHistory]:
    """The run's bars and their history of two sessions."""
    store, bars = stored
    return bars, read_history(store, CALENDAR, bars, HistoryNeeds(days=2))


def view(bars: SessionBars, length: int) -> Bars:
    return Bars(
        bars.timeframe,
        bars.timestamps,
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        length=length,
    )


def test_on_bar_reads_the_context_of_the_current_bars_day(run) -> None:
    bars, history = run
    strategy = AboveYesterday()
    strategy._history = history
    picks = [0, 389, 390, 391, len(bars) - 1]  # the first day's first and last, the next's
    for bar in picks:
        signal_at(strategy, view(bars, bar + 1))
    expected = [history.context(int(bars.session[bar])) for bar in picks]
    assert all(seen is wanted for seen, wanted in zip(strategy.seen, expected, strict=True))
    assert [day.date.isoformat() for day in strategy.seen] == [
        "2024-03-06",
        "2024-03-06",
        "2024-03-07",
        "2024-03-07",
        "2024-03-15",
    ]
    # 2024-03-06's context is 03-04 and 03-05, read from the store before the run.
    assert strategy.seen[0].complete and strategy.seen[0].sessions == 2
    assert strategy.seen[2].previous_close == bars.close[389]


def test_a_signal_can_rest_on_the_context(run) -> None:
    """A bar made to close above the previous close on heavy volume buys; the same bar
    without the volume does not."""
    bars, history = run
    bar = 400  # 2024-03-07, minute 10
    close, volume = bars.close.copy(), bars.volume.copy()
    close[bar] = bars.close[389] + 1.0
    strategy = AboveYesterday()
    strategy._history = history

    def signal_with(volume_of_bar: float):
        volume[bar] = volume_of_bar
        shown = Bars("1m", bars.timestamps, bars.open, bars.high, bars.low, close, volume, bar + 1)
        return signal_at(strategy, shown)

    usual = history.context(1).avg_volume_by_minute[10]
    assert signal_with(2 * usual + 1).reason == f"above {bars.close[389]} on volume"
    assert signal_with(2 * usual) is None


def test_on_chunk_reads_each_bars_context_by_its_time(stored) -> None:
    """Extremes of 3 sessions: 2024-03-06 has only two stored before it, so its bars give no
    signal; every later bar does."""
    store, bars = stored
    strategy = Chunked()
    strategy._history = read_history(store, CALENDAR, bars, Chunked.history)
    found = strategy._chunk(view(bars, len(bars)), 0)
    assert found.index.tolist() == list(range(390, len(bars)))


def test_a_strategy_without_history_has_no_context(stored) -> None:
    _, bars = stored
    strategy = Plain()
    signal_at(strategy, view(bars, 1))
    assert strategy.seen is None
    with pytest.raises(ValueError, match="plain: declares no history"):
        strategy.context_at(int(bars.timestamps[0]))


def test_the_context_before_the_session_gives_one_is_a_clear_error(stored) -> None:
    _, bars = stored
    strategy = AboveYesterday()
    with pytest.raises(RuntimeError, match="the context is known from the first bar on"):
        _ = strategy.context
    with pytest.raises(RuntimeError, match="no history given"):
        signal_at(strategy, view(bars, 1))


def test_on_chunk_cannot_read_the_context_of_a_current_bar(run) -> None:
    bars, history = run

    class Confused(Chunked):
        name = "confused"

        def on_chunk(self, bars: Bars, start: int) -> Signals:
            self.context  # noqa: B018 - the read that must fail
            return Signals.none()

    strategy = Confused()
    strategy._history = history
    with pytest.raises(RuntimeError, match=r"self.context_at\(time\)"):
        strategy._chunk(view(bars, 10), 0)


def test_history_is_no_parameter() -> None:
    class Annotated(Strategy):
        name = "annotated"
        history: HistoryNeeds = HistoryNeeds(days=5)
        lookback: int = 3

    assert [p.name for p in AboveYesterday.parameters()] == ["factor"]
    assert [p.name for p in Annotated.parameters()] == ["lookback"]
    assert Annotated.history == HistoryNeeds(days=5)
    assert Plain.history is None


def test_a_history_that_is_not_history_needs_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Wrong.history: declare it as HistoryNeeds\(days=...\)"):

        class Wrong(Strategy):
            name = "wrong"
            history = 20  # type: ignore[assignment]
