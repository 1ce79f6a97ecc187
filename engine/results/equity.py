"""The account per bar (DESIGN.md, "Results"): cash, position and equity marked at every bar's
close, and the drawdown from the running peak, as numpy columns.

A 5-year 1m run has ~500k bars: one object per bar would be megabytes of garbage-collector work
(see engine/session/logs.py), so the curve is a few cumulative sums over the fills, kept in
columns that a playing session extends batch by batch (`EquityMarks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Fills:
    """An account's fills in the order they happened, as columns (build with `Fills.of`)."""

    bar: np.ndarray  # int64: the bar at whose open it filled
    size: np.ndarray  # float64: signed shares, + bought, - sold
    price: np.ndarray  # float64: the fill price, slippage included
    commission: np.ndarray  # float64: what the fill cost
    strategy: np.ndarray  # str: the strategy whose signal it was

    @classmethod
    def of(
        cls,
        bar: npt.ArrayLike,
        size: npt.ArrayLike,
        price: npt.ArrayLike,
        commission: npt.ArrayLike = 0.0,
        strategy: str | Sequence[str] = "",
    ) -> Fills:
        """Columns from sequences; a scalar commission or strategy applies to every fill."""
        bars = np.asarray(bar, dtype=np.int64).reshape(-1)
        n = len(bars)
        columns = (
            np.asarray(size, dtype=np.float64).reshape(-1),
            np.asarray(price, dtype=np.float64).reshape(-1),
            np.asarray(commission, dtype=np.float64),
            np.asarray(strategy, dtype=str),
        )
        if any(column.ndim and len(column) != n for column in columns):
            raise ValueError("fills: every column must have one value per fill")
        size, price, commission, strategy = (np.broadcast_to(c, (n,)).copy() for c in columns)
        if not size.all():
            raise ValueError("fills: every fill has a size (none is 0 shares)")
        if n and np.any(np.diff(bars) < 0):
            raise ValueError("fills must be in the order they happened (bars non-decreasing)")
        return cls(bars, size, price, commission, strategy)

    def __len__(self) -> int:
        return len(self.bar)


@dataclass(frozen=True)
class EquityCurve:
    """The account at each bar's close. Times are int64 ns UTC bar starts."""

    timestamp: np.ndarray
    session: np.ndarray  # each bar's trading session: equal labels, one session
    cash: np.ndarray
    position: np.ndarray  # signed shares held
    equity: np.ndarray  # cash + position * close
    drawdown_pct: np.ndarray  # equity below the running peak of equity, in % (<= 0)
    exposed: np.ndarray  # bool: a position was held at some moment of the bar
    starting_cash: float

    def __len__(self) -> int:
        return len(self.timestamp)

    @property
    def exposure_pct(self) -> float:
        """The share of bars with a position open, from its entry bar to its exit bar."""
        return float(self.exposed.mean() * 100) if len(self) else float("nan")


class _Marks:
    """An equity curve's columns laid out for every row at the start and marked as a session
    plays. A row once marked never changes, so `curve()` hands out views of the rows marked
    so far that any thread may keep and read while more are marked."""

    def __init__(self, timestamp: np.ndarray, session: np.ndarray, starting_cash: float):
        n = len(timestamp)
        if not starting_cash > 0:
            raise ValueError(f"starting cash must be positive, got {starting_cash!r}")
        self._timestamp = np.asarray(timestamp, dtype=np.int64)
        self._session = np.asarray(session)
        self.starting_cash = float(starting_cash)
        self._cash, self._position = np.empty(n), np.empty(n)
        self._equity, self._drawdown_pct = np.empty(n), np.empty(n)
        self._exposed = np.empty(n, dtype=bool)
        self._peak = -np.inf
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def _close_rows(self, lo: int, stop: int) -> None:
        """The drawdowns of rows lo…stop, their equity marked (the peak carries over), then
        count them: last, as a reader counts only rows already written."""
        equity = self._equity[lo:stop]
        peak = np.maximum.accumulate(equity)
        np.maximum(peak, self._peak, out=peak)
        self._peak = float(peak[-1])
        drawdown_pct = self._drawdown_pct[lo:stop]
        np.divide(equity, peak, out=drawdown_pct)
        drawdown_pct -= 1
        drawdown_pct *= 100
        self._count = stop

    def curve(self) -> EquityCurve:
        """The rows marked so far (views: cheap, and valid while more are marked)."""
        n = self._count
        return EquityCurve(
            self._timestamp[:n],
            self._session[:n],
            self._cash[:n],
            self._position[:n],
            self._equity[:n],
            self._drawdown_pct[:n],
            self._exposed[:n],
            self.starting_cash,
        )


