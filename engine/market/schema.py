"""The bar columns every part of the engine exchanges (DESIGN.md, on-disk formats)."""

from __future__ import annotations

import pandas as pd

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
BAR_COLUMNS = ("timestamp", *PRICE_COLUMNS)


def bars_frame(timestamps: pd.DatetimeIndex, columns: dict[str, object]) -> pd.DataFrame:
    """A frame in the store's schema: `timestamp` (ns, UTC, bar start) then float64 OHLCV."""
    frame = pd.DataFrame({"timestamp": timestamps.as_unit("ns").tz_convert("UTC")})
    for name in PRICE_COLUMNS:
        frame[name] = pd.array(columns[name], dtype="float64")
    return frame
