"""The Results contract's reference run through the real session (DESIGN.md, "Results"; the
issue's "done when"): backtesting.py's own GOOG daily bars, stored as 1d bars and played by a
`PlaybackSession` with `sma_crossover:fast=10,slow=30`, 100 shares long only, no costs, every
crossover traded — the trades (times and prices) and the final equity equal backtesting.py's
`buy(size=100)` / `position.close()` run, and so do its return, maximum drawdown, number of
trades, win rate and exposure on the bars that end flat.

GOOG's dates are exactly the NYSE sessions of 2004-08-19..2013-03-01, so the store takes them
whole. (tests/unit/test_results_reference.py compares the calculators alone on the same run.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG

from engine.market.calendar import calendar_for
from engine.market.schema import bars_frame
from engine.market.store import BarStore
from engine.session.playback import PlaybackState
from engine.session.request import backtest_request, open_session
from engine.session.results import SessionResults
from engine.trading_rules import TradingRules

pytestmark = pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")

CASH = 100_000.0
LAST_ENTRY = "2012-12-04"  # the full run's still-open trade enters here
EVERY_CROSSOVER = TradingRules(min_confidence=0.0)


class SmaCross(Strategy):
    def init(self):
        close = pd.Series(self.data.Close)
        self.fast = self.I(lambda: close.rolling(10).mean())
        self.slow = self.I(lambda: close.rolling(30).mean())

    def next(self):
        if crossover(self.fast, self.slow):
            self.buy(size=100)
        elif crossover(self.slow, self.fast):
            self.position.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> BarStore:
    calendar = calendar_for()
    store = BarStore(tmp_path_factory.mktemp("goog") / "data", calendar)
    columns = {name.lower(): GOOG[name].to_numpy(np.float64) for name in GOOG.columns}
    store.merge("GOOG", "1d", bars_frame(pd.DatetimeIndex(GOOG.index, tz="UTC"), columns))
    return store


def played(store: BarStore, last: str) -> SessionResults:
    calendar = calendar_for()
    request = backtest_request(
        store, calendar, ["GOOG"], "1d", "2004-08-19", last, ["sma_crossover:fast=10,slow=30"]
    )
    session = open_session(store, calendar, request, EVERY_CROSSOVER).start(playing=True)
    assert session.wait(60)
    snapshot = session.snapshot()
    session.stop()
    assert snapshot.state is PlaybackState.DONE
    assert snapshot.bars_processed == int((GOOG.index <= last).sum())
    return session.results(snapshot)


def as_ns(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).tz_localize("UTC").as_unit("ns").asi8


def test_the_session_trades_as_backtesting_py_on_goog(store):
    with pytest.warns(UserWarning, match="trades remain open"):
        reference = Backtest(GOOG, SmaCross, cash=CASH).run()
    results = played(store, "2013-03-01")
    trades, expected = results.trades, reference._trades
    closed = ~trades.open
    assert closed.sum() == len(expected) == 32
    np.testing.assert_array_equal(trades.entry_time[closed], as_ns(expected.EntryTime))
    np.testing.assert_array_equal(trades.exit_time[closed], as_ns(expected.ExitTime))
    np.testing.assert_array_equal(trades.entry_price[closed], expected.EntryPrice)
    np.testing.assert_array_equal(trades.exit_price[closed], expected.ExitPrice)
    np.testing.assert_allclose(trades.pnl[closed], expected.PnL, rtol=0, atol=1e-6)
    # The trade backtesting.py still holds at the end: ours too, closed at the last close.
    (still_open,) = reference._strategy._broker.trades
    assert trades.open.tolist() == [False] * 32 + [True]
    assert trades.entry_price[-1] == still_open.entry_price
    assert results.statistics.final_equity == pytest.approx(reference["Equity Final [$]"], abs=1e-6)
    np.testing.assert_allclose(
        results.curve.equity, reference._equity_curve.Equity, rtol=0, atol=1e-6
    )


def test_the_statistics_equal_backtesting_py_on_the_bars_that_end_flat(store):
    # Cut before the last entry, the run ends flat: no open trade, which backtesting.py would
    # leave out of its statistics and DESIGN.md counts.
    data = GOOG.loc[GOOG.index < LAST_ENTRY]
    reference = Backtest(data, SmaCross, cash=CASH).run()
    results = played(store, f"{data.index[-1]:%Y-%m-%d}")
    assert not results.trades.open.any() and len(results.trades) == 32
    stats = results.statistics.to_json()
    for ours, theirs in {
        "return_pct": "Return [%]",
        "max_drawdown_pct": "Max. Drawdown [%]",
        "trades": "# Trades",
        "win_rate_pct": "Win Rate [%]",
        "exposure_pct": "Exposure Time [%]",
        "final_equity": "Equity Final [$]",
    }.items():
        assert stats[ours] == pytest.approx(reference[theirs], abs=1e-6), ours
