"""What a user asks to play back, checked against the calendar and the store before any bar is
read: every problem is one line that says what is stored and which `load` would fetch the rest."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from engine.loading.request import LoadInputError, session_date, sessions_in
from engine.market.calendar import TradingCalendar
from engine.market.store import BarStore, DatasetSummary, StoreError
from engine.market.timeframes import TIMEFRAME_SECONDS, TIMEFRAMES
from engine.session.bars import read_session_bars
from engine.session.decisions import RiskRules
from engine.session.playback import PlaybackSession, WallClock
from engine.session.series import derivable
from engine.session.strategies import StrategySpec, StrategySpecError

_STORED_SHOWN = 5


class BacktestInputError(ValueError):
    """Bad input, one line for the user. `usage` is False when the input is well formed but
    the store does not hold what it names (a failure, not a usage error)."""

    def __init__(self, message: str, usage: bool = True):
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class BacktestRequest:
    symbol: str
    timeframe: str
    first: pd.Timestamp  # the first session date of the range
    last: pd.Timestamp  # the last one (inclusive)
    strategies: tuple[StrategySpec, ...]
    speed: float


def backtest_request(
    store: BarStore,
    calendar: TradingCalendar,
    symbol: str,
    timeframe: str,
    start: str,
    end: str,
    strategies: list[str],
    speed: float = 0.0,
) -> BacktestRequest:
    if timeframe not in TIMEFRAME_SECONDS:
        raise BacktestInputError(
            f"unknown timeframe {timeframe!r} (choose from {', '.join(TIMEFRAMES)})"
        )
    try:
        # The store's own rule for a symbol, and its spelling (upper case).
        symbol = store.dataset_path(symbol.strip(), timeframe).parent.name
    except StoreError as exc:
        raise BacktestInputError(str(exc)) from None
    try:
        first, last = session_date(start, "start", calendar), session_date(end, "end", calendar)
        sessions = sessions_in(calendar, first, last)
    except LoadInputError as exc:
        raise BacktestInputError(str(exc)) from None
    if not speed >= 0 or speed == float("inf"):
        raise BacktestInputError(
            f"speed must be a number >= 0 (0 is as fast as possible), got {speed}"
        )
    if not strategies:
        raise BacktestInputError("no strategy given (e.g. --strategy sma_crossover:fast=5,slow=20)")
    specs = tuple(_strategy(text, timeframe) for text in strategies)
    first, last = sessions[0].date, sessions[-1].date
    _check_stored(store, calendar, symbol, timeframe, first, last)
    return BacktestRequest(symbol, timeframe, first, last, specs, float(speed))


def open_session(
    store: BarStore,
    calendar: TradingCalendar,
    request: BacktestRequest,
    rules: RiskRules | None = None,
    clock: WallClock | None = None,
) -> PlaybackSession:
    """Read the request's bars and set up its session (not started)."""
    since = len(store.quarantined)
    try:
        bars = read_session_bars(
            store, calendar, request.symbol, request.timeframe, request.first, request.last
        )
    except StoreError as exc:
        raise BacktestInputError(str(exc), usage=False) from None
    _refuse_damaged(
        store, since, _load_command(request.symbol, request.timeframe, request.first, request.last)
    )
    return PlaybackSession(bars, request.strategies, rules, speed=request.speed, clock=clock)


def _strategy(text: str, timeframe: str) -> StrategySpec:
    try:
        spec = StrategySpec.parse(text)
    except StrategySpecError as exc:
        raise BacktestInputError(str(exc)) from None
    readable = (timeframe, *derivable(timeframe))
    if spec.timeframe is not None and spec.timeframe not in readable:
        raise BacktestInputError(
            f"{spec.name}: timeframe {spec.timeframe!r} cannot be read from {timeframe} bars "
            f"(choose from {', '.join(readable)})"
        )
    return spec


