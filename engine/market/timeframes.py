"""The timeframes of DESIGN.md and the length of their bars. Import-light: the CLI uses it."""

from __future__ import annotations

# Bar length in seconds; 0 for daily bars (one bar per session, whatever its length).
TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "4h": 14400,
    "1d": 0,
}
TIMEFRAMES = tuple(TIMEFRAME_SECONDS)


def check_timeframe(timeframe: str) -> str:
    if timeframe not in TIMEFRAME_SECONDS:
        raise ValueError(f"unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAMES)})")
    return timeframe
