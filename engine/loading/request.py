"""What a user asks to load, checked before anything is sent or written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from engine.loading.planner import LoadMode
from engine.market.calendar import CALENDAR_START, TradingCalendar
from engine.market.dates import session_date, sessions_in
from engine.market.symbols import check_symbol
from engine.market.timeframes import check_timeframe


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
    names = tuple(dict.fromkeys(check_symbol(s.strip(), LoadInputError) for s in symbols))
    if not names:
        raise LoadInputError("no symbol given")
    check_timeframe(timeframe, LoadInputError)
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
    first_day = session_date(start, "start", calendar, LoadInputError)
    last_day = session_date(end, "end", calendar, LoadInputError) if end else last_done.date
    floor = pd.Timestamp(CALENDAR_START)
    if first_day < floor:
        raise LoadInputError(f"start {first_day:%Y-%m-%d} is before {CALENDAR_START}")
    for day, name in ((first_day, "start"), (last_day, "end")):
        if day > last_done.date:
            raise LoadInputError(
                f"{name} {day:%Y-%m-%d} is in the future: the last completed session is "
                f"{last_done.date:%Y-%m-%d}"
            )
    sessions = sessions_in(calendar, first_day, last_day, LoadInputError)
    return LoadRequest(
        names,
        timeframe,
        f"{sessions[0].date:%Y-%m-%d}",
        f"{sessions[-1].date:%Y-%m-%d}",
        load_mode,
    )
