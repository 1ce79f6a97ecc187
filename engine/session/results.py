"""A session's results on demand (DESIGN.md, "Results"): its equity curve, its round trips and
their statistics, as of one instant of the run.

The curve is marked as the clock moves (the pipeline extends it with every advance); the trades
and the statistics are computed only when someone asks, since no one may ask during a run at
full speed. A `ResultsBook` keeps the trades matched so far, so asking again while the session
plays matches only the fills since; the statistics are computed afresh each time (about 2 ms
for a 5-year 1m run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.results import EquityCurve, Fills, Statistics, TradeBook, Trades, statistics
from engine.session.bars import SessionBars
from engine.session.logs import FillColumns


@dataclass(frozen=True)
class SessionResults:
    """What the Results pane shows and `backtest` reports, as of the bars the curve holds."""

    curve: EquityCurve  # the account at each bar's close so far
    trades: Trades  # the round trips so far; those still open closed at the last close
    statistics: Statistics | None  # None before the first bar


class ResultsBook:
    """The results of one run of a session (a seek back or a restart starts another book)."""

    def __init__(self, bars: SessionBars):
        self._bars = bars
        self._book = TradeBook(bars.symbol, bars.timestamps)

    def results(self, curve: EquityCurve, fills: FillColumns) -> SessionResults:
        """The results of `curve` and `fills`, taken at the same instant of the run: the
        fills are every one at the curve's bars. An instant before the last one asked
        about starts the trades over."""
        if len(fills) < self._book.fills:
            self._book = TradeBook(self._bars.symbol, self._bars.timestamps)
        done = self._book.fills
        labels = np.array(fills.strategies or ("",), dtype=str)
        self._book.add(
            Fills.of(
                fills.bar[done:],
                fills.size[done:],
                fills.price[done:],
                fills.commission[done:],
                labels[fills.strategy[done:]],
            )
        )
        close = self._bars.close[: len(curve)]
        trades = self._book.trades(close)
        stats = statistics(curve, trades, close) if len(curve) else None
        return SessionResults(curve, trades, stats)
