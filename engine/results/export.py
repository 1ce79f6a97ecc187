"""The trades and equity CSVs of DESIGN.md ("Results": `--trades-out`, `--equity-out`), written
atomically. Times are ISO UTC like the signals CSV; money and prices carry 4 decimals."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from engine.core.atomic import write_atomic
from engine.results.equity import EquityCurve
from engine.results.trades import Trades

TRADE_COLUMNS = (
    "symbol",
    "strategy",
    "side",
    "size",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "pnl",
    "return_pct",
    "commission",
    "duration",
    "open",
)
EQUITY_COLUMNS = ("timestamp", "equity", "cash", "drawdown_pct")


def trades_csv(trades: Trades) -> str:
    """One row per trade; `duration` as pandas writes a Timedelta (`53 days 00:00:00`), which
    `pd.to_timedelta` reads back."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    rows = zip(
        trades.symbol.tolist(),
        trades.strategy.tolist(),
        trades.side.tolist(),
        trades.size.tolist(),
        _iso(trades.entry_time),
        trades.entry_price.tolist(),
        _iso(trades.exit_time),
        trades.exit_price.tolist(),
        trades.pnl.tolist(),
        trades.return_pct.tolist(),
        trades.commission.tolist(),
        trades.duration.tolist(),
        trades.open.tolist(),
        strict=True,
    )
    for symbol, strategy, side, size, entry, entry_price, exit_, exit_price, *rest in rows:
        pnl, return_pct, commission, duration, is_open = rest
        writer.writerow(
            (
                symbol,
                strategy,
                "long" if side > 0 else "short",
                f"{size:g}",
                entry,
                f"{entry_price:.4f}",
                exit_,
                f"{exit_price:.4f}",
                f"{pnl:.4f}",
                f"{return_pct:.4f}",
                f"{commission:.4f}",
                str(pd.Timedelta(duration)),
                "true" if is_open else "false",
            )
        )
    return out.getvalue()


def equity_csv(curve: EquityCurve) -> str:
    """One row per bar. Formatted by one str.format per row: for the ~500k rows of a 5-year 1m
    run that is several times faster than pandas' to_csv or a csv.writer loop."""
    rows = map(
        "{},{:.4f},{:.4f},{:.4f}\n".format,
        _iso(curve.timestamp).tolist(),
        curve.equity.tolist(),
        curve.cash.tolist(),
        curve.drawdown_pct.tolist(),
    )
    return ",".join(EQUITY_COLUMNS) + "\n" + "".join(rows)


def write_trades_csv(path: Path, trades: Trades) -> None:
    write_atomic(path, trades_csv(trades).encode())


def write_equity_csv(path: Path, curve: EquityCurve) -> None:
    write_atomic(path, equity_csv(curve).encode())


def _iso(stamps: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(stamps.astype("M8[ns]"), unit="s", timezone="UTC")
