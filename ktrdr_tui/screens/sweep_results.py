"""`enter` on a sweep in Jobs: its results, best first by a metric (`m` the next one, `M` the
one before), one row a backtest: what the sweep varied, then the main statistics. A sweep that
varies exactly two things (on one symbol) also shows the metric as a heatmap: one row per value
of the first, one column per value of the second, each cell coloured by how good it is (the
theme's success, warning, error), the best one highlighted.

`enter` on a row opens that backtest in Playback: the sweep service makes its session as the
open-session dialog does (the same engine calls), and the screen posts `BacktestOpened`, which
the app hands to the Playback pane as the dialog's result.

The results are read in a thread (a sweep of an earlier run is planned again: its bars are
read), once: a sweep still running shows what it had then. The screen is modal (it covers the
panes, whose keys wait until `escape` closes it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.sweep.report import LOWER_IS_BETTER, Varied, ranked, shown, varied
from ktrdr_tui.cells import theme_style
from ktrdr_tui.footer import KeysFooter
from ktrdr_tui.formatting import STATISTICS, plural, statistic
from ktrdr_tui.widgets.line_table import Column, LineTable
from ktrdr_tui.widgets.speed_slider import DEFAULT_SPEED
from ktrdr_tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from engine.sweep.service import SweepResults
    from ktrdr_tui.engine_handle import EngineHandle
    from ktrdr_tui.screens.open_session import OpenedSession

METRICS = tuple(name for name, _, _ in STATISTICS)  # the order `m` goes through
LABELS = {name: label for name, label, _ in STATISTICS}
KINDS = {name: kind for name, _, kind in STATISTICS}
# Beside the metric, in this order.
TABLE_STATISTICS = ("return_pct", "sharpe", "max_drawdown_pct", "trades", "win_rate_pct")
LOADING = "Reading the results…"
# A heatmap cell's colour by how good it is between the worst and the best: (share, colour).
HEAT = ((2 / 3, "success"), (1 / 3, "warning"), (0.0, "error"))
NO_VALUE = "·"  # a combination refused, not run yet, or whose metric is undefined


def metric_value(row: Mapping, metric: str) -> float:
    """The row's metric, NaN where it is undefined (null)."""
    value = row[metric]
    return math.nan if value is None else float(value)


def metric_text(row: Mapping, metric: str) -> str:
    return statistic(metric_value(row, metric), KINDS[metric])


@dataclass(frozen=True)
class Heatmap:
    """A metric over two things a sweep varies: `values[(y, x)]` for the backtests run."""

    metric: str
    down: Varied  # one row per value
    across: Varied  # one column per value
    ys: tuple[object, ...]  # in the sweep's order
    xs: tuple[object, ...]
    values: dict[tuple[object, object], float]
    best: tuple[object, object] | None


def heatmap(rows: Sequence[Mapping], dimensions: Sequence[Varied], metric: str) -> Heatmap | None:
    """The heatmap of `rows` (one sweep's, in its order), or None unless the sweep varies
    exactly two things on one symbol."""
    if len(dimensions) != 2 or len({row["symbol"] for row in rows}) > 1:
        return None
    down, across = dimensions
    ys = tuple(dict.fromkeys(down.value(row) for row in rows))
    xs = tuple(dict.fromkeys(across.value(row) for row in rows))
    values = {(down.value(row), across.value(row)): metric_value(row, metric) for row in rows}
    first = ranked(list(rows), metric)[:1]
    best = None
    if first and not math.isnan(metric_value(first[0], metric)):
        best = (down.value(first[0]), across.value(first[0]))
    return Heatmap(metric, down, across, ys, xs, values, best)


def heatmap_text(
    heat: Heatmap, strategies: int, variables: Mapping[str, str], width: int = 0
) -> Text:
    """The heatmap as lines of text: a title, the column values, then a line per row value
    (`fast=10`) with its cells. `width`: the cells are at least this wide."""
    defined = [value for value in heat.values.values() if not math.isnan(value)]
    low, high = (min(defined), max(defined)) if defined else (0.0, 0.0)
    lower_better = heat.metric in LOWER_IS_BETTER
    cells = {key: statistic(value, KINDS[heat.metric]) for key, value in heat.values.items()}
    cell_width = max([width, len(NO_VALUE), *(len(shown(x)) for x in heat.xs)])
    cell_width = max([cell_width, *(len(text) for text in cells.values())])
    down, across = heat.down.heading(strategies), heat.across.heading(strategies)
    labels = [f"{down}={shown(y)}" for y in heat.ys]
    label_width = max([len(across) + 2, *map(len, labels)])
    muted = Style(dim=True)
    text = Text(no_wrap=True, end="")
    text.append(f"{LABELS[heat.metric]} by {down} and {across}", Style(bold=True))
    text.append("\n")
    text.append(f"{across} →".rjust(label_width), muted)
    for x in heat.xs:
        text.append(" " + shown(x).rjust(cell_width), Style(bold=True))
    for y, label in zip(heat.ys, labels, strict=True):
        text.append("\n")
        text.append(label.rjust(label_width), Style(bold=True))
        for x in heat.xs:
            text.append(" ")
            value = heat.values.get((y, x), math.nan)
            if math.isnan(value):
                text.append(cells.get((y, x), NO_VALUE).rjust(cell_width), muted)
                continue
            share = (value - low) / (high - low) if high > low else 1.0
            if lower_better:
                share = 1 - share
            colour = next(name for floor, name in HEAT if share >= floor)
            style = theme_style(variables, colour)
            if (y, x) == heat.best:
                style += Style(bold=True, reverse=True)
            text.append(cells[(y, x)].rjust(cell_width), style)
    return text


