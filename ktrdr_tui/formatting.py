"""Text for numbers the CLI and the app both show. Import-light: no pandas."""

from __future__ import annotations

import math


def duration(seconds: float | None) -> str:
    """`mm:ss` or `h:mm:ss`; `--:--` while there is nothing meaningful to show."""
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes:02}:{secs:02}"


def progress_bar(percent: float, width: int = 12) -> str:
    """A bar of `width` cells and the percentage, e.g. `━━━━━━╸───── 52%`."""
    filled = max(0.0, min(percent, 100.0)) / 100 * width
    whole = int(filled)
    half = "╸" if filled - whole >= 0.5 and whole < width else ""
    bar = "━" * whole + half
    return f"{bar}{'─' * (width - len(bar))} {percent:>3.0f}%"


def file_size(size_bytes: int) -> str:
    """`512 B`, `40.1 kB`, `3.2 MB`: never `0.0 MB` for a small file."""
    size, unit = float(size_bytes), "B"
    for bigger in ("kB", "MB", "GB", "TB"):
        if size < 1000:
            break
        size, unit = size / 1000, bigger
    return f"{size_bytes} B" if unit == "B" else f"{size:.1f} {unit}"


def plural(count: int, noun: str, nouns: str = "") -> str:
    """`1 signal`, `1,234 signals`, `0 signals`: the count and the noun that agrees with it
    (`nouns` for one whose plural is not noun + s: `plural(2, "batch", "batches")`)."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


# A run's statistics (DESIGN.md, "Results") in its order: (name, label, kind of value).
STATISTICS = (
    ("return_pct", "Return", "signed %"),
    ("buy_hold_return_pct", "Buy & hold return", "signed %"),
    ("cagr_pct", "CAGR", "signed %"),
    ("volatility_pct", "Volatility (ann.)", "%"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("calmar", "Calmar ratio", "ratio"),
    ("max_drawdown_pct", "Max. drawdown", "%"),
    ("avg_drawdown_pct", "Avg. drawdown", "%"),
    ("max_drawdown_duration_days", "Max. DD duration", "days"),
    ("exposure_pct", "Exposure time", "%"),
    ("trades", "Trades", "count"),
    ("win_rate_pct", "Win rate", "%"),
    ("best_trade_pct", "Best trade", "signed %"),
    ("worst_trade_pct", "Worst trade", "signed %"),
    ("avg_trade_pct", "Avg. trade", "signed %"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy_pct", "Expectancy", "signed %"),
    ("sqn", "SQN", "ratio"),
    ("commissions", "Commissions", "money"),
    ("final_equity", "Final equity", "money"),
    ("peak_equity", "Peak equity", "money"),
)
UNDEFINED = "—"


def statistic(value: float, kind: str) -> str:
    """A statistic as shown (`kind` from STATISTICS): `+12.34%`, `14.20%`, `1.23`,
    `41.0 days`, `12`, `101,234.56`; `—` for one that is undefined (NaN) or infinite."""
    if not math.isfinite(value):
        return UNDEFINED
    if kind == "signed %":
        return f"{value:+,.2f}%"
    if kind == "%":
        return f"{value:,.2f}%"
    if kind == "days":
        return f"{value:,.1f} days"
    if kind == "count":
        return f"{value:,.0f}"
    return f"{value:,.2f}"  # a ratio, money
