"""Each input rule has one owner: loads, backtests, the store and the CLI give the same answer
and the same one line for the same input."""

from __future__ import annotations

import argparse
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.config import SOURCES as SOURCE_SETTINGS
from engine.core.errors import first_line
from engine.ib.pacing import PACING_MODES
from engine.loading.bar_source import SOURCES
from engine.loading.modes import LoadMode
from engine.loading.request import LoadInputError, load_request
from engine.market.calendar import calendar_for
from engine.market.dates import session_date
from engine.market.store import BarStore, DatasetSummary, StoreError
from engine.market.symbols import check_symbol
from engine.market.timeframes import TIMEFRAMES, check_readable, derivable
from engine.session.request import BacktestInputError, backtest_request, session_span
from ktrdr_tui.cli import _date_arg, build_parser

NOW = pd.Timestamp("2024-06-03 15:00", tz="UTC")
CALENDAR = calendar_for()


def load_error(symbol: str = "AAPL", timeframe: str = "1m") -> str:
    with pytest.raises(LoadInputError) as raised:
        load_request(CALENDAR, [symbol], timeframe, "2024-01-02", "2024-01-05", now=NOW)
    return str(raised.value)


def backtest_error(store: BarStore, symbol: str = "AAPL", timeframe: str = "1m") -> str:
    with pytest.raises(BacktestInputError) as raised:
        backtest_request(store, CALENDAR, [symbol], timeframe, "2024-01-02", "2024-01-05", ["rsi"])
    return str(raised.value)


def store_error(store: BarStore, symbol: str = "AAPL", timeframe: str = "1m") -> str:
    with pytest.raises(StoreError) as raised:
        store.dataset_path(symbol, timeframe)
    return str(raised.value)


@pytest.mark.parametrize(
    ("symbol", "timeframe"), [("AA PL", "1m"), ("../etc", "1m"), ("AAPL", "2m"), ("AAPL", "1D")]
)
def test_loads_backtests_and_the_store_refuse_alike(tmp_path: Path, symbol, timeframe) -> None:
    store = BarStore(tmp_path)
    message = load_error(symbol, timeframe)
    assert backtest_error(store, symbol, timeframe) == message
    assert store_error(store, symbol, timeframe) == message
    assert "\n" not in message


@given(st.text(alphabet="ABZaz09.-/_$", max_size=18))
def test_a_symbol_is_checked_by_one_rule(text: str) -> None:
    try:
        accepted = check_symbol(text)
    except ValueError:
        accepted = None
    try:
        request = load_request(CALENDAR, [text], "1m", "2024-01-02", "2024-01-05", now=NOW)
        loaded = request.symbols[0]
    except LoadInputError:
        loaded = None
    assert loaded == accepted
    if accepted is not None:
        # A symbol names a folder of the store: never a path of its own.
        assert accepted == text.upper() and "/" not in accepted and accepted != ".."


@pytest.mark.parametrize("stored", TIMEFRAMES)
def test_what_a_session_derives_is_what_a_strategy_may_read(stored: str) -> None:
    for wanted in TIMEFRAMES:
        if wanted == stored or wanted in derivable(stored):
            assert check_readable(wanted, stored, "rsi") == wanted
        else:
            with pytest.raises(ValueError, match=f"rsi: timeframe {wanted} cannot be read"):
                check_readable(wanted, stored, "rsi")


def test_the_cli_offers_the_engines_choices() -> None:
    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    choices = {
        (name, action.dest): tuple(action.choices)
        for name, sub in subcommands.choices.items()
        for action in sub._actions
        if action.choices is not None
    }
    assert choices[("load", "mode")] == tuple(LoadMode)
    assert choices[("load", "timeframe")] == TIMEFRAMES
    assert choices[("gateway", "pacing")] == tuple(PACING_MODES)
    assert parser.parse_args(["--source", "sim"]).source == "sim"
    with pytest.raises(SystemExit):
        parser.parse_args(["--source", "nope"])


def test_the_source_setting_offers_the_registered_sources_and_auto() -> None:
    # The settings cannot import the loading layer (IB reads them): the one list is checked here.
    assert ("auto", *SOURCES) == SOURCE_SETTINGS


dates = st.one_of(
    st.tuples(
        st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))])),
        st.sampled_from(" T"),
    ).map(lambda moment: moment[0].isoformat(sep=moment[1])),
    st.dates().map(str),
    st.text(alphabet="0123456789-:TZ +.", max_size=26),
)


@given(dates)
@example("20240102")
@example("2024-02-30")
@example(" 2024-01-02T15:30:00Z ")
def test_a_date_is_checked_by_one_rule(text: str) -> None:
    # Before: the CLI had its own check, and let through what a load then refused ("20240102").
    try:
        session_date(text, "start", CALENDAR, LoadInputError)
    except LoadInputError as exc:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            _date_arg(text)
        assert f"start {refused.value}" == str(exc)
    else:
        assert _date_arg(text) == text


@pytest.mark.parametrize(
    ("timeframe", "first", "last", "span"),
    [
        ("1m", "2024-01-02 14:30", "2024-01-05 20:59", ("2024-01-02", "2024-01-05")),
        ("1h", "2024-07-03 13:30", "2024-07-05 19:30", ("2024-07-03", "2024-07-05")),  # early close
        ("1d", "2024-01-02 00:00", "2024-01-05 00:00", ("2024-01-02", "2024-01-05")),
    ],
)
def test_a_datasets_session_span_is_the_calendars(timeframe, first, last, span) -> None:
    first_bar, last_bar = pd.Timestamp(first, tz="UTC"), pd.Timestamp(last, tz="UTC")
    summary = DatasetSummary("AAPL", timeframe, first_bar, last_bar, 1, 1, 0, 100.0, 1, 1)
    sessions = CALENDAR.sessions_of_bars(0 if timeframe == "1d" else 60, first_bar, last_bar)
    assert session_span(CALENDAR, summary) == (sessions[0].date, sessions[-1].date)
    assert session_span(CALENDAR, summary) == tuple(pd.Timestamp(day) for day in span)


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (ValueError("first\nsecond"), "first"),
        (ValueError("\n  indented first  \nsecond"), "indented first"),
        (KeyError(), "KeyError"),
        (OSError("  "), "OSError"),
    ],
)
def test_first_line(error: BaseException, line: str) -> None:
    assert first_line(error) == line
