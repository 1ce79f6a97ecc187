"""Every dialog at 80x24, the smallest terminal the app promises to fit, with an error shown
where the dialog can show one: the buttons and the keys stay in view."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Select

from ktrdr_tui.screens.go_to_date import GoToDateScreen
from ktrdr_tui.screens.job_detail import JobDetailScreen
from ktrdr_tui.screens.open_session import OpenSessionScreen
from ktrdr_tui.screens.quit import QuitScreen
from ktrdr_tui.screens.signal_filter import SignalFilterScreen
from tests.support.app_flows import (
    open_dialog,
    open_session,
    rules_opened,
    shows,
    store_minute_bars,
    tab_to,
)
from tests.support.app_harness import on_screen, until
from tests.support.jobs_views import RUNNING, STATUSES, dialog_open, jobs_shown
from tests.support.signals_views import populated
from tests.support.snapshots import (
    SMALL,
    THEMES,
    drawn,
    gateway_running,
    in_view,
    strategy_dialog,
)


def test_new_load_with_an_error(snap_compare, make_app, fake_loads) -> None:
    fake_loads([])

    async def bad_symbol(pilot) -> None:
        await dialog_open(pilot, *"AAPL MSFT$")  # a reason long enough to take two lines
        dialog = pilot.app.screen
        await until(pilot, lambda: shows(dialog.query_one("#symbols-error"), "bad symbol"))
        await pilot.pause()
        assert in_view(dialog.query_one("#load")) and in_view(dialog.query_one(".hint"))

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=bad_symbol)


def test_open_session_with_an_error(snap_compare, make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")

    async def bad_start(pilot) -> None:
        await gateway_running(pilot)
        dialog = await open_dialog(pilot)
        assert isinstance(dialog, OpenSessionScreen)
        for field in dialog.query(Input):
            field.cursor_blink = False
        dialog.query_one("#start", Input).value = "2024-13-01"
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "2024-13-01"))
        await pilot.pause()
        assert in_view(dialog.query_one("#open")) and in_view(dialog.query_one("#cancel"))

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=bad_start)


@pytest.mark.parametrize("theme", THEMES)
def test_open_session_with_two_runs_of_a_strategy(
    snap_compare, make_app, tmp_path: Path, theme: str
) -> None:
    """sma_crossover twice (the copy on 5m bars with its own values) and rsi."""
    store_minute_bars(tmp_path / "store")

    async def copied(pilot) -> None:
        dialog = await strategy_dialog(pilot)
        await tab_to(pilot, dialog.rows[0].field("fast"))
        await pilot.press("ctrl+n")
        copy = dialog.rows[1]
        for field in copy.query(Input):
            field.cursor_blink = False
        await pilot.press("1", "0", "tab", "3", "0")
        copy.query_one(Select).value = "5m"
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "Ready"))
        await pilot.pause()
        assert in_view(dialog.query_one("#open")) and in_view(dialog.query_one("#cancel"))

    assert snap_compare(make_app(theme), terminal_size=SMALL, run_before=copied)


@pytest.mark.parametrize("theme", THEMES)
def test_open_session_with_a_field_error(
    snap_compare, make_app, tmp_path: Path, theme: str
) -> None:
    """rsi's period emptied: the field is marked and the parser's line is under the row."""
    store_minute_bars(tmp_path / "store")

    async def emptied(pilot) -> None:
        dialog = await strategy_dialog(pilot)
        rsi = dialog.rows[1]
        await tab_to(pilot, rsi.field("period"))
        await pilot.press("backspace")
        line = "rsi: period must be a whole number, got ''"
        await until(pilot, lambda: shows(dialog.query_one("#problem"), line))
        assert shows(rsi.query_one(".strategy-problem"), line)
        await pilot.pause()
        assert in_view(dialog.query_one("#open")) and in_view(dialog.query_one("#cancel"))

    assert snap_compare(make_app(theme), terminal_size=SMALL, run_before=emptied)


@pytest.mark.parametrize("theme", THEMES)
def test_open_session_as_a_sweep(snap_compare, make_app, tmp_path: Path, theme: str) -> None:
    """A range in sma_crossover's fast field: the button says Sweep, the line over it counts
    the backtests, the keys say what enter does."""
    store_minute_bars(tmp_path / "store")

    async def ranged(pilot) -> None:
        dialog = await strategy_dialog(pilot)
        await tab_to(pilot, dialog.rows[0].field("fast"))
        await pilot.press(*"5..25/5")
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "Sweep: 3 backtests"))
        await pilot.pause()
        assert in_view(dialog.query_one("#open")) and in_view(dialog.query_one("#keys"))

    assert snap_compare(make_app(theme), terminal_size=SMALL, run_before=ranged)


@pytest.mark.parametrize("theme", THEMES)
def test_open_session_with_the_trading_rules_open(
    snap_compare, make_app, tmp_path: Path, theme: str
) -> None:
    """The rules' section opened (enter on its title) and an order size of 10% typed: the
    dialog scrolls to the fields, the summary follows them, the keys stay in view."""
    store_minute_bars(tmp_path / "store")

    async def rules_open(pilot) -> None:
        dialog = await strategy_dialog(pilot)
        fields = await rules_opened(pilot, dialog)
        await tab_to(pilot, fields.field("size"))
        await pilot.press(*"10%")
        await until(pilot, lambda: "10% of equity" in dialog.query_one("#rules").title)
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "Ready"))
        await pilot.pause()
        assert in_view(fields) and in_view(dialog.query_one("#open"))

    assert snap_compare(make_app(theme), terminal_size=SMALL, run_before=rules_open)


def test_go_to_date_with_an_error(snap_compare, make_app, tmp_path: Path) -> None:
    store_minute_bars(tmp_path / "store")

    async def outside(pilot) -> None:
        await gateway_running(pilot)
        await open_session(pilot)
        await drawn(pilot)
        await pilot.press("g")
        app = pilot.app
        await until(pilot, lambda: on_screen(app, GoToDateScreen), "the dialog")
        field = app.screen.query_one("#when", Input)
        field.cursor_blink = False
        field.value = "2030-01-02"
        await until(pilot, lambda: shows(app.screen.query_one("#target"), "outside"))

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=outside)


def test_signal_filter(snap_compare, make_app) -> None:
    async def filtering(pilot) -> None:
        await populated(pilot, following=False)
        app = pilot.app
        await pilot.press("slash")
        await until(pilot, lambda: on_screen(app, SignalFilterScreen), "the dialog")
        app.screen.query_one("#strategy", Input).cursor_blink = False
        await pilot.press(*"nothing like it")
        await until(pilot, lambda: shows(app.screen.query_one("#matches"), "0 of"))

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=filtering)


def test_job_details_with_a_failed_segment(snap_compare, make_app, fake_loads) -> None:
    fake_loads(STATUSES)

    async def details(pilot) -> None:
        await jobs_shown(pilot)
        await until(pilot, lambda: pilot.app.query_one(DataTable).row_count == len(STATUSES))
        await pilot.press("down", "enter")
        await until(pilot, lambda: on_screen(pilot.app, JobDetailScreen))
        table = pilot.app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == len(RUNNING.segments))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=details)


def test_help(snap_compare, make_app) -> None:
    assert snap_compare(
        make_app(), press=["question_mark"], terminal_size=SMALL, run_before=gateway_running
    )


def test_quit_with_loads_running(snap_compare, make_app, fake_loads) -> None:
    fake_loads(STATUSES)

    async def asked(pilot) -> None:
        await jobs_shown(pilot)
        await pilot.press("q")
        await until(pilot, lambda: on_screen(pilot.app, QuitScreen), "the question")
        await pilot.pause()
        assert in_view(pilot.app.screen.query_one("#quit"))

    assert snap_compare(make_app(), terminal_size=SMALL, run_before=asked)
