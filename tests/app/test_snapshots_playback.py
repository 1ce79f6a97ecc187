"""What the Playback pane and its dialogs look like, in each shipped theme. The populated pane
plays fixed synthetic bars to a fixed instant and pauses there: the same picture every run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ktrdr_tui.screens.go_to_date import GoToDateScreen
from tests.conftest import TERMINAL_SIZE
from tests.support.app_flows import (
    adopt_a_week_without_wednesday,
    open_dialog,
    open_session,
    store_minute_bars,
)
from tests.support.app_harness import on_screen, until
from tests.support.several_symbols import CASH_FOR_ALL, SYMBOLS, adopt, minute_bars
from tests.support.snapshots import THEMES, drawn, gateway_running

SEEK_TO = pd.Timestamp("2024-03-06 11:45", tz="America/New_York")
SMALL_SEEK_TO = pd.Timestamp("2024-03-04 10:59", tz="America/New_York")
PAST_THE_GAP = pd.Timestamp("2024-03-07 10:15", tz="America/New_York")  # Wednesday missing


@pytest.mark.parametrize("theme", THEMES)
def test_empty_pane(snap_compare, make_app, theme: str) -> None:
    assert snap_compare(
        make_app(theme), press=["2"], terminal_size=TERMINAL_SIZE, run_before=gateway_running
    )


def played_to(instant: pd.Timestamp):
    """The week opened and played to `instant`: the status line shows the account, the chart
    its fills (B, S) among the signals."""

    async def played(pilot) -> None:
        await gateway_running(pilot)
        session = await open_session(pilot)
        session.seek(instant)
        await until(pilot, lambda: session.snapshot().clock_ns == instant.value, "the seek")
        await drawn(pilot)

    return played


@pytest.mark.parametrize("theme", THEMES)
def test_populated_pane(snap_compare, make_app, tmp_path: Path, theme: str) -> None:
    store_minute_bars(tmp_path / "store")
    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=played_to(SEEK_TO))


@pytest.mark.parametrize("theme", THEMES)
def test_populated_pane_at_80x24(snap_compare, make_app, tmp_path: Path, theme: str) -> None:
    # A long position open, bought and sold twice in view; the status line keeps what tells
    # most (the cash and the counts give way).
    store_minute_bars(tmp_path / "store")
    assert snap_compare(
        make_app(theme), terminal_size=(80, 24), run_before=played_to(SMALL_SEEK_TO)
    )


@pytest.mark.parametrize("theme", THEMES)
def test_pane_of_three_symbols(snap_compare, make_app, theme: str) -> None:
    # `AAPL 1m 1/3`: the first of the three charted (`s` charts the next), its position alone.
    async def three_symbols(pilot) -> None:
        await gateway_running(pilot)
        market = [minute_bars(symbol=symbol) for symbol in SYMBOLS]
        session = await adopt(pilot, market, rules=CASH_FOR_ALL)
        session.seek(SEEK_TO)
        await until(pilot, lambda: session.snapshot().clock_ns == SEEK_TO.value, "the seek")
        await drawn(pilot)

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=three_symbols)


@pytest.mark.parametrize("theme", THEMES)
def test_pane_past_a_missing_session(snap_compare, make_app, tmp_path: Path, theme: str) -> None:
    # The status line names the missing Wednesday; a dotted column splits Tuesday's candles
    # from Thursday's.
    async def past_the_gap(pilot) -> None:
        await gateway_running(pilot)
        session = await adopt_a_week_without_wednesday(pilot, tmp_path / "store")
        session.seek(PAST_THE_GAP)
        await until(pilot, lambda: session.snapshot().clock_ns == PAST_THE_GAP.value, "seek")
        await drawn(pilot)

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=past_the_gap)


@pytest.mark.parametrize("theme", THEMES)
def test_open_session_dialog(snap_compare, make_app, tmp_path: Path, theme: str) -> None:
    store_minute_bars(tmp_path / "store")

    async def dialog_ready(pilot) -> None:
        await gateway_running(pilot)
        await open_dialog(pilot)

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=dialog_ready)


@pytest.mark.parametrize("theme", THEMES)
def test_go_to_date_dialog(snap_compare, make_app, tmp_path: Path, theme: str) -> None:
    store_minute_bars(tmp_path / "store")

    async def dialog_open(pilot) -> None:
        await gateway_running(pilot)
        await open_session(pilot)
        await drawn(pilot)
        await pilot.press("g")
        app = pilot.app
        await until(pilot, lambda: on_screen(app, GoToDateScreen), "the dialog")
        field = app.screen.query_one("#when")
        field.cursor_blink = False  # a blinking cursor would make the picture random
        await pilot.press("end", *" 10:30")
        await pilot.pause()

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=dialog_open)