class EquityMarks(_Marks):
    """An equity curve marked bar by bar as a session plays (`mark`).

    Each bar's values are the same however the marking is cut into calls: the cash runs fill by
    fill from the last marked bar's (a running sum that starts over in every call would round
    differently), and the peak carries over."""

    def __init__(
        self, timestamp: np.ndarray, session: np.ndarray, close: np.ndarray, starting_cash: float
    ):
        if not len(session) == len(close) == len(timestamp):
            raise ValueError("timestamp, session and close must have one value per bar")
        super().__init__(timestamp, session, starting_cash)
        self._close = np.asarray(close, dtype=np.float64)

    def mark(
        self,
        stop: int,
        bar: np.ndarray,
        size: np.ndarray,
        price: np.ndarray,
        commission: np.ndarray,
    ) -> None:
        """Mark the bars from the first unmarked one to `stop` (excluded). `bar`, `size`,
        `price` and `commission` are the fills at those bars, in the order they happened: each
        at its bar's open, so the bar's close already sees it."""
        lo = self._count
        if len(bar) and (bar[0] < lo or bar[-1] >= stop):
            raise ValueError(f"fills must be at bars {lo}..{stop - 1}")
        if stop <= lo:
            return
        cash, position = self._cash[lo:stop], self._position[lo:stop]
        cash_before = self._cash[lo - 1] if lo else self.starting_cash
        position_before = self._position[lo - 1] if lo else 0.0
        if len(bar):
            cash_after = np.cumsum(np.concatenate(([cash_before], -size * price - commission)))
            position_after = np.cumsum(np.concatenate(([position_before], size)))
            # Each bar holds what the last fill at or before it left: the value before the
            # first fill up to its bar, then each fill's until the next one's bar.
            lasting = np.diff(np.concatenate(([lo], bar, [stop])))
            cash[:] = np.repeat(cash_after, lasting)
            position[:] = np.repeat(position_after, lasting)
        else:
            cash.fill(cash_before)
            position.fill(position_before)
        equity = self._equity[lo:stop]
        np.multiply(position, self._close[lo:stop], out=equity)
        equity += cash
        # Held at the bar's open (the previous close's position), at its close, or in between: a
        # bar with a fill is inside a round trip even when it opens and closes it at once.
        exposed = self._exposed[lo:stop]
        np.not_equal(position, 0, out=exposed)
        exposed[1:] |= exposed[:-1]  # numpy reads overlapping operands as copies
        exposed[0] |= position_before != 0
        exposed[bar - lo] = True
        self._close_rows(lo, stop)


class PortfolioMarks(_Marks):
    """The account of several symbols, marked at every close of any of them, from each
    symbol's own marks (`EquityMarks` of its fills at its bars, each from the same starting
    cash): the cash is the starting cash plus every symbol's cash flows, the equity that plus
    every position at its symbol's last close. A symbol with no bar at an instant counts with
    its last one (none yet: nothing held)."""

    def __init__(
        self, timestamps: Sequence[np.ndarray], sessions: Sequence[np.ndarray], starting_cash: float
    ):
        """`timestamps` and `sessions`: each symbol's bar starts and session labels."""
        stamps, first = np.unique(np.concatenate(timestamps), return_index=True)
        super().__init__(stamps, np.concatenate(sessions)[first], starting_cash)
        self._stamps = tuple(np.asarray(t, dtype=np.int64) for t in timestamps)
        # Each symbol's last bar at or before each instant (-1: none yet).
        self._last = tuple(np.searchsorted(t, stamps, side="right") - 1 for t in self._stamps)

    def mark(self, parts: Sequence[EquityCurve]) -> None:
        """Mark every instant that all of `parts` (each symbol's marks so far, in the order
        given at the start) have passed."""
        lo = self._count
        stop = min(
            int(np.searchsorted(last, len(part), side="left"))
            for last, part in zip(self._last, parts, strict=True)
        )
        if stop <= lo:
            return
        start = self.starting_cash
        cash, equity = self._cash[lo:stop], self._equity[lo:stop]
        position, exposed = self._position[lo:stop], self._exposed[lo:stop]
        cash.fill(start)
        equity.fill(start)
        position.fill(0.0)
        exposed.fill(False)
        when = self._timestamp[lo:stop]
        for last, part, stamps in zip(self._last, parts, self._stamps, strict=True):
            held = np.flatnonzero(last[lo:stop] >= 0)
            bar = last[lo:stop][held]
            cash[held] += part.cash[bar] - start
            equity[held] += part.equity[bar] - start
            position[held] += part.position[bar]
            # At its own bar, its exposure; between its bars, whether it holds shares.
            exposed[held] |= np.where(
                stamps[bar] == when[held], part.exposed[bar], part.position[bar] != 0
            )
        self._close_rows(lo, stop)


def equity_curve(
    timestamp: np.ndarray,
    session: np.ndarray,
    close: np.ndarray,
    fills: Fills,
    starting_cash: float,
) -> EquityCurve:
    """The account over the bars (`timestamp`, `session` labels, `close` per bar) given its
    fills, each at the open of its bar, so the bar's close already sees it."""
    marks = EquityMarks(timestamp, session, close, starting_cash)
    marks.mark(len(timestamp), fills.bar, fills.size, fills.price, fills.commission)
    return marks.curve()
