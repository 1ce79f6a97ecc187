"""The one line of an exception that a front end shows."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first non-blank line of the message, or the exception's type when it has none."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
