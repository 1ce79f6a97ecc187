"""engine.results against backtesting.py (a test-only dependency) on its own GOOG daily bars:
SMA 10/30 crossover, 100 shares long-only, no costs, every crossover traded.

backtesting.py runs its own strategy (`buy(size=100)` on a golden cross, `position.close()` on
a death cross). Our fills come from the crossovers computed here from DESIGN.md's rule, filled
at the next bar's open, not from backtesting.py's trades; then our trades, equity curve and
statistics must equal its own.

Where the definitions differ, DESIGN.md wins and only the comparable part is compared: the full
run ends with a trade open, which DESIGN.md closes at the last close and counts, while
backtesting.py leaves it out of its trade statistics (and its exposure); so the trade
statistics are compared on the same bars cut before that last entry, where the run ends flat.
Sharpe, Sortino and Calmar are DESIGN.md's own (see test_results_statistics.py); buy & hold
starts at the first bar here and after the indicators' warm-up there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting.lib import crossover
from backtesting.test import GOOG

from engine.results import (
    EquityCurve,
    Fills,
    Statistics,
    Trades,
    equity_curve,
    round_trips,
    statistics,
)

# backtesting.py's own use of an API pandas deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofweek is deprecated")

CASH = 100_000.0
SHARES = 100
FAST, SLOW = 10, 30
LAST_ENTRY_BAR = 2088  # the full run's still-open trade enters here (2012-12-04)


class SmaCross(Strategy):
    def init(self):
        close = pd.Series(self.data.Close)
        self.fast = self.I(lambda: close.rolling(FAST).mean())
        self.slow = self.I(lambda: close.rolling(SLOW).mean())

    def next(self):
        if crossover(self.fast, self.slow):
            self.buy(size=SHARES)
        elif crossover(self.slow, self.fast):
            self.position.close()


@dataclass(frozen=True)
class Ours:
    curve: EquityCurve
    trades: Trades
    stats: Statistics


def crossover_fills(data: pd.DataFrame) -> Fills:
    """DESIGN.md's sma_crossover: BUY at t when fast[t-1] < slow[t-1] and fast[t] > slow[t],
    SELL mirrored; long only, 100 shares; each fills at the next bar's open."""
    fast = data.Close.rolling(FAST).mean().to_numpy()
    slow = data.Close.rolling(SLOW).mean().to_numpy()
    action = np.zeros(len(data), dtype=int)
    action[1:][(fast[:-1] < slow[:-1]) & (fast[1:] > slow[1:])] = 1
    action[1:][(fast[:-1] > slow[:-1]) & (fast[1:] < slow[1:])] = -1
    bars, sizes, held = [], [], 0
    for t in np.flatnonzero(action[:-1]):  # a signal on the last bar has no next open
        if (action[t] > 0) == (held == 0):  # buy when flat, sell what is held
            bars.append(t + 1)
            sizes.append(SHARES if held == 0 else -held)
            held += sizes[-1]
    return Fills.of(bars, sizes, data.Open.to_numpy()[bars], strategy="sma_crossover")


def ours(data: pd.DataFrame) -> Ours:
    stamps = data.index.as_unit("ns").asi8
    close = data.Close.to_numpy()
    fills = crossover_fills(data)
    curve = equity_curve(stamps, np.arange(len(data)), close, fills, CASH)
    trades = round_trips(fills, stamps, close, "GOOG")
    return Ours(curve, trades, statistics(curve, trades, close))


@pytest.fixture(scope="module")
def full() -> tuple[Ours, pd.Series]:
    with pytest.warns(UserWarning, match="trades remain open"):
        reference = Backtest(GOOG, SmaCross, cash=CASH).run()
    return ours(GOOG), reference


@pytest.fixture(scope="module")
def ending_flat() -> tuple[Ours, pd.Series]:
    data = GOOG.iloc[:LAST_ENTRY_BAR]
    return ours(data), Backtest(data, SmaCross, cash=CASH).run()