def _check_stored(
    store: BarStore,
    calendar: TradingCalendar,
    symbol: str,
    timeframe: str,
    first: pd.Timestamp,
    last: pd.Timestamp,
) -> None:
    fetch = _load_command(symbol, timeframe, first, last)
    since = len(store.quarantined)
    keys = store.datasets()
    held = any((k.symbol, k.timeframe) == (symbol, timeframe) for k in keys)
    summary = store.summary(symbol, timeframe) if held else None
    _refuse_damaged(store, since, fetch)
    if summary is None or summary.first is None or summary.last is None:
        # The symbol's other timeframes first: the likeliest mix-up is the timeframe.
        keys.sort(key=lambda k: k.symbol != symbol)
        shown = [
            _describe(calendar, store.summary(k.symbol, k.timeframe)) for k in keys[:_STORED_SHOWN]
        ]
        listing = ", ".join(shown) + (", …" if len(keys) > _STORED_SHOWN else "")
        raise BacktestInputError(
            f"no {symbol} {timeframe} bars in the store (stored: {listing or 'nothing'}); "
            f"fetch them with: {fetch}",
            usage=False,
        )
    stored_first, stored_last = session_span(calendar, summary)
    if first < stored_first or last > stored_last:
        missing = _missing_span(calendar, first, last, stored_first, stored_last)
        raise BacktestInputError(
            f"{symbol} {timeframe} is stored for {stored_first:%Y-%m-%d}..{stored_last:%Y-%m-%d} "
            f"only, not all of {first:%Y-%m-%d}..{last:%Y-%m-%d}; fetch the rest with: "
            f"{_load_command(symbol, timeframe, *missing)}",
            usage=False,
        )


def _missing_span(
    calendar: TradingCalendar,
    first: pd.Timestamp,
    last: pd.Timestamp,
    stored_first: pd.Timestamp,
    stored_last: pd.Timestamp,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The sessions of first..last outside the stored span, as one range: the part before it
    or the part after it. When both are missing (or the whole range is) it is all of
    first..last: a `full` load fetches only what the store lacks, so one command still does."""
    before, after = first < stored_first, last > stored_last
    if (before and after) or last < stored_first or first > stored_last:
        return first, last
    day = pd.Timedelta(days=1)
    if before:
        return first, calendar.sessions_for_dates(first, stored_first - day)[-1].date
    return calendar.sessions_for_dates(stored_last + day, last)[0].date, last


def _refuse_damaged(store: BarStore, since: int, fetch: str) -> None:
    """A damaged file the store moved aside while reading: its bars are gone. Only files moved
    since `since`: the store keeps its list for its lifetime (the app's dialog checks request
    after request with one store), and an old one belongs to an earlier check, maybe another
    dataset."""
    for item in store.quarantined[since:]:
        raise BacktestInputError(
            f"{item.path} is unreadable ({item.reason}); moved to {item.moved_to}; "
            f"fetch its bars again with: {fetch}",
            usage=False,
        )


def session_span(
    calendar: TradingCalendar, summary: DatasetSummary
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The session dates of a dataset's first and last bars."""
    assert summary.first is not None and summary.last is not None
    if TIMEFRAME_SECONDS[summary.timeframe] == 0:
        return summary.first.tz_localize(None), summary.last.tz_localize(None)
    local = [
        t.tz_convert(calendar.timezone).tz_localize(None).normalize()
        for t in (summary.first, summary.last)
    ]
    return local[0], local[1]


def _describe(calendar: TradingCalendar, summary: DatasetSummary) -> str:
    if summary.first is None:
        return f"{summary.symbol} {summary.timeframe} (empty)"
    first, last = session_span(calendar, summary)
    return f"{summary.symbol} {summary.timeframe} {first:%Y-%m-%d}..{last:%Y-%m-%d}"


def _load_command(symbol: str, timeframe: str, first: pd.Timestamp, last: pd.Timestamp) -> str:
    return (
        f"ktrdr-tui load {symbol} --timeframe {timeframe} "
        f"--start {first:%Y-%m-%d} --end {last:%Y-%m-%d}"
    )
