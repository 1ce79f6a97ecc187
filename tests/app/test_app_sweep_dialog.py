"""A sweep from the open-session dialog: a range or a list where a value would go (a
parameter's field, a trading rule's) makes enter start a sweep, counted over the buttons,
checked by the sweep's grid parser; it shows in the Jobs pane and runs to the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Button, Checkbox, DataTable

from engine.sweep.journal import SweepStore
from ktrdr_tui.screens.open_session import OpenSessionScreen, StrategyRow
from tests.support.app_flows import open_dialog, rules_opened, shows, tab_to, under
from tests.support.app_harness import until
from tests.support.bar_fixtures import store_bars

SIZE = (120, 30)


async def sma_alone(pilot, data_dir: Path) -> tuple[OpenSessionScreen, StrategyRow]:
    """The dialog over bars stored in `data_dir`, sma_crossover its only ticked strategy."""
    store_bars(data_dir)
    dialog = await open_dialog(pilot)
    sma = next(row for row in dialog.rows if row.strategy.name == "sma_crossover")
    for row in dialog.rows:
        row.query_one(".use", Checkbox).value = row is sma
    return dialog, sma


def job_rows(app) -> list[str]:
    return [str(key.value) for key in app.query_one("#jobs-table", DataTable).rows]


async def swept(pilot, dialog: OpenSessionScreen, runs: int) -> list[dict]:
    """enter, once the sweep service runs: the sweep starts, the dialog closes, the Jobs
    pane shows it and it runs to the end; its result rows."""
    app = pilot.app
    await until(pilot, lambda: app.engine.sweeps is not None, "the sweep service")
    await pilot.press("enter")
    await until(pilot, lambda: app.screen is not dialog, "the sweep to start")
    assert app.query_one("TabbedContent").active == "jobs"
    (job_id,) = job_rows(app)
    told = [notification.message for notification in app._notifications]
    assert told[0] == f"sweep {job_id} started: {runs} backtests"
    table = app.query_one("#jobs-table", DataTable)
    await until(pilot, lambda: str(table.get_cell(job_id, "state")) == "done", "the sweep's end")
    assert app.session is None  # no playback session was opened
    results = await asyncio.to_thread(app.engine.sweeps.results, job_id)
    assert (results.journal.runs, len(results.rows)) == (runs, runs)
    return results


async def test_a_range_in_a_parameter_field_starts_a_sweep_shown_in_jobs(
    make_app, tmp_path: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog, sma = await sma_alone(pilot, tmp_path / "store")
        button = dialog.query_one("#open", Button)
        assert str(button.label) == "Open"
        await tab_to(pilot, sma.field("fast"))
        await pilot.press(*"5..25/5")  # the field's text is selected as it takes the focus
        assert sma.field("fast").value == "5..25/5"
        # fast 5, 10, 15 run with slow 20; 20 and 25 are refused (fast must be below slow).
        problem = dialog.query_one("#problem")
        await until(pilot, lambda: shows(problem, "Sweep: 3 backtests (2 refused)"), "the count")
        assert str(button.label) == "Sweep"
        assert shows(dialog.query_one("#keys"), "enter starts the sweep")
        assert not sma.field("fast").has_class("-invalid")

        results = await swept(pilot, dialog, 3)
        request = results.journal.request
        assert request.strategies == ("sma_crossover:fast=5|10|15|20|25,slow=20",)
        assert (request.symbols, request.timeframe) == (("AAPL",), "1m")
        assert results.journal.skipped == 2
        fasts = sorted(row["params"]["sma_crossover"]["fast"] for row in results.rows)
        assert fasts == [5, 10, 15]


async def test_a_bad_range_says_why_under_the_row_and_does_not_start(make_app, tmp_path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog, sma = await sma_alone(pilot, tmp_path / "store")
        fast = sma.field("fast")
        await tab_to(pilot, fast)
        await pilot.press(*"25x..5")  # a letter does not get into a number's field
        assert fast.value == "25..5"
        line = "sma_crossover: fast=25..5: the range is empty (25 is above 5)"
        await until(pilot, lambda: shows(dialog.query_one("#problem"), line), "the problem")
        assert shows(under(sma), line) and fast.has_class("-invalid")
        assert str(dialog.query_one("#open", Button).label) == "Sweep"
        await until(pilot, lambda: app.engine.sweeps is not None, "the sweep service")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog and not SweepStore(tmp_path / "store" / "jobs").all()

        # Back to a plain value: the dialog opens a session again.
        await pilot.press("tab", "shift+tab", "5")  # back in the field: its text selected
        assert fast.value == "5"
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "Ready"), "ready")
        assert str(dialog.query_one("#open", Button).label) == "Open"
        assert not under(sma).display


async def test_a_list_in_a_rule_field_sweeps_the_rule(make_app, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog, _ = await sma_alone(pilot, tmp_path / "store")
        fields = await rules_opened(pilot, dialog)
        await tab_to(pilot, fields.field("min_confidence"))
        await pilot.press("0")  # every signal trades: the costs show in the results
        commission = fields.field("commission")
        await tab_to(pilot, commission)
        await pilot.press(*"0|0.005")
        problem = dialog.query_one("#problem")
        await until(pilot, lambda: shows(problem, "Sweep: 2 backtests ·"), "the count")
        assert not commission.has_class("-invalid")
        assert dialog.query_one("#rules").title.endswith(" · sweeps commission 0|0.005")

        results = await swept(pilot, dialog, 2)
        request = results.journal.request
        assert request.rules == (("commission", "0|0.005"),)
        assert dict(request.base_rules)["min_confidence"] == "0"
        rows = sorted(results.rows, key=lambda row: row["commissions"])
        assert [row["rules"]["commission"] for row in rows] == ["0", "0.005"]
        assert rows[0]["commissions"] == 0 < rows[1]["commissions"]


async def test_a_bad_value_in_a_rule_list_says_why(make_app, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        dialog, _ = await sma_alone(pilot, tmp_path / "store")
        fields = await rules_opened(pilot, dialog)
        commission = fields.field("commission")
        await tab_to(pilot, commission)
        await pilot.press(*"0|x")
        await until(pilot, lambda: shows(dialog.query_one("#problem"), "got 'x'"), "the problem")
        assert commission.has_class("-invalid")
        assert shows(fields.query_one(".rules-problem"), "commission: expected a rate")
