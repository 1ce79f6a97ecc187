"""Stored bars for tests that need a store with something in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.market.schema import bars_frame
from engine.market.store import BarStore

FIRST, LAST = "2024-03-04", "2024-03-15"


def store_bars(data_dir: Path, drop: slice | None = None, symbol: str = "AAPL") -> int:
    """Ten sessions of `symbol`'s 1m bars in the store (minus `drop`); returns how many."""
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp(FIRST), pd.Timestamp(LAST))
    bars = SyntheticMarket(calendar).bars(symbol, 60, sessions[0].open, sessions[-1].close)
    keep = np.ones(len(bars), bool)
    if drop is not None:
        keep[drop] = False
    columns = {name: getattr(bars, name)[keep] for name in ("open", "high", "low", "close")}
    frame = bars_frame(
        pd.DatetimeIndex(bars.start[keep] * 10**9, tz="UTC"),
        {**columns, "volume": bars.volume[keep]},
    )
    BarStore(data_dir, calendar).merge(symbol, "1m", frame)
    return int(keep.sum())
