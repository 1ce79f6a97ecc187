"""The statistics (DESIGN.md, "Results"): Sharpe, Sortino and Calmar equal a direct numpy
computation of DESIGN.md's definitions on random equity over random sessions; the trade and
drawdown statistics on small cases worked out by hand; and `to_json()` carries DESIGN.md's keys
in its order, with null where a statistic is undefined."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.results import Fills, equity_curve, round_trips, statistics
from tests.support.results import DAY_NS, FIRST_DAY, accounts, daily_stamps

CASH = 100_000.0
MINUTE_NS = 60 * 10**9
DESIGN_KEYS = [
    "return_pct",
    "buy_hold_return_pct",
    "cagr_pct",
    "volatility_pct",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown_pct",
    "avg_drawdown_pct",
    "max_drawdown_duration_days",
    "exposure_pct",
    "trades",
    "win_rate_pct",
    "best_trade_pct",
    "worst_trade_pct",
    "avg_trade_pct",
    "profit_factor",
    "expectancy_pct",
    "sqn",
    "commissions",
    "final_equity",
    "peak_equity",
]


def run(close, fills, session, stamps):
    close = np.asarray(close, dtype=np.float64)
    curve = equity_curve(stamps, session, close, fills, CASH)
    trades = round_trips(fills, stamps, close, "T")
    return curve, statistics(curve, trades, close)


@st.composite
def sessions(draw, n):
    """Session labels for n bars (1 to 5 bars a session, labels with gaps as calendar indices
    have), and bar times: a minute apart within a session, a day apart between sessions."""
    sizes = []
    while sum(sizes) < n:
        sizes.append(draw(st.integers(1, 5)))
    labels = np.cumsum(draw(st.lists(st.integers(1, 3), min_size=len(sizes), max_size=len(sizes))))
    session = np.repeat(labels, sizes)[:n]
    within = np.concatenate([np.arange(size) for size in sizes])[:n]
    return session, FIRST_DAY + session * DAY_NS + within * MINUTE_NS


def design(equity: np.ndarray, session: np.ndarray, stamps: np.ndarray) -> dict[str, float]:
    """DESIGN.md's sharpe, sortino and calmar, written out from its words with numpy/pandas;
    NaN where there is nothing to divide by."""
    daily = pd.Series(equity).groupby(session).last().to_numpy()  # each session's close
    r = np.diff(daily) / daily[:-1]
    spread = r.std(ddof=1) if len(r) > 1 else 0.0
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2)) if len(r) else 0.0
    years = (stamps[-1] - stamps[0]) / DAY_NS / 365.25
    with np.errstate(over="ignore"):  # minutes of doubling: inf
        cagr_pct = ((equity[-1] / CASH) ** (1 / years) - 1) * 100 if years else math.nan
    max_drawdown_pct = (equity / np.maximum.accumulate(equity) - 1).min() * 100
    return {
        "sharpe": r.mean() / spread * np.sqrt(252) if spread else math.nan,
        "sortino": r.mean() / downside * np.sqrt(252) if downside else math.nan,
        "calmar": cagr_pct / abs(max_drawdown_pct) if max_drawdown_pct else math.nan,
        "max_drawdown_pct": max_drawdown_pct,
    }


@settings(max_examples=200)
@given(st.data())
def test_sharpe_sortino_and_calmar_are_designs_definitions(data):
    close, fills = data.draw(accounts())
    session, stamps = data.draw(sessions(len(close)))
    curve, stats = run(close, fills, session, stamps)
    expected = design(curve.equity, session, stamps)
    for name, value in expected.items():
        assert getattr(stats, name) == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), name


def test_daily_returns_run_from_each_sessions_last_bar():
    # Three sessions of three 1m bars; 100 shares bought at bar 0's open of 10.
    close = [10, 11, 12, 12, 13, 11, 11, 14, 15]
    session = np.repeat([4, 5, 7], 3)
    stamps = FIRST_DAY + session * DAY_NS + np.tile(np.arange(3), 3) * MINUTE_NS
    curve, stats = run(close, Fills.of([0], [100], [10.0]), session, stamps)
    closes = CASH + 100 * (np.array([12.0, 11.0, 15.0]) - 10)  # 100,200 100,100 100,500
    r = closes[1:] / closes[:-1] - 1
    assert stats.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
    assert stats.sortino == pytest.approx(r.mean() / math.sqrt(r[0] ** 2 / 2) * math.sqrt(252))
    assert curve.exposure_pct == 100


def test_trade_statistics_by_hand():
    # Four long trades of 100 shares, each bought at 10: sold at 12 (+20%), at 9 (-10%), at 10.5
    # (+5%), and one bought on the last bar, still open at its close of 9 (-10%).
    close = [10, 12, 10, 9, 10, 10.5, 10, 9]
    fills = Fills.of(
        [1, 2, 2, 3, 4, 5, 7],
        [100, -100, 100, -100, 100, -100, 100],
        [10.0, 12.0, 10.0, 9.0, 10.0, 10.5, 10.0],
    )
    curve, stats = run(close, fills, np.arange(len(close)), daily_stamps(len(close)))
    equity = CASH + np.array([0, 200, 200, 100, 100, 150, 150, 50])
    np.testing.assert_allclose(curve.equity, equity)
    returns = np.array([0.2, -0.1, 0.05, -0.1])
    pnl = returns * 1000
    assert stats.trades == 4
    assert stats.win_rate_pct == 50
    assert stats.best_trade_pct == pytest.approx(20)
    assert stats.worst_trade_pct == pytest.approx(-10)
    assert stats.avg_trade_pct == pytest.approx((np.prod(1 + returns) ** (1 / 4) - 1) * 100)
    assert stats.profit_factor == pytest.approx(0.25 / 0.2)
    assert stats.expectancy_pct == pytest.approx(1.25)
    assert stats.sqn == pytest.approx(2 * pnl.mean() / pnl.std(ddof=1))
    assert stats.exposure_pct == 75  # held in bars 1-5 and 7: entry to exit bar, inclusive
    assert stats.return_pct == pytest.approx(0.05)
    assert stats.buy_hold_return_pct == pytest.approx(-10)
    assert stats.cagr_pct == pytest.approx(((CASH + 50) / CASH) ** (365.25 / 7) * 100 - 100)
    # One drawdown, from the peak of 100,200 (bar 2) to the end, 5 days later: 100,050 at worst.
    assert stats.max_drawdown_pct == pytest.approx((100_050 / 100_200 - 1) * 100)
    assert stats.avg_drawdown_pct == stats.max_drawdown_pct
    assert stats.max_drawdown_duration_days == 5
    assert stats.final_equity == CASH + 50 and stats.peak_equity == CASH + 200
    assert stats.commissions == 0


def test_drawdown_periods_by_hand():
    # 100 shares from bar 0 at 10: equity 100,000 + 100 * (close - 10).
    close = [10, 9, 11, 10, 10.5, 12, 11]
    _, stats = run(close, Fills.of([0], [100], [10.0]), np.arange(7), daily_stamps(7))
    # Below the peak in bars 1 (until bar 2), 3-4 (until bar 5), and 6 (to the end).
    depths = [-100 / 100_000, -100 / 100_100, -100 / 100_200]
    assert stats.avg_drawdown_pct == pytest.approx(np.mean(depths) * 100)
    assert stats.max_drawdown_pct == pytest.approx(-0.1)
    assert stats.max_drawdown_duration_days == 3  # bar 2 to bar 5


def test_json_carries_designs_keys_in_order_and_null_where_undefined():
    close = [10.0, 10.0, 10.0]
    _, stats = run(close, Fills.of([], [], []), np.arange(3), daily_stamps(3))
    values = stats.to_json()
    assert list(values) == DESIGN_KEYS
    json.dumps(values, allow_nan=False)  # strict JSON: no NaN
    undefined = {name for name, value in values.items() if value is None}
    assert undefined == {
        "sharpe",  # a flat equity: no spread of returns
        "sortino",
        "calmar",  # no drawdown
        "avg_drawdown_pct",
        "max_drawdown_duration_days",
        "win_rate_pct",  # no trades
        "best_trade_pct",
        "worst_trade_pct",
        "avg_trade_pct",
        "profit_factor",
        "expectancy_pct",
        "sqn",
    }
    assert values["trades"] == 0 and values["volatility_pct"] == 0
    assert values["return_pct"] == 0 and values["max_drawdown_pct"] == 0
    assert values["final_equity"] == values["peak_equity"] == CASH


def test_a_run_of_minutes_has_no_cagr_to_show():
    # Doubling in two minutes compounds past any float: JSON says null, not Infinity.
    stamps = FIRST_DAY + MINUTE_NS * np.arange(3)
    _, stats = run([10.0, 10.0, 20.0], Fills.of([0], [10_000], [10.0]), np.zeros(3), stamps)
    assert stats.cagr_pct == math.inf
    assert stats.to_json()["cagr_pct"] is None and stats.to_json()["calmar"] is None
