"""The trades and equity CSVs (DESIGN.md, "Results": `--trades-out`, `--equity-out`): their
columns, what a spreadsheet or pandas reads back, and atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from engine.results import (
    Fills,
    equity_curve,
    round_trips,
    trades_csv,
    write_equity_csv,
    write_trades_csv,
)
from tests.support.results import daily_stamps

CASH = 100_000.0
CLOSE = np.array([10.0, 11.0, 12.0, 11.5, 11.0])


@pytest.fixture
def run():
    # Long 100 at 10; sell 300 at 12: the long closes, 200 short stay open to the last close.
    stamps = daily_stamps(len(CLOSE))
    fills = Fills.of([1, 2], [100, -300], [10.0, 12.0], [1.0, 3.0], ["sma", "rsi"])
    curve = equity_curve(stamps, np.arange(len(CLOSE)), CLOSE, fills, CASH)
    return curve, round_trips(fills, stamps, CLOSE, "AAPL")


def test_the_trades_csv(run, tmp_path):
    _, trades = run
    path = tmp_path / "out" / "trades.csv"
    write_trades_csv(path, trades)
    assert path.read_text() == trades_csv(trades)
    assert path.read_text().splitlines() == [
        "symbol,strategy,side,size,entry_time,entry_price,exit_time,exit_price,"
        "pnl,return_pct,commission,duration,open",
        # 100 long 10 → 12, fees 1.0 + 1/3 of 3.0: pnl 198, 19.8% of 1,000.
        "AAPL,sma,long,100,2024-01-03T00:00:00Z,10.0000,2024-01-04T00:00:00Z,12.0000,"
        "198.0000,19.8000,2.0000,1 days 00:00:00,false",
        # 200 short at 12, open at the last close of 11, entry fee 2.0: pnl 198, 8.25% of 2,400.
        "AAPL,rsi,short,200,2024-01-04T00:00:00Z,12.0000,2024-01-06T00:00:00Z,11.0000,"
        "198.0000,8.2500,2.0000,2 days 00:00:00,true",
    ]
    frame = pd.read_csv(path)
    assert pd.to_timedelta(frame.duration).dt.days.tolist() == [1, 2]
    assert frame.open.tolist() == [False, True]


def test_the_equity_csv(run, tmp_path):
    curve, _ = run
    path = tmp_path / "equity.csv"
    write_equity_csv(path, curve)
    frame = pd.read_csv(path)
    assert frame.columns.tolist() == ["timestamp", "equity", "cash", "drawdown_pct"]
    assert frame.timestamp.tolist()[:2] == ["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"]
    np.testing.assert_allclose(frame.equity, curve.equity, atol=5e-5)
    np.testing.assert_allclose(frame.cash, curve.cash, atol=5e-5)
    np.testing.assert_allclose(frame.drawdown_pct, curve.drawdown_pct, atol=5e-5)
    assert len(frame) == len(CLOSE)


def test_a_failed_write_leaves_the_previous_file_whole(run, tmp_path, monkeypatch):
    _, trades = run
    path = tmp_path / "trades.csv"
    path.write_text("the previous export\n")

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_trades_csv(path, trades)
    assert path.read_text() == "the previous export\n"
    assert os.listdir(tmp_path) == ["trades.csv"]  # no temp file left behind
