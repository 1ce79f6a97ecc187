"""Session dates as a user types them, checked against the calendar: one rule for loads and
backtests. Each problem is `error` with the one line the user sees."""

from __future__ import annotations

import re

import pandas as pd

from engine.market.calendar import Session, TradingCalendar


def session_date(
    text: str, name: str, calendar: TradingCalendar, error: type[Exception] = ValueError
) -> pd.Timestamp:
    """`YYYY-MM-DD` is a session date; an ISO datetime counts by its date on the exchange
    (naive datetimes are exchange time)."""
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        moment = pd.NaT
    if moment is pd.NaT or not re.match(r"^\d{4}-\d{2}-\d{2}", text.strip()):
        raise error(f"{name} {text!r} is not a date (YYYY-MM-DD) or an ISO datetime")
    if moment.tzinfo is not None:
        moment = moment.tz_convert(calendar.timezone).tz_localize(None)
    return moment.normalize()


def sessions_in(
    calendar: TradingCalendar,
    first_day: pd.Timestamp,
    last_day: pd.Timestamp,
    error: type[Exception] = ValueError,
) -> list[Session]:
    """The sessions dated first_day..last_day; at least one, or `error`."""
    if last_day < first_day:
        raise error(f"end {last_day:%Y-%m-%d} is before start {first_day:%Y-%m-%d}")
    sessions = calendar.sessions_for_dates(first_day, last_day)
    if not sessions:
        raise error(
            f"no trading session between {first_day:%Y-%m-%d} and {last_day:%Y-%m-%d} "
            "(weekend or holiday)"
        )
    return sessions
