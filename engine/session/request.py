"""What a user asks to play back, checked against the calendar and the store before any bar is
read: every problem is one line that says what is stored and which `load` would fetch the rest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from engine.market.calendar import Session, TradingCalendar
from engine.market.dates import session_date, sessions_in
from engine.market.store import BarStore, DatasetSummary, StoreError
from engine.market.timeframes import TIMEFRAME_SECONDS, check_readable, check_timeframe
from engine.session.bars import SessionBars, read_session_bars
from engine.session.history import read_history
from engine.session.playback import PlaybackSession, WallClock
from engine.session.speed import check_speed
from engine.strategy.catalog import Catalog
from engine.strategy.spec import StrategySpec, StrategySpecError
from engine.trading_rules import TradingRules

_STORED_SHOWN = 5  # datasets or dates listed in a message


class BacktestInputError(ValueError):
    """Bad input, one line for the user. `usage` is False when the input is well formed but
    the store does not hold what it names (a failure, not a usage error)."""

    def __init__(self, message: str, usage: bool = True):
        super().__init__(message)
        self.usage = usage


class SessionsMissing(BacktestInputError):
    """Some sessions of the range have no stored bar, not all: with `allow_gaps` the request
    would run."""

    def __init__(self, message: str):
        super().__init__(message, usage=False)


@dataclass(frozen=True)
class BacktestRequest:
    symbols: tuple[str, ...]  # one account trades them all; each strategy runs on each
    timeframe: str
    first: pd.Timestamp  # the first session date of the range
    last: pd.Timestamp  # the last one (inclusive)
    strategies: tuple[StrategySpec, ...]
    speed: float
    # Per symbol, the sessions of the range with no stored bar: empty unless the caller
    # allowed gaps.
    missing: Mapping[str, tuple[pd.Timestamp, ...]] = field(default_factory=dict)


def backtest_request(
    store: BarStore,
    calendar: TradingCalendar,
    symbols: Sequence[str],
    timeframe: str,
    start: str,
    end: str,
    strategies: list[str],
    speed: float = 0.0,
    allow_gaps: bool = False,
    catalog: Catalog | None = None,
) -> BacktestRequest:
    """The checked request, its strategies found in `catalog` (default: the built-ins). A
    session of the range with no stored bar of a symbol is an error that names the `load`
    that fetches it, unless `allow_gaps` (the request then lists the gaps); a range with no
    stored bar of a symbol at all is an error either way."""
    check_timeframe(timeframe, BacktestInputError)
    if not symbols:
        raise BacktestInputError("no symbol given (e.g. AAPL, or several: AAPL MSFT SPY)")
    try:
        # The store's own rule for a symbol, and its spelling (upper case).
        symbols = [store.dataset_path(s.strip(), timeframe).parent.name for s in symbols]
    except StoreError as exc:
        raise BacktestInputError(str(exc)) from None
    doubled = sorted({s for s in symbols if symbols.count(s) > 1})
    if doubled:
        raise BacktestInputError(f"{', '.join(doubled)} given more than once")
    first = session_date(start, "start", calendar, BacktestInputError)
    last = session_date(end, "end", calendar, BacktestInputError)
    sessions = sessions_in(calendar, first, last, BacktestInputError)
    speed = check_speed(speed, BacktestInputError)
    if not strategies:
        raise BacktestInputError("no strategy given (e.g. --strategy sma_crossover:fast=5,slow=20)")
    specs = tuple(_strategy(text, timeframe, catalog) for text in strategies)
    missing = {}
    for symbol in symbols:
        gaps = _check_stored(store, calendar, symbol, timeframe, sessions, allow_gaps)
        if gaps:
            missing[symbol] = gaps
    first, last = sessions[0].date, sessions[-1].date
    return BacktestRequest(tuple(symbols), timeframe, first, last, specs, speed, missing)


def open_session(
    store: BarStore,
    calendar: TradingCalendar,
    request: BacktestRequest,
    rules: TradingRules | None = None,
    clock: WallClock | None = None,
    chart: bool = True,
) -> PlaybackSession:
    """Read the request's bars, and the historical context its strategies read, and set up
    its session (not started; `chart` as `PlaybackSession` takes it)."""
    market = read_market(store, calendar, request)
    needs = {spec.strategy.history for spec in request.strategies} - {None}
    history = {
        (bars.symbol, need): read_history(store, calendar, bars, need)
        for bars in market
        for need in needs
    }
    return PlaybackSession(
        market,
        request.strategies,
        rules,
        speed=request.speed,
        clock=clock,
        history=history,
        chart=chart,
    )


def read_market(
    store: BarStore, calendar: TradingCalendar, request: BacktestRequest
) -> list[SessionBars]:
    """Read the request's bars, one SessionBars per symbol."""
    market = []
    for symbol in request.symbols:
        since = len(store.quarantined)
        try:
            bars = read_session_bars(
                store, calendar, symbol, request.timeframe, request.first, request.last
            )
        except StoreError as exc:
            raise BacktestInputError(str(exc), usage=False) from None
        _refuse_damaged(
            store, since, load_command(symbol, request.timeframe, request.first, request.last)
        )
        market.append(bars)
    return market


