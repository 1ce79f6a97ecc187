"""The timeframes of DESIGN.md, the length of their bars and which ones a session derives from
another. Import-light: the CLI uses it."""

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
# Derived from the stored timeframe when they are whole multiples of it.
DERIVED_TIMEFRAMES = ("5m", "15m", "30m", "1h")


def check_timeframe(timeframe: str, error: type[Exception] = ValueError) -> str:
    """`timeframe`, or `error` with the one line every front end shows."""
    if timeframe not in TIMEFRAME_SECONDS:
        raise error(f"unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAMES)})")
    return timeframe


def derivable(timeframe: str) -> tuple[str, ...]:
    """The timeframes a session on `timeframe` derives."""
    base = TIMEFRAME_SECONDS[timeframe]
    if base == 0:
        return ()
    return tuple(
        tf
        for tf in DERIVED_TIMEFRAMES
        if TIMEFRAME_SECONDS[tf] > base and TIMEFRAME_SECONDS[tf] % base == 0
    )


def check_readable(wanted: str, stored: str, who: str, error: type[Exception] = ValueError) -> str:
    """`wanted` if a session on `stored` bars publishes it (itself or derived), else `error`
    naming `who` asked (a strategy)."""
    readable = (stored, *derivable(stored))
    if wanted not in readable:
        raise error(
            f"{who}: timeframe {wanted} cannot be read from {stored} bars "
            f"(choose from {', '.join(readable)})"
        )
    return wanted
