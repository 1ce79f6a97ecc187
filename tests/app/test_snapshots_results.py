"""What the Results pane looks like, in each shipped theme and on an 80x24 terminal: with no
session, showing a synthetic daily run (tests/support/results.py's `sample_run`), and a
daily run of three symbols (each one's share under the statistics, the trades' symbols)."""

from __future__ import annotations

import pytest

from ktrdr_tui.widgets.equity_chart import EquityChart
from ktrdr_tui.widgets.results import ResultsPane
from tests.conftest import TERMINAL_SIZE
from tests.support.app_harness import until
from tests.support.results import sample_run
from tests.support.several_symbols import three_symbols_played
from tests.support.snapshots import THEMES, gateway_running


async def populated(pilot) -> None:
    await gateway_running(pilot)
    await pilot.press("4")
    run = sample_run()
    pane = pilot.app.query_one(ResultsPane)
    pane.show_results(*run.shown())
    chart = pane.query_one(EquityChart)
    await until(pilot, lambda: chart.data is run.curve, "the curve drawn")
    await pilot.pause()


async def several_symbols(pilot) -> None:
    await gateway_running(pilot)
    await pilot.press("4")
    results = three_symbols_played()
    pane = pilot.app.query_one(ResultsPane)
    pane.show_results(results.curve, results.trades, results.statistics, results.by_symbol)
    chart = pane.query_one(EquityChart)
    await until(pilot, lambda: chart.data is results.curve, "the curve drawn")
    await pilot.pause()


@pytest.mark.parametrize("theme", THEMES)
def test_empty_pane(snap_compare, make_app, theme: str) -> None:
    assert snap_compare(
        make_app(theme), press=["4"], terminal_size=TERMINAL_SIZE, run_before=gateway_running
    )


@pytest.mark.parametrize("theme", THEMES)
def test_populated_pane(snap_compare, make_app, theme: str) -> None:
    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=populated)


@pytest.mark.parametrize("theme", THEMES)
def test_populated_pane_at_80x24(snap_compare, make_app, theme: str) -> None:
    assert snap_compare(make_app(theme), terminal_size=(80, 24), run_before=populated)


@pytest.mark.parametrize("theme", THEMES)
def test_pane_of_three_symbols(snap_compare, make_app, theme: str) -> None:
    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=several_symbols)


def test_pane_of_three_symbols_at_80x24(snap_compare, make_app) -> None:
    # The chart and the trades give room to the three symbols' lines; the statistics scroll.
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=several_symbols)
