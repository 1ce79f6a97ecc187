"""Small builders for the results tests: daily bars, fills of orders at the bars' opens, a
synthetic daily run's results, and a session of daily bars that carries its own trading script."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from engine.market.calendar import calendar_for
from engine.results import (
    Costs,
    EquityCurve,
    Fills,
    Statistics,
    Trades,
    equity_curve,
    round_trips,
    statistics,
)
from engine.session.bars import SessionBars
from engine.strategy import Bars, Strategy
from engine.strategy.spec import StrategySpec

DAY_NS = 86_400 * 10**9
NO_COSTS = Costs()
FIRST_DAY = pd.Timestamp("2024-01-02", tz="UTC").value


def daily_stamps(n: int) -> np.ndarray:
    """One bar per day from 2024-01-02 (daily bars sit at midnight UTC)."""
    return FIRST_DAY + DAY_NS * np.arange(n, dtype=np.int64)


def fills_at_open(
    orders: Sequence[tuple[int, float]], open_: np.ndarray, costs: Costs = NO_COSTS
) -> Fills:
    """Orders (bar, signed size) filled at their bar's open, with `costs` applied."""
    bars = np.array([bar for bar, _ in orders], dtype=np.int64)
    sizes = np.array([size for _, size in orders], dtype=np.float64)
    prices = costs.fill_price(open_[bars], sizes)
    return Fills.of(bars, sizes, prices, costs.commission(sizes, prices), strategy="test")


@st.composite
def accounts(draw):
    """Closes and a run of fills on them: any sizes, long and short, flips, several fills on
    one bar, commissions or none; never so large that the equity could reach zero."""
    n = draw(st.integers(1, 40))
    close = draw(st.lists(st.floats(50, 60), min_size=n, max_size=n))
    orders = draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(-100, 100).filter(bool)), max_size=12)
    )
    orders.sort(key=lambda order: order[0])  # fills come in time order
    bars = [bar for bar, _ in orders]
    prices = draw(st.lists(st.floats(50, 60), min_size=len(orders), max_size=len(orders)))
    fees = draw(st.lists(st.floats(0, 5), min_size=len(orders), max_size=len(orders)))
    return close, Fills.of(bars, [size for _, size in orders], prices, fees, strategy="s")


# -- a run's results ---------------------------------------------------------------------------

BARS = 60
ORDERS = [(3, 100), (15, -100), (20, -100), (30, 100), (40, 100)]  # long, short, open long


@dataclass(frozen=True)
class Run:
    curve: EquityCurve
    trades: Trades
    stats: Statistics
    close: np.ndarray

    def shown(self) -> tuple[EquityCurve, Trades, Statistics]:
        return self.curve, self.trades, self.stats


def sample_run(bars: int = BARS, orders=ORDERS, symbol: str = "AAPL") -> Run:
    """Daily bars from 2024-01-02 rising along a wave, traded at the opens with $0.01 a share
    commission."""
    x = np.arange(bars, dtype=float)
    close = 100 + 0.3 * x + 6 * np.sin(x / 5)
    open_ = np.r_[close[0], close[:-1]]
    stamps = daily_stamps(bars)
    fills = fills_at_open(orders, open_, Costs(per_share=0.01))
    curve = equity_curve(stamps, np.arange(bars), close, fills, 100_000)
    trades = round_trips(fills, stamps, close, symbol)
    return Run(curve, trades, statistics(curve, trades, close), close)


# -- a session that trades on cue --------------------------------------------------------------

BUY_CUE, SELL_CUE = 1.0, 2.0  # a bar's volume: the signal the scripted strategy makes on it


class Scripted(Strategy):
    """BUY on a bar whose volume is BUY_CUE, SELL on one whose volume is SELL_CUE, with full
    confidence: the bars carry the script (`session_of`)."""

    name = "scripted"

    def on_bar(self, bars: Bars) -> None:
        if bars.volume[-1] == BUY_CUE:
            self.buy(1.0, reason="cue")
        elif bars.volume[-1] == SELL_CUE:
            self.sell(1.0, reason="cue")


SCRIPTED = StrategySpec(Scripted, ())


def session_of(
    open_: Sequence[float], close: Sequence[float], script: str, symbol: str = "T"
) -> SessionBars:
    """`symbol`'s daily bars of the sessions from 2024-01-02, one per price, and a script of
    the signals made at each bar's close: `B` buy, `S` sell, anything else none."""
    n = len(open_)
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31"))
    sessions = sessions[:n]
    open_, close = np.asarray(open_, dtype=np.float64), np.asarray(close, dtype=np.float64)
    cues = {"B": BUY_CUE, "S": SELL_CUE}
    volume = np.array([cues.get(c, 100.0) for c in script.ljust(n)[:n]])
    prices = np.vstack([open_, np.maximum(open_, close), np.minimum(open_, close), close, volume])
    stamps = np.array([s.date.value for s in sessions], dtype=np.int64)
    return SessionBars.from_arrays(symbol, "1d", sessions, stamps, prices)