# -- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """What the table shows of a sweep: its symbols (if several), what it varied, the metric
    and the statistics beside it."""

    symbols: bool
    dimensions: tuple[Varied, ...]
    strategies: int  # how many strategies each backtest ran (for the headings)
    metric: str

    @property
    def statistics(self) -> tuple[str, ...]:
        return (self.metric, *(name for name in TABLE_STATISTICS if name != self.metric))

    def columns(self, rows: Sequence[Mapping]) -> tuple[Column, ...]:
        """(label, width, right-aligned): each as wide as its widest value."""
        columns: list[Column] = [("#", max(2, len(str(len(rows)))), True)]
        if self.symbols:
            columns.append(("Symbol", max([6, *(len(row["symbol"]) for row in rows)]), False))
        for dimension in self.dimensions:
            label = dimension.heading(self.strategies)
            values = [len(shown(dimension.value(row))) for row in rows]
            columns.append((label, max([len(label), *values]), True))
        for name in self.statistics:
            arrow = " ▲" if name in LOWER_IS_BETTER else " ▼"
            label = LABELS[name] + (arrow if name == self.metric else "")
            values = [len(metric_text(row, name)) for row in rows]
            columns.append((label, max([len(label), *values]), True))
        return tuple(columns)


def result_cells(
    rank: int, row: Mapping, layout: Layout, variables: Mapping[str, str]
) -> list[Text]:
    """A row's cells: its rank, symbol, values, then the statistics (the metric in bold,
    returns in the colour of a gain or a loss)."""
    cells = [Text(str(rank))]
    if layout.symbols:
        cells.append(Text(row["symbol"]))
    cells += [Text(shown(dimension.value(row))) for dimension in layout.dimensions]
    gain, loss = theme_style(variables, "success"), theme_style(variables, "error")
    for name in layout.statistics:
        value = metric_value(row, name)
        style = Style(bold=True) if name == layout.metric else Style()
        if KINDS[name] == "signed %" and value and not math.isnan(value):
            style += gain if value > 0 else loss
        cells.append(Text(metric_text(row, name), style=style))
    return cells


class SweepTable(LineTable[int]):
    """The ranked rows; a row is its place in `ranked`. `enter` posts `Chosen`."""

    BINDINGS = [
        Binding(
            "enter",
            "choose",
            "Open",
            tooltip="open the backtest in Playback",
            id="sweep-results.open",
        )
    ]

    class Chosen(Message):
        """Enter on a result: open its backtest."""

        def __init__(self, row: int):
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.ranked: list[dict] = []
        self.results_layout: Layout | None = None

    def show(self, ranked_rows: list[dict], layout: Layout) -> None:
        self.ranked, self.results_layout = ranked_rows, layout
        self.set_columns(layout.columns(ranked_rows))
        self.rows_changed(len(ranked_rows))

    def rows(self, start: int, stop: int) -> list[int]:
        return list(range(start, min(stop, self.row_count)))

    def cells_of(self, row: int) -> list[Text]:
        assert self.results_layout is not None  # rows come with their layout
        return result_cells(
            row + 1, self.ranked[row], self.results_layout, self.app.theme_variables
        )

    def action_choose(self) -> None:
        if self.row_count:
            self.post_message(self.Chosen(self.cursor_row))


def describe(rank: int, row: Mapping, layout: Layout) -> Text:
    """A result on one line under the table: its strategies and rules in full, the metric."""
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(f"#{rank} ", Style(bold=True))
    if layout.symbols:
        line.append(f"{row['symbol']} ")
    line.append(" ".join(row["strategies"]))
    for option, value in row["rules"].items():
        line.append(f" --{option.replace('_', '-')} {value}")
    line.append(f" · {LABELS[layout.metric]} {metric_text(row, layout.metric)}")
    if row["failures"]:
        line.append(f" · {row['failures'][0]}", Style(bold=True))
    line.append("   enter opens it in Playback", Style(dim=True))
    return line


# -- the screen --------------------------------------------------------------------------------


class SweepResultsScreen(ReportsWorkerErrors, ModalScreen[None]):
    DEFAULT_CSS = """
    SweepResultsScreen {
        padding: 0 1;
        background: $background;
    }
    SweepResultsScreen #sweep-title {
        text-style: bold;
        color: $primary;
        padding: 1 0 0 0;
        height: auto;
    }
    SweepResultsScreen SweepTable {
        height: 1fr;
        min-height: 4;
        margin-top: 1;
    }
    SweepResultsScreen #sweep-selected {
        height: 1;
        color: $text-muted;
    }
    SweepResultsScreen #sweep-heatmap {
        height: auto;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="sweep-results.close"),
        Binding(
            "m",
            "metric(1)",
            "Metric",
            tooltip="sort by the next statistic",
            id="sweep-results.metric",
        ),
        Binding(
            "M",
            "metric(-1)",
            "Previous metric",
            show=False,
            tooltip="sort by the statistic before",
            id="sweep-results.previous-metric",
        ),
    ]

    class BacktestOpened(Message):
        """A result's backtest, opened as a session (set up, not started): Playback adopts it
        as the open-session dialog's."""

        def __init__(self, opened: OpenedSession):
            super().__init__()
            self.opened = opened

    def __init__(self, engine: EngineHandle, job_id: str):
        super().__init__()
        self.engine = engine
        self.job_id = job_id
        self.results: SweepResults | None = None
        self.metric = ""
        self._opening = False

    def compose(self) -> ComposeResult:
        yield Static(LOADING, id="sweep-title")
        yield SweepTable(id="sweep-table")
        yield Static("", id="sweep-selected")
        yield Static("", id="sweep-heatmap")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one(SweepTable).focus()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._show())
        self._read()

    @work(thread=True, exit_on_error=False, description="read the sweep's results")
    def _read(self) -> None:
        sweeps = self.engine.sweeps
        assert sweeps is not None  # its sweep is listed
        results = sweeps.results(self.job_id)
        self.app.call_from_thread(self._results_read, results)

    def _results_read(self, results: SweepResults) -> None:
        self.results = results
        self.metric = results.journal.request.metric
        self._show()

    @property
    def results_layout(self) -> Layout | None:
        results = self.results
        if results is None:
            return None
        plan = results.plan
        return Layout(len(plan.symbols) > 1, varied(plan), len(plan.grids), self.metric)

    def _show(self) -> None:
        """The title, the table sorted by the metric (the cursor on the best) and the heatmap."""
        results, layout = self.results, self.results_layout
        if results is None or layout is None:
            return
        plan, request = results.plan, results.journal.request
        done = len(results.rows)
        skipped = f", {plural(plan.skipped, 'combination')} skipped" if plan.skipped else ""
        progress = "" if done == plan.runs else f" ({done:,} of {plan.runs:,} so far)"
        self.query_one("#sweep-title", Static).update(
            f"Sweep {' '.join(plan.symbols)} {plan.timeframe} {request.start} → {request.end}: "
            f"{plural(done, 'backtest')}{progress}{skipped} · best by {LABELS[self.metric]}"
        )
        table = self.query_one(SweepTable)
        table.show(ranked(list(results.rows), self.metric), layout)
        table.move_cursor(0)
        heat = heatmap(results.rows, layout.dimensions, self.metric)
        widget = self.query_one("#sweep-heatmap", Static)
        widget.display = heat is not None
        if heat is not None:
            widget.update(heatmap_text(heat, layout.strategies, self.app.theme_variables))
        self._show_selected()

    def _show_selected(self) -> None:
        table, layout = self.query_one(SweepTable), self.results_layout
        line = Text("")
        if layout is not None and table.row_count:
            row = table.cursor_row
            line = describe(row + 1, table.ranked[row], layout)
        self.query_one("#sweep-selected", Static).update(line)

    def on_line_table_highlighted(self, _event: LineTable.Highlighted) -> None:
        self._show_selected()

    def action_metric(self, step: int) -> None:
        if self.results is None:
            return
        self.metric = METRICS[(METRICS.index(self.metric) + step) % len(METRICS)]
        self._show()

    # -- opening a backtest -------------------------------------------------------------------

    def on_sweep_table_chosen(self, message: SweepTable.Chosen) -> None:
        results = self.results
        if results is None or self._opening:
            return
        self._opening = True
        row = self.query_one(SweepTable).ranked[message.row]
        self.query_one("#sweep-selected", Static).update(
            f"Opening {' '.join(row['strategies'])} on {row['symbol']}…"
        )
        session = self.engine.session
        speed = session.snapshot().speed if session is not None else DEFAULT_SPEED
        self._open(results, row, speed)

    @work(thread=True, exclusive=True, exit_on_error=False, description="open the backtest")
    def _open(self, results: SweepResults, row: dict, speed: float) -> None:
        from ktrdr_tui.screens.open_session import OpenedSession

        sweeps = self.engine.sweeps
        assert sweeps is not None
        try:
            session, request = sweeps.open_backtest(results, row, speed)
        finally:
            self.app.call_from_thread(self._opening_done)
        opened = OpenedSession(session, request, sweeps.calendar.timezone)
        self.app.call_from_thread(self._opened, opened)

    def _opening_done(self) -> None:
        """The line under the table says the row again (a failure is notified)."""
        self._opening = False
        self._show_selected()

    def _opened(self, opened: OpenedSession) -> None:
        if self.is_current:
            self.dismiss()
            self.app.post_message(self.BacktestOpened(opened))
        else:
            opened.session.stop()  # closed meanwhile: never shown
