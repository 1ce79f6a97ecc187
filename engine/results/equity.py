"""The account per bar (DESIGN.md, "Results"): cash, position and equity marked at every bar's
close, and the drawdown from the running peak, as numpy columns.

A 5-year 1m run has ~500k bars: one object per bar would be megabytes of garbage-collector work
(see engine/session/logs.py), so the curve is a few cumulative sums over the fills.
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


def equity_curve(
    timestamp: np.ndarray,
    session: np.ndarray,
    close: np.ndarray,
    fills: Fills,
    starting_cash: float,
) -> EquityCurve:
    """The account over the bars (`timestamp`, `session` labels, `close` per bar) given its
    fills, each at the open of its bar, so the bar's close already sees it."""
    n = len(timestamp)
    if not len(session) == len(close) == n:
        raise ValueError("timestamp, session and close must have one value per bar")
    if len(fills) and (fills.bar[0] < 0 or fills.bar[-1] >= n):
        raise ValueError(f"fills must be at bars 0..{n - 1}")
    if not starting_cash > 0:
        raise ValueError(f"starting cash must be positive, got {starting_cash!r}")
    flows = -fills.size * fills.price - fills.commission
    cash = starting_cash + np.cumsum(np.bincount(fills.bar, weights=flows, minlength=n))
    position = np.cumsum(np.bincount(fills.bar, weights=fills.size, minlength=n))
    equity = cash + position * close
    peak = np.maximum.accumulate(equity)
    drawdown_pct = (equity / peak - 1) * 100
    # Held at the bar's open (the previous close's position), at its close, or in between: a
    # bar with a fill is inside a round trip even when it opens and closes it at once.
    held = position != 0
    exposed = held | np.r_[False, held][:-1]
    exposed[fills.bar] = True
    return EquityCurve(
        np.asarray(timestamp, dtype=np.int64),
        np.asarray(session),
        cash,
        position,
        equity,
        drawdown_pct,
        exposed,
        float(starting_cash),
    )