def as_ns(times: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def test_trades_and_equity_equal_backtesting_py_on_goog(full):
    mine, reference = full
    expected = reference._trades
    closed = ~mine.trades.open
    assert len(expected) == 32 and closed.sum() == 32
    np.testing.assert_array_equal(mine.trades.entry_time[closed], as_ns(expected.EntryTime))
    np.testing.assert_array_equal(mine.trades.exit_time[closed], as_ns(expected.ExitTime))
    np.testing.assert_array_equal(mine.trades.entry_price[closed], expected.EntryPrice)
    np.testing.assert_array_equal(mine.trades.exit_price[closed], expected.ExitPrice)
    np.testing.assert_allclose(mine.trades.pnl[closed], expected.PnL, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        mine.trades.return_pct[closed], expected.ReturnPct * 100, rtol=0, atol=1e-9
    )
    # The trade backtesting.py still holds at the end is ours too, closed at the last close.
    (still_open,) = reference._strategy._broker.trades
    assert mine.trades.open.tolist() == [False] * 32 + [True]
    assert mine.trades.entry_time[-1] == pd.Timestamp(still_open.entry_time).value
    assert mine.trades.entry_price[-1] == still_open.entry_price
    assert mine.trades.exit_price[-1] == GOOG.Close.iloc[-1]
    assert mine.trades.pnl[-1] == pytest.approx(still_open.pl, abs=1e-6)

    curve = reference._equity_curve
    np.testing.assert_allclose(mine.curve.equity, curve.Equity, rtol=0, atol=1e-6)
    np.testing.assert_allclose(mine.curve.drawdown_pct, -curve.DrawdownPct * 100, atol=1e-9)
    assert mine.stats.final_equity == pytest.approx(reference["Equity Final [$]"], abs=1e-6)
    assert mine.stats.peak_equity == pytest.approx(reference["Equity Peak [$]"], abs=1e-6)
    assert mine.stats.return_pct == pytest.approx(reference["Return [%]"], abs=1e-6)
    assert mine.stats.max_drawdown_pct == pytest.approx(reference["Max. Drawdown [%]"], abs=1e-6)
    # DESIGN.md counts the open trade (and the bars it is held), backtesting.py does not.
    assert mine.stats.trades == reference["# Trades"] + 1
    assert mine.stats.exposure_pct > reference["Exposure Time [%]"]


# Ours → backtesting.py's name, for every statistic defined the same way.
SAME_DEFINITION = {
    "return_pct": "Return [%]",
    "max_drawdown_pct": "Max. Drawdown [%]",
    "trades": "# Trades",
    "win_rate_pct": "Win Rate [%]",
    "exposure_pct": "Exposure Time [%]",
    "cagr_pct": "CAGR [%]",
    "volatility_pct": "Volatility (Ann.) [%]",
    "avg_drawdown_pct": "Avg. Drawdown [%]",
    "best_trade_pct": "Best Trade [%]",
    "worst_trade_pct": "Worst Trade [%]",
    "avg_trade_pct": "Avg. Trade [%]",
    "profit_factor": "Profit Factor",
    "expectancy_pct": "Expectancy [%]",
    "sqn": "SQN",
    "final_equity": "Equity Final [$]",
    "peak_equity": "Equity Peak [$]",
}


def test_statistics_equal_backtesting_py_when_the_run_ends_flat(ending_flat):
    mine, reference = ending_flat
    assert not mine.trades.open.any() and mine.curve.position[-1] == 0
    assert len(mine.trades) == 32
    np.testing.assert_array_equal(mine.trades.exit_time, as_ns(reference._trades.ExitTime))
    values = mine.stats.to_json()
    for name, theirs in SAME_DEFINITION.items():
        assert values[name] == pytest.approx(reference[theirs], abs=1e-6), (name, theirs)
    assert values["max_drawdown_duration_days"] == reference["Max. Drawdown Duration"].days
    assert values["commissions"] == 0
