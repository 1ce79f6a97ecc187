"""Session dates as a user types them, checked against the calendar: one rule for loads,
backtests and the CLI's arguments. Each problem is `error` with the one line the user sees.

Import-light (pandas loads when a date is turned into a session date): the CLI checks its
arguments with `date_text` before anything heavy loads."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from engine.market.calendar import Session, TradingCalendar

_DATE_FIRST = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def date_text(text: str, error: type[Exception] = ValueError, name: str = "") -> datetime:
    """`text` read as `YYYY-MM-DD` or an ISO datetime (naive, or with an offset or Z), or
    `error` with the one line the user sees, after `name` (the field's) when given."""
    stripped = text.strip()
    try:
        moment = datetime.fromisoformat(stripped) if _DATE_FIRST.match(stripped) else None
    except ValueError:
        moment = None
    if moment is None:
        raise error(f"{name} {text!r} is not a date (YYYY-MM-DD) or an ISO datetime".lstrip())
    return moment


def session_date(
    text: str, name: str, calendar: TradingCalendar, error: type[Exception] = ValueError
) -> pd.Timestamp:
    """`YYYY-MM-DD` is a session date; an ISO datetime counts by its date on the exchange
    (naive datetimes are exchange time)."""
    import pandas as pd

    moment = pd.Timestamp(date_text(text, error, name))
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
