"""What a user asks to load, checked before anything is sent or written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from engine.loading.planner import LoadMode
from engine.market.calendar import CALENDAR_START, Session, TradingCalendar
from engine.market.timeframes import TIMEFRAMES

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,14}$")


class LoadInputError(ValueError):
    """Bad input: the message is the one line the user sees."""


@dataclass(frozen=True)
class LoadRequest:
    symbols: tuple[str, ...]
    timeframe: str
    start: str  # first session date of the range, YYYY-MM-DD
    end: str  # last session date, YYYY-MM-DD
    mode: LoadMode


def load_request(
    calendar: TradingCalendar,
    symbols: list[str],
    timeframe: str,
    start: str,
    end: str | None = None,
    mode: str = LoadMode.FULL,
    *,
    now: datetime,
) -> LoadRequest:
    """Check the request against the calendar: dates become the first and last session of the
    range; `end` defaults to the last completed session as of `now`."""
    names = tuple(dict.fromkeys(symbol.strip().upper() for symbol in symbols))
    for name in names:
        if not _SYMBOL.match(name):
            raise LoadInputError(f"{name!r} is not a symbol (letters, digits, '.' or '-')")
    if not names:
        raise LoadInputError("no symbol given")
    if timeframe not in TIMEFRAMES:
        raise LoadInputError(
            f"unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAMES)})"
        )
    try:
        load_mode = LoadMode(mode)
    except ValueError:
        modes = ", ".join(m.value for m in LoadMode)
        raise LoadInputError(f"unknown mode {mode!r} (choose from {modes})") from None
    now = pd.Timestamp(now)
    completed = calendar.sessions_between(now - pd.Timedelta(days=10), now)
    last_done = next((s for s in reversed(completed) if s.close <= now), None)
    if last_done is None:
        raise LoadInputError("no completed trading session in the last ten days")
    first_day = session_date(start, "start", calendar)
    last_day = session_date(end, "end", calendar) if end else last_done.date
    floor = pd.Timestamp(CALENDAR_START)
    if first_day < floor:
        raise LoadInputError(f"start {first_day:%Y-%m-%d} is before {CALENDAR_START}")
    for day, name in ((first_day, "start"), (last_day, "end")):
        if day > last_done.date:
            raise LoadInputError(
                f"{name} {day:%Y-%m-%d} is in the future: the last completed session is "
                f"{last_done.date:%Y-%m-%d}"
            )
    sessions = sessions_in(calendar, first_day, last_day)
    return LoadRequest(
        names,
        timeframe,
        f"{sessions[0].date:%Y-%m-%d}",
        f"{sessions[-1].date:%Y-%m-%d}",
        load_mode,
    )


def sessions_in(
    calendar: TradingCalendar, first_day: pd.Timestamp, last_day: pd.Timestamp
) -> list[Session]:
    """The sessions dated first_day..last_day; at least one, or a one-line error."""
    if last_day < first_day:
        raise LoadInputError(f"end {last_day:%Y-%m-%d} is before start {first_day:%Y-%m-%d}")
    sessions = calendar.sessions_for_dates(first_day, last_day)
    if not sessions:
        raise LoadInputError(
            f"no trading session between {first_day:%Y-%m-%d} and {last_day:%Y-%m-%d} "
            "(weekend or holiday)"
        )
    return sessions


def session_date(text: str, name: str, calendar: TradingCalendar) -> pd.Timestamp:
    """`YYYY-MM-DD` is a session date; an ISO datetime counts by its date on the exchange
    (naive datetimes are exchange time)."""
    try:
        moment = pd.Timestamp(text)
    except ValueError:
        moment = pd.NaT
    if moment is pd.NaT or not re.match(r"^\d{4}-\d{2}-\d{2}", text.strip()):
        raise LoadInputError(f"{name} {text!r} is not a date (YYYY-MM-DD) or an ISO datetime")
    if moment.tzinfo is not None:
        moment = moment.tz_convert(calendar.timezone).tz_localize(None)
    return moment.normalize()
