"""A session's results on demand (DESIGN.md, "Results"): its equity curve, its round trips and
their statistics, as of one instant of the run.

The curve is marked as the clock moves (the pipeline extends it with every advance); the trades
and the statistics are computed only when someone asks, since no one may ask during a run at
full speed. A `ResultsBook` keeps the trades matched so far, so asking again while the session
plays matches only the fills since; the statistics are computed afresh each time (about 2 ms
for a 5-year 1m run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from engine.results import EquityCurve, Fills, Statistics, TradeBook, Trades, statistics
from engine.session.bars import SessionBars
from engine.session.logs import FillColumns


@dataclass(frozen=True)
class SymbolResults:
    """One symbol's share of a session of several: its trades and what they made."""

    symbol: str
    trades: int  # round trips, the open one included
    win_rate_pct: float  # nan with no trade
    pnl: float  # net of commissions; an open trade at the last close
    commissions: float
    return_pct: float  # pnl against the session's starting cash, in %
    buy_hold_return_pct: float  # nan before its first bar
    exposure_pct: float  # share of its bars with a position open

    def to_json(self) -> dict[str, object]:
        """Plain values; null where undefined (no trade, no bar)."""
        return {
            name: None if isinstance(value, float) and not np.isfinite(value) else value
            for name, value in vars(self).items()
        }


@dataclass(frozen=True)
class SessionResults:
    """What the Results pane shows and `backtest` reports, as of the bars the curve holds."""

    curve: EquityCurve  # the account at each bar's close so far
    trades: Trades  # the round trips so far; those still open closed at the last close
    statistics: Statistics | None  # None before the first bar
    by_symbol: tuple[SymbolResults, ...] = ()  # each symbol's share, in the session's order


class ResultsBook:
    """The results of one run of a session (a seek back or a restart starts another book)."""

    def __init__(self, market: Sequence[SessionBars]):
        self._market = tuple(market)
        self._books = self._new_books()

    def _new_books(self) -> tuple[TradeBook, ...]:
        return tuple(TradeBook(bars.symbol, bars.timestamps) for bars in self._market)

    def results(
        self, curve: EquityCurve, fills: FillColumns, parts: Sequence[EquityCurve]
    ) -> SessionResults:
        """The results of `curve`, `fills` and `parts` (each symbol's own marks), taken at the
        same instant of the run: the fills are every one at the curve's bars. An instant
        before the last one asked about starts the trades over."""
        if len(fills) < sum(book.fills for book in self._books):
            self._books = self._new_books()
        labels = np.array(fills.strategies or ("",), dtype=str)
        closes, trades, shares = [], [], []
        for index, (bars, book, part) in enumerate(
            zip(self._market, self._books, parts, strict=True)
        ):
            own = fills.of_symbol(index)
            done = book.fills
            book.add(
                Fills.of(
                    own.bar[done:],
                    own.size[done:],
                    own.price[done:],
                    own.commission[done:],
                    labels[own.strategy[done:]],
                )
            )
            close = bars.close[: len(part)]
            closes.append(close)
            trades.append(book.trades(close))
            shares.append(_share(bars.symbol, trades[-1], close, part, curve.starting_cash))
        if len(trades) == 1:
            return SessionResults(curve, trades[0], _statistics(curve, trades[0], closes[0]))
        every = Trades.concat(trades)
        # In the order closed, across the symbols, the open ones last (stable: as each book).
        order = np.lexsort((every.exit_time, every.open))
        every = Trades(**{f.name: getattr(every, f.name)[order] for f in fields(Trades)})
        started = [close for close in closes if len(close)]
        # An equal-weight index of the symbols' closes: its first and last values.
        index = np.array([1.0, np.mean([c[-1] / c[0] for c in started])]) if started else closes[0]
        return SessionResults(curve, every, _statistics(curve, every, index), tuple(shares))


def _statistics(curve: EquityCurve, trades: Trades, close: np.ndarray) -> Statistics | None:
    return statistics(curve, trades, close) if len(curve) else None


def _share(
    symbol: str, trades: Trades, close: np.ndarray, part: EquityCurve, cash: float
) -> SymbolResults:
    pnl = float(trades.pnl.sum())
    return SymbolResults(
        symbol=symbol,
        trades=len(trades),
        win_rate_pct=float((trades.pnl > 0).mean() * 100) if len(trades) else float("nan"),
        pnl=pnl,
        commissions=float(trades.commission.sum()),
        return_pct=pnl / cash * 100,
        buy_hold_return_pct=float((close[-1] / close[0] - 1) * 100) if len(close) else float("nan"),
        exposure_pct=part.exposure_pct,
    )
