"""Each input rule has one owner: loads, backtests, the store and the CLI give the same answer
and the same one line for the same input."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.errors import first_line
from engine.ib.pacing import PACING_MODES
from engine.loading.modes import LoadMode
from engine.loading.request import LoadInputError, load_request
from engine.market.calendar import calendar_for
from engine.market.store import BarStore, StoreError
from engine.market.symbols import check_symbol
from engine.market.timeframes import TIMEFRAMES, check_readable, derivable
from engine.session.request import BacktestInputError, backtest_request
from ktrdr_tui.cli import build_parser

NOW = pd.Timestamp("2024-06-03 15:00", tz="UTC")
CALENDAR = calendar_for()


def load_error(symbol: str = "AAPL", timeframe: str = "1m") -> str:
    with pytest.raises(LoadInputError) as raised:
        load_request(CALENDAR, [symbol], timeframe, "2024-01-02", "2024-01-05", now=NOW)
    return str(raised.value)


def backtest_error(store: BarStore, symbol: str = "AAPL", timeframe: str = "1m") -> str:
    with pytest.raises(BacktestInputError) as raised:
        backtest_request(store, CALENDAR, symbol, timeframe, "2024-01-02", "2024-01-05", ["rsi"])
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
