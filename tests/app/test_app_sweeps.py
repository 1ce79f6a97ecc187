"""Sweeps in the app: started through the engine handle (as the open-session dialog will), they
show in the Jobs pane with their progress, `c` cancels and `r` resumes them; `enter` opens
their results, sorted by the metric, with a heatmap for two parameters; `enter` on a result
opens that backtest in Playback."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from textual.widgets import DataTable, Static

from engine.sweep.journal import SweepRequest, SweepStore
from engine.sweep.report import LOWER_IS_BETTER, Varied, ranked
from engine.trading_rules import TradingRules
from ktrdr_tui.formatting import statistic
from ktrdr_tui.screens.sweep_results import (
    METRICS,
    SweepResultsScreen,
    SweepTable,
    heatmap,
    heatmap_text,
)
from ktrdr_tui.widgets.playback import PlaybackPane
from tests.support.app_harness import on_screen, until
from tests.support.bar_fixtures import FIRST, store_bars
from tests.support.sweeps import GRID, hold_first_sweep, sweep_request

SIZE = (120, 30)


def cell(app, job_id: str, column: str) -> str:
    return str(app.query_one("#jobs-table", DataTable).get_cell(job_id, column))


async def start_sweep(pilot, request: SweepRequest) -> str:
    """Start a sweep as the dialog will: `start_sweep` in a thread (it reads the bars)."""
    app = pilot.app
    await until(pilot, lambda: app.engine.sweeps is not None and app.loads is not None)
    job_id = await asyncio.to_thread(app.engine.start_sweep, request)
    await until(pilot, lambda: job_id in app.query_one("#jobs-table", DataTable).rows)
    return job_id


async def sweep_done(pilot, request: SweepRequest = None) -> str:
    job_id = await start_sweep(pilot, request or sweep_request())
    await until(pilot, lambda: cell(pilot.app, job_id, "state") == "done")
    return job_id


async def results_open(pilot) -> SweepResultsScreen:
    await pilot.press("enter")
    await until(pilot, lambda: on_screen(pilot.app, SweepResultsScreen))
    screen = pilot.app.screen
    await until(pilot, lambda: screen.query_one(SweepTable).row_count > 0)
    return screen


async def test_a_sweep_shows_its_progress_cancels_with_c_and_resumes_with_r(
    make_app, tmp_path: Path, monkeypatch
) -> None:
    store_bars(tmp_path / "store")
    made = hold_first_sweep(monkeypatch)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        job_id = await start_sweep(pilot, sweep_request())
        # Held with one of its 6 backtests kept: the row says so, as it runs.
        await until(pilot, lambda: cell(app, job_id, "bars") == "1/6 runs")
        assert cell(app, job_id, "state") == "running"
        assert cell(app, job_id, "mode") == "sweep"
        assert cell(app, job_id, "progress").endswith("17%")
        assert cell(app, job_id, "segment") == f"{GRID} · 3 skipped"
        selected = str(app.query_one("#jobs-selected", Static).render())
        assert "1/6 backtests · 3 skipped · running" in selected and "c cancels" in selected
        assert cell(app, job_id, "eta") != ""  # an estimate, or --:-- until there is one

        await pilot.press("c")
        await until(pilot, lambda: cell(app, job_id, "state") == "cancelled")
        assert cell(app, job_id, "stage") == "resumable"
        store = SweepStore(tmp_path / "store" / "jobs")
        assert len(store.results(job_id)) == 1  # what finished before the cancel stays

        await pilot.press("r")
        await until(pilot, lambda: cell(app, job_id, "state") == "done")
        assert cell(app, job_id, "bars") == "6/6 runs"
        assert cell(app, job_id, "progress").endswith("100%")
        assert len(made) == 2 and made[0].go_on.is_set()
        assert sorted(store.results(job_id)) == list(range(6))
        assert store.load(job_id).state == "done"

        await pilot.press("delete")  # a finished sweep goes, its journal and results too
        await until(pilot, lambda: job_id not in app.query_one("#jobs-table", DataTable).rows)
        assert not store.exists(job_id) and not store.results_path(job_id).exists()


async def test_enter_shows_the_results_by_the_metric_and_m_sorts_by_the_next(
    make_app, tmp_path: Path
) -> None:
    store_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sweep_done(pilot)
        screen = await results_open(pilot)
        table = screen.query_one(SweepTable)
        assert screen.metric == "sharpe" and table.row_count == 6
        assert table.ranked == ranked(list(screen.results.rows), "sharpe")
        sharpes = [row["sharpe"] for row in table.ranked if row["sharpe"] is not None]
        assert sharpes == sorted(sharpes, reverse=True) and len(set(sharpes)) > 1
        # The columns: the rank, what varies, the metric first among the statistics.
        labels = [label for label, _, _ in table.columns]
        assert labels[:4] == ["#", "fast", "slow", "Sharpe ratio ▼"]
        best = table.ranked[0]
        cells = [c.plain for c in table.cells(0)]
        assert cells[:4] == ["1", str(best["params"]["sma_crossover"]["fast"]),
                             str(best["params"]["sma_crossover"]["slow"]),
                             statistic(best["sharpe"], "ratio")]  # fmt: skip

        await pilot.press("m")
        following = METRICS[METRICS.index("sharpe") + 1]
        assert screen.metric == following
        assert table.ranked == ranked(list(screen.results.rows), following)
        assert [label for label, _, _ in table.columns][3].endswith("▼")
        await pilot.press("M")
        assert screen.metric == "sharpe"
        await pilot.press("2")  # the panes' keys wait while the results cover them
        assert app.screen is screen
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is not screen)
        assert app.query_one("TabbedContent").active == "jobs"


async def test_the_heatmap_of_two_parameters_shows_each_backtests_metric(
    make_app, tmp_path: Path
) -> None:
    store_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sweep_done(pilot)
        screen = await results_open(pilot)
        heat = screen.query_one("#sweep-heatmap", Static)
        assert heat.display
        lines = str(heat.render()).splitlines()
        assert lines[0] == "Sharpe ratio by fast and slow"
        assert lines[1].split() == ["slow", "→", "10", "20", "40"]
        by_values = {
            (row["params"]["sma_crossover"]["fast"], row["params"]["sma_crossover"]["slow"]): row
            for row in screen.results.rows
        }
        for line, fast in zip(lines[2:], (5, 10, 20), strict=True):
            label, *cells = line.split()
            assert label == f"fast={fast}"
            for text, slow in zip(cells, (10, 20, 40), strict=True):
                row = by_values.get((fast, slow))
                value = math.nan if row is None or row["sharpe"] is None else row["sharpe"]
                # Refused (fast >= slow): no value.
                assert text == (statistic(value, "ratio") if row else "·"), (fast, slow)
        # The best cell is the one highlighted (reverse).
        best = table_best = screen.query_one(SweepTable).ranked[0]
        highlighted = [
            heat.render().plain[span.start : span.end]
            for span in heat.render().spans
            if getattr(span.style, "reverse", False)
        ]
        assert [text.strip() for text in highlighted] == [statistic(best["sharpe"], "ratio")]
        assert table_best is best


async def test_a_one_parameter_sweep_has_no_heatmap(make_app, tmp_path: Path) -> None:
    store_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sweep_done(pilot, sweep_request("sma_crossover:fast=5|10,slow=40"))
        screen = await results_open(pilot)
        assert not screen.query_one("#sweep-heatmap", Static).display
        assert [label for label, _, _ in screen.query_one(SweepTable).columns][:2] == [
            "#",
            "fast",
        ]


async def test_enter_on_a_result_opens_its_backtest_in_playback(make_app, tmp_path: Path) -> None:
    store_bars(tmp_path / "store")
    app = make_app()
    request = sweep_request(rules=(("min_confidence", "0"), ("commission", "0|0.01")))
    async with app.run_test(size=SIZE) as pilot:
        await sweep_done(pilot, request)
        screen = await results_open(pilot)
        await pilot.press("down", "down")
        row = screen.query_one(SweepTable).ranked[2]
        await pilot.press("enter")
        playback = app.query_one(PlaybackPane)
        await until(pilot, lambda: playback.opened is not None)
        assert not isinstance(app.screen, SweepResultsScreen)
        assert app.query_one("TabbedContent").active == "playback"
        opened = playback.opened
        assert [spec.label for spec in opened.request.strategies] == row["strategies"]
        assert dict(opened.request.strategies[0].params) == row["params"]["sma_crossover"]
        assert opened.session.rules == TradingRules.from_text(row["rules"])
        assert (opened.request.symbols, opened.request.timeframe) == (("AAPL",), "1m")
        assert f"{opened.request.first:%Y-%m-%d}" == FIRST
        assert app.session is opened.session  # the engine's session: the panes show it


@settings(max_examples=60, deadline=None)
@given(
    cells=st.dictionaries(
        st.tuples(st.integers(1, 6), st.sampled_from([10, 20, 40])),
        st.one_of(st.none(), st.floats(-5, 5, allow_nan=False)),
        min_size=1,
    ),
    metric=st.sampled_from(["sharpe", "volatility_pct"]),
)
def test_the_heatmap_puts_each_result_in_its_cell_and_highlights_the_best(cells, metric):
    """Any results of a two-parameter sweep (some refused, some undefined): each value in the
    cell of its two parameters, nothing else, the best by the metric highlighted once."""
    rows = [
        {"symbol": "AAPL", "params": {"s": {"fast": f, "slow": s}}, "rules": {}, metric: value}
        for (f, s), value in sorted(cells.items())
    ]
    dimensions = (Varied("s", "fast"), Varied("s", "slow"))
    heat = heatmap(rows, dimensions, metric)
    assert heat.ys == tuple(dict.fromkeys(f for f, _ in sorted(cells)))
    assert set(heat.xs) == {s for _, s in cells}
    for key, value in cells.items():
        assert heat.values[key] == value or (value is None and math.isnan(heat.values[key]))
    defined = {key: value for key, value in cells.items() if value is not None}
    if not defined:
        assert heat.best is None
    else:
        pick = min if metric in LOWER_IS_BETTER else max
        assert cells[heat.best] == pick(defined.values())
    text = heatmap_text(heat, 1, {"success": "#00ff00", "warning": "#ffff00", "error": "#ff0000"})
    lines = text.plain.splitlines()
    assert len(lines) == 2 + len(heat.ys)
    for y, line in zip(heat.ys, lines[2:], strict=True):
        label, *shown_cells = line.split()
        assert label == f"fast={y}" and len(shown_cells) == len(heat.xs)
    reversed_spans = [span for span in text.spans if getattr(span.style, "reverse", False)]
    assert len(reversed_spans) == (heat.best is not None)
