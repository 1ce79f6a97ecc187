"""A run's statistics with DESIGN.md's names and definitions ("Results").

DESIGN.md defines: daily returns r, session close to session close of the equity (the first
session's close is the base, as backtesting.py resamples); `sharpe` = mean(r) / std(r, ddof 1)
* sqrt(252); `sortino` = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(252); `calmar` = `cagr_pct` /
|`max_drawdown_pct`|; `max_drawdown_pct` on the per-bar equity; `exposure_pct` the share of bars
with a position open. The rest follow backtesting.py's definitions (read, not copied):
- `return_pct` on the starting cash; `buy_hold_return_pct` from the first bar's close (we know
  no indicator warm-up, backtesting.py starts after its indicators' warm-up);
- `cagr_pct` over the calendar time from the first bar to the last, in years of 365.25 days;
- `volatility_pct`: the variance (ddof 1) and geometric mean g of r compounded over 252 days,
  sqrt((var + (1 + g)^2)^252 - (1 + g)^504);
- drawdown periods run from a peak to the bar back at it (or to the last bar): their deepest
  points average to `avg_drawdown_pct`, their longest is `max_drawdown_duration_days`;
- per trade (the open one included, at the last close): `win_rate_pct` the share with pnl > 0,
  `best/worst_trade_pct` of return_pct, `avg_trade_pct` their geometric mean, `profit_factor`
  the sum of winning returns over the sum of losing ones, `expectancy_pct` the mean return,
  `sqn` = sqrt(trades) * mean(pnl) / std(pnl, ddof 1).
A statistic with nothing to divide by (no trades, no losing trade, no drawdown, a flat equity,
a return of -100% or worse in a geometric mean) is NaN; `to_json()` writes NaN and infinities
(the CAGR of a run of minutes) as null.

Where backtesting.py differs, on purpose: its Sharpe, Sortino and Calmar use its annualised
geometric return (DESIGN.md defines its own); it leaves a trade still open at the end out of
its trade statistics and its exposure (DESIGN.md closes it at the last close and counts it);
its geometric means give 0 where they are undefined (NaN here); and it drops a drawdown that
begins on the very last bar (counted here).

No library does the ratios: empyrical-reloaded's Sharpe and Sortino match these definitions,
but it brings scipy, bottleneck and peewee (and quantstats matplotlib and seaborn) for a few
lines of numpy, and neither defines calmar, CAGR or drawdowns the way DESIGN.md does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from engine.results.equity import EquityCurve
from engine.results.trades import Trades

TRADING_DAYS = 252
YEAR_NS = 365.25 * 86_400 * 10**9
DAY_NS = 86_400 * 10**9


@dataclass(frozen=True)
class Statistics:
    """DESIGN.md's statistics, in its order (the order of `--json` and the report)."""

    return_pct: float
    buy_hold_return_pct: float
    cagr_pct: float
    volatility_pct: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown_pct: float
    avg_drawdown_pct: float
    max_drawdown_duration_days: float
    exposure_pct: float
    trades: int
    win_rate_pct: float
    best_trade_pct: float
    worst_trade_pct: float
    avg_trade_pct: float
    profit_factor: float
    expectancy_pct: float
    sqn: float
    commissions: float
    final_equity: float
    peak_equity: float

    def to_json(self) -> dict[str, float | int | None]:
        """The statistics by name in DESIGN.md's order, as JSON carries them: NaN (undefined)
        and infinities become None (null)."""
        return {
            name: value if isinstance(value, int) else _finite_or_none(value)
            for name, value in asdict(self).items()
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def statistics(curve: EquityCurve, trades: Trades, close: np.ndarray) -> Statistics:
    """The statistics of a run: its equity curve, its trades and the closes it traded on."""
    if not len(curve):
        raise ValueError("statistics need at least one bar")
    equity = curve.equity
    start = curve.starting_cash
    final = float(equity[-1])
    years = (int(curve.timestamp[-1]) - int(curve.timestamp[0])) / YEAR_NS
    cagr_pct = 100 * (_power(final / start, 1 / years) - 1) if years else math.nan
    returns = daily_returns(curve)
    max_drawdown_pct = float(curve.drawdown_pct.min())
    depths, durations = drawdown_periods(curve)
    trade_returns = trades.return_pct / 100
    wins = trade_returns[trade_returns > 0].sum()
    losses = -trade_returns[trade_returns < 0].sum()
    return Statistics(
        return_pct=(final - start) / start * 100,
        buy_hold_return_pct=float((close[-1] - close[0]) / close[0] * 100),
        cagr_pct=cagr_pct,
        volatility_pct=_volatility(returns) * 100,
        sharpe=sharpe(returns),
        sortino=sortino(returns),
        calmar=_ratio(cagr_pct, abs(max_drawdown_pct)),
        max_drawdown_pct=max_drawdown_pct,
        avg_drawdown_pct=_mean(depths),
        max_drawdown_duration_days=float(durations.max()) / DAY_NS if len(durations) else math.nan,
        exposure_pct=curve.exposure_pct,
        trades=len(trades),
        win_rate_pct=_mean(trades.pnl > 0) * 100,
        best_trade_pct=float(trades.return_pct.max()) if len(trades) else math.nan,
        worst_trade_pct=float(trades.return_pct.min()) if len(trades) else math.nan,
        avg_trade_pct=_geometric_mean(trade_returns) * 100,
        profit_factor=_ratio(wins, losses),
        expectancy_pct=_mean(trade_returns) * 100,
        sqn=_ratio(math.sqrt(len(trades)) * _mean(trades.pnl), _std(trades.pnl)),
        commissions=float(trades.commission.sum()),
        final_equity=final,
        peak_equity=float(equity.max()),
    )


def daily_returns(curve: EquityCurve) -> np.ndarray:
    """The equity's returns from each session's last bar to the next session's last bar."""
    last_bars = np.flatnonzero(np.r_[curve.session[1:] != curve.session[:-1], True])
    closes = curve.equity[last_bars]
    return closes[1:] / closes[:-1] - 1


def sharpe(returns: np.ndarray) -> float:
    return _ratio(_mean(returns), _std(returns)) * math.sqrt(TRADING_DAYS)


def sortino(returns: np.ndarray) -> float:
    downside = math.sqrt(_mean(np.minimum(returns, 0) ** 2))
    return _ratio(_mean(returns), downside) * math.sqrt(TRADING_DAYS)


def drawdown_periods(curve: EquityCurve) -> tuple[np.ndarray, np.ndarray]:
    """Each drawdown's deepest drawdown_pct and its duration in ns, from the bar of the peak
    to the bar back at the peak, or to the last bar while still below it."""
    below = curve.drawdown_pct < 0
    edges = np.diff(np.r_[0, below.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    if not len(starts):
        return np.empty(0), np.empty(0, dtype=np.int64)
    ends = np.flatnonzero(edges == -1)  # the first bar back at the peak, or one past the last
    depths = np.minimum.reduceat(curve.drawdown_pct, starts)  # bars between periods are 0
    stamps = curve.timestamp
    # Bar 0 is its own peak, so a drawdown starts at bar 1 at the earliest.
    durations = stamps[np.minimum(ends, len(stamps) - 1)] - stamps[starts - 1]
    return depths, durations


def _volatility(returns: np.ndarray) -> float:
    growth = 1 + _geometric_mean(returns)
    variance = float(np.var(returns, ddof=1)) if len(returns) > 1 else math.nan
    # Huge swings overflow to inf, and inf - inf is nan: the volatility is then undefined.
    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.float64(variance + growth**2) ** TRADING_DAYS - np.float64(growth) ** (
            2 * TRADING_DAYS
        )
    return math.sqrt(max(spread, 0.0)) if not math.isnan(spread) else math.nan


def _geometric_mean(returns: np.ndarray) -> float:
    if not len(returns) or np.any(returns <= -1):
        return math.nan
    return math.expm1(float(np.log1p(returns).mean()))


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def _std(values: np.ndarray) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else math.nan


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN where the denominator is 0 or undefined."""
    if denominator == 0 or math.isnan(denominator):
        return math.nan
    return float(numerator / denominator)


def _power(base: float, exponent: float) -> float:
    if base < 0:
        return math.nan
    with np.errstate(over="ignore"):  # a run of minutes compounds to inf: not a number to show
        return float(np.float64(base) ** exponent)
