"""Text for numbers the CLI and the app both show. Import-light: no pandas."""

from __future__ import annotations


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


def plural(count: int, noun: str) -> str:
    """`1 signal`, `1,234 signals`, `0 signals`: the count and the noun that agrees with it."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
