"""Stored bars for tests that need a store with something in it, and bars whose values are a
function of their timestamps (any two chunks of them agree) for the store's own tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import Session, calendar_for
from engine.market.schema import bars_frame
from engine.market.store import BarStore
from engine.session.bars import NS, SessionBars

FIRST, LAST = "2024-03-04", "2024-03-15"
CAL = calendar_for()


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


def synthetic_session_bars(first: str, last: str, symbol: str = "AAPL") -> SessionBars:
    """The simulated gateway's 1m bars of `symbol` over the sessions first…last (cents), as a
    session reads them."""
    days = sessions(first, last)
    bars = SyntheticMarket(CAL).bars(symbol, 60, days[0].open, days[-1].close)
    prices = np.vstack([bars.open, bars.high, bars.low, bars.close, bars.volume])
    return SessionBars.from_arrays(symbol, "1m", days, bars.start * NS, prices)


def sessions(first: str, last: str) -> list[Session]:
    return CAL.sessions_for_dates(pd.Timestamp(first), pd.Timestamp(last))


def frame_at(stamps: pd.DatetimeIndex, bump: float = 0.0) -> pd.DataFrame:
    """Bars whose values are a function of their timestamp: any two chunks agree."""
    minutes = stamps.as_unit("ns").asi8 // (60 * 10**9)
    base = 100.0 + (minutes % 5000) / 100
    return bars_frame(
        stamps,
        {
            "open": base,
            "high": base + 0.5,
            "low": base - 0.5,
            "close": base + 0.25 + bump,
            "volume": (minutes % 997) * 10.0,
        },
    )


def bars_for(session_list: list[Session], bar_seconds: int = 60) -> pd.DataFrame:
    return frame_at(CAL.bar_starts(session_list, bar_seconds))
