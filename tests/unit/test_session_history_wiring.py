"""Historical context in a session: what a strategy declares is read from the store once per
symbol, the strategy sees its day's context at every bar, and a signal on a day whose history
is incomplete is rejected with a data-quality reason, not a crash."""

from __future__ import annotations

from typing import ClassVar

import pandas as pd
import pytest

from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.session.pipeline import Pipeline, SessionSetupError
from engine.session.playback import PlaybackState
from engine.session.request import backtest_request, open_session
from engine.strategy import HistoryNeeds, Strategy
from engine.strategy.catalog import Catalog, CatalogEntry, builtin_catalog
from engine.strategy.spec import StrategySpec
from tests.support.bar_fixtures import FIRST, LAST, store_bars
from tests.support.several_symbols import minute_bars


class AbovePreviousClose(Strategy):
    """Buys the first bar of a day above the previous session's close, sells one below."""

    name = "above_previous_close"
    history: ClassVar[HistoryNeeds] = HistoryNeeds(days=3)

    def on_bar(self, bars) -> None:
        context = self.context
        seen = self.__dict__.setdefault("seen", {})  # the previous close each day showed
        if context.date in seen:
            return
        seen[context.date] = context.previous_close
        if bars.close[-1] > context.previous_close:
            self.buy(reason="above yesterday")
        else:
            self.sell(reason="below yesterday")


@pytest.fixture
def played(tmp_path):
    store_bars(tmp_path, symbol="AAPL")
    store_bars(tmp_path, symbol="MSFT")
    calendar = calendar_for()
    store = BarStore(tmp_path, calendar)
    catalog = Catalog((*builtin_catalog().entries, CatalogEntry(AbovePreviousClose, "test")))
    request = backtest_request(
        store, calendar, ["AAPL", "MSFT"], "1m", FIRST, LAST, ["above_previous_close"],
        catalog=catalog,
    )  # fmt: skip
    session = open_session(store, calendar, request).start(playing=True)
    assert session.wait(30) and session.snapshot().state is PlaybackState.DONE
    session.stop()
    return store, session


def test_a_strategy_sees_each_days_previous_close_from_the_store(played):
    store, session = played
    for symbol, strategy in zip(("AAPL", "MSFT"), session._pipeline.strategies, strict=True):
        frame = store.read(symbol, "1m")
        days = pd.DatetimeIndex(frame["timestamp"]).tz_convert("America/New_York").date
        last = frame["close"].groupby(days).last()
        expected = dict(zip(last.index[1:], last.to_numpy()[:-1], strict=True))
        del strategy.seen[last.index[0]]  # nothing stored before the first day
        assert strategy.seen == expected and len(expected) == 9


def test_signals_of_days_without_their_full_history_are_rejected_for_it(played):
    _, session = played
    signals = list(session.signal_log)
    assert {s.symbol for s in signals} == {"AAPL", "MSFT"}
    first_days = [s for s in signals if s.timestamp < pd.Timestamp("2024-03-07", tz="UTC")]
    later = [s for s in signals if s.timestamp >= pd.Timestamp("2024-03-07", tz="UTC")]
    assert first_days and later
    # Nothing is stored before 2024-03-04: the first three days lack some of their 3 sessions.
    assert [s.reason for s in first_days if s.symbol == "AAPL"] == [
        "history: 0 of 3 sessions before 2024-03-04",
        "history: 1 of 3 sessions before 2024-03-05",
        "history: 2 of 3 sessions before 2024-03-06",
    ]
    assert not any(s.reason.startswith("history") for s in later)
    assert any(s.approved for s in later)


def test_a_session_built_without_the_history_a_strategy_reads_says_so():
    with pytest.raises(SessionSetupError, match="reads the historical context"):
        Pipeline(minute_bars(), [StrategySpec(AbovePreviousClose, ())])