def _strategy(text: str, timeframe: str, catalog: Catalog | None) -> StrategySpec:
    try:
        spec = StrategySpec.parse(text, catalog)
    except StrategySpecError as exc:
        raise BacktestInputError(str(exc)) from None
    # Its own timeframe and the extra ones it reads are all derived from the session's bars.
    for wanted in (spec.timeframe or timeframe, *spec.strategy.timeframes):
        check_readable(wanted, timeframe, spec.name, BacktestInputError)
    return spec


def _check_stored(
    store: BarStore,
    calendar: TradingCalendar,
    symbol: str,
    timeframe: str,
    sessions: list[Session],
    allow_gaps: bool,
) -> tuple[pd.Timestamp, ...]:
    """The sessions with no stored bar, if the request may go on with them."""
    first, last = sessions[0].date, sessions[-1].date
    since = len(store.quarantined)
    keys = store.datasets()
    held = any((k.symbol, k.timeframe) == (symbol, timeframe) for k in keys)
    summary = store.summary(symbol, timeframe) if held else None
    _refuse_damaged(store, since, load_command(symbol, timeframe, first, last))
    if summary is None or summary.first is None or summary.last is None:
        # The symbol's other timeframes first: the likeliest mix-up is the timeframe.
        keys.sort(key=lambda k: k.symbol != symbol)
        shown = [
            _describe(calendar, store.summary(k.symbol, k.timeframe)) for k in keys[:_STORED_SHOWN]
        ]
        listing = ", ".join(shown) + (", …" if len(keys) > _STORED_SHOWN else "")
        raise BacktestInputError(
            f"no {symbol} {timeframe} bars in the store (stored: {listing or 'nothing'}); "
            f"fetch them with: {load_command(symbol, timeframe, first, last)}",
            usage=False,
        )
    missing = missing_sessions(store, calendar, symbol, timeframe, sessions)
    if not missing or (allow_gaps and len(missing) < len(sessions)):
        return missing
    # A `full` load fetches only the sessions the store lacks: one command fills them all.
    fetch = load_command(symbol, timeframe, missing[0], missing[-1])
    stored_first, stored_last = session_span(calendar, summary)
    if all(day < stored_first or day > stored_last for day in missing):
        message = (
            f"{symbol} {timeframe} is stored for {stored_first:%Y-%m-%d}..{stored_last:%Y-%m-%d} "
            f"only, not all of {first:%Y-%m-%d}..{last:%Y-%m-%d}; fetch the rest with: {fetch}"
        )
    else:
        message = (
            f"{symbol} {timeframe} has no bars in {len(missing)} of the {len(sessions)} sessions "
            f"of {first:%Y-%m-%d}..{last:%Y-%m-%d} ({session_list(missing)}); fetch them with: "
            f"{fetch}"
        )
    if len(missing) == len(sessions):
        raise BacktestInputError(message, usage=False)
    raise SessionsMissing(message)


def missing_sessions(
    store: BarStore,
    calendar: TradingCalendar,
    symbol: str,
    timeframe: str,
    sessions: list[Session],
) -> tuple[pd.Timestamp, ...]:
    """The dates of the sessions with no stored bar at all, as a load still filling the range
    leaves them. A session with some of its bars is not missing: its holes lower that day's
    data quality, which the decision rules weigh."""
    day = pd.Timedelta(days=1)
    # Daily bars sit at midnight UTC of their session date, before that session's open.
    stored = store.timestamps(
        symbol, timeframe, sessions[0].date.tz_localize("UTC") - day, sessions[-1].close + day
    )
    present = calendar.stored_per_session(sessions, TIMEFRAME_SECONDS[timeframe], stored)
    return tuple(s.date for s, count in zip(sessions, present, strict=True) if count == 0)


def session_list(dates: tuple[pd.Timestamp, ...]) -> str:
    """`2024-01-03, 2024-01-04` or, for many, the first few and how many in all."""
    shown = ", ".join(f"{d:%Y-%m-%d}" for d in dates[:_STORED_SHOWN])
    return shown if len(dates) <= _STORED_SHOWN else f"{shown}, … {len(dates)} in all"


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
    """The session dates of a dataset's first and last bars, by the calendar's rule for the
    sessions bars cover (the store only holds bars inside sessions)."""
    assert summary.first is not None and summary.last is not None
    bar_seconds = TIMEFRAME_SECONDS[summary.timeframe]
    sessions = calendar.sessions_of_bars(bar_seconds, summary.first, summary.last)
    return sessions[0].date, sessions[-1].date


def _describe(calendar: TradingCalendar, summary: DatasetSummary) -> str:
    if summary.first is None:
        return f"{summary.symbol} {summary.timeframe} (empty)"
    first, last = session_span(calendar, summary)
    return f"{summary.symbol} {summary.timeframe} {first:%Y-%m-%d}..{last:%Y-%m-%d}"


def load_command(symbol: str, timeframe: str, first: pd.Timestamp, last: pd.Timestamp) -> str:
    return (
        f"ktrdr-tui load {symbol} --timeframe {timeframe} "
        f"--start {first:%Y-%m-%d} --end {last:%Y-%m-%d}"
    )
