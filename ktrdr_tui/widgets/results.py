"""The Results pane: how the open session's run did. Its statistics (DESIGN.md's, in its order),
its equity curve with the drawdown below it, and its trades; `e` exports the trades and the
equity as CSVs, `enter` on a trade posts `TradesTable.TradeChosen`. A session of several symbols
also has each symbol's share below (trades, win rate, P&L, return, buy & hold, exposure), and
its trades a Symbol column; a one-symbol session's pane has neither.

The pane draws what it is handed: `show_results(curve, trades, statistics, by_symbol)`, the
engine.results objects of the run so far, as often as a poll finds them (the chart redraws at
most 10 times a second and only for another curve; the table draws only the trades in view).
Another session opened forgets the last one's results.

While it is shown, the pane polls the open session POLL_HZ times a second: a snapshot it has
not asked about (the session played on, or came to rest) has its results computed in a thread
(`PlaybackSession.results`: the new fills matched into trades, the statistics afresh), one at
a time, on the latest snapshot when it starts; a session at rest is asked about once.

Import-light: numpy, pandas and engine.results are imported where they are used.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from ktrdr_tui.cells import theme_style
from ktrdr_tui.formatting import STATISTICS, UNDEFINED, plural, statistic
from ktrdr_tui.messages import SessionOpened
from ktrdr_tui.unavailable import ExplainsUnavailableKeys
from ktrdr_tui.widgets.equity_chart import EquityChart, daily_bars
from ktrdr_tui.widgets.signals import EXPORTS
from ktrdr_tui.widgets.signals_table import symbol_column
from ktrdr_tui.widgets.trades_table import TradesTable
from ktrdr_tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from engine.results import EquityCurve, Statistics, Trades
    from engine.session.playback import PlaybackSession, SessionSnapshot
    from engine.session.results import SessionResults, SymbolResults
    from ktrdr_tui.engine_handle import EngineHandle

EMPTY_TEXT = "Open a session in Playback (2, o) to see its results"
WAITING_TEXT = "No results yet — play the session in Playback (2, then space)"
NO_EXPORT = "No results to export yet: open a session in Playback (2, then o) and play it."
LABEL_WIDTH = 17
VALUE_WIDTH = 12
POLL_HZ = 10  # the session's results asked for at most this often (DESIGN.md: ≤ 10 Hz)
# Each symbol's share in a session of several, under the statistics and the trades, in 80
# columns: (SymbolResults field, label, width, kind as in STATISTICS, or "signed money"); the
# symbol first, as wide as the longest.
BY_SYMBOL = (
    ("trades", "Trades", 6, "count"),
    ("win_rate_pct", "Win rate", 8, "%"),
    ("pnl", "P&L", 12, "signed money"),
    ("return_pct", "Return", 8, "signed %"),
    ("buy_hold_return_pct", "Buy & hold", 10, "signed %"),
    ("exposure_pct", "Exposure", 8, "%"),
)
BY_SYMBOL_GAP = "  "


class ValueStyles:
    """How a value shows: gains and losses in the theme's colours, what is undefined dimmed."""

    def __init__(self, variables: Mapping[str, str]):
        self.gain, self.loss = theme_style(variables, "success"), theme_style(variables, "error")

    def shown(self, value: float, kind: str) -> tuple[str, Style | str]:
        """`value` as shown (`kind` from STATISTICS, or "signed money"), and its style."""
        if kind == "signed money" and math.isfinite(value):
            shown = f"{value:+,.2f}"
        else:
            shown = statistic(value, kind)
        if shown == UNDEFINED:
            return shown, Style(dim=True)
        if kind.startswith("signed") and value:
            return shown, self.gain if value > 0 else self.loss
        return shown, ""


def statistics_text(stats: Statistics | None, variables: Mapping[str, str]) -> Text:
    """One line per statistic: its label and its value, gains and losses in the theme's
    colours; `—` for a statistic that is undefined (and for all while there are none)."""
    styles = ValueStyles(variables)
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for index, (name, label, kind) in enumerate(STATISTICS):
        value = getattr(stats, name) if stats is not None else float("nan")
        shown, style = styles.shown(value, kind)
        if index:
            text.append("\n")
        text.append(label.ljust(LABEL_WIDTH), Style(dim=True))
        text.append(shown.rjust(VALUE_WIDTH), style)
    return text


def by_symbol_text(shares: Sequence[SymbolResults], variables: Mapping[str, str]) -> Text:
    """A header line, then one line per symbol (BY_SYMBOL's columns): what each symbol's
    trades made, gains and losses in the theme's colours; `—` where undefined (no trade yet,
    no bar yet)."""
    styles = ValueStyles(variables)
    label, width, _ = symbol_column([share.symbol for share in shares])
    text = Text(label.ljust(width), Style(dim=True), no_wrap=True, overflow="ellipsis", end="")
    for _, label, column, _ in BY_SYMBOL:
        text.append(f"{BY_SYMBOL_GAP}{label:>{column}}", Style(dim=True))
    for share in shares:
        text.append("\n")
        text.append(share.symbol.ljust(width), "bold")
        for name, _, column, kind in BY_SYMBOL:
            shown, style = styles.shown(getattr(share, name), kind)
            text.append(BY_SYMBOL_GAP)
            text.append(shown.rjust(column), style)
    return text


def export_paths(folder: Path, trades: Trades, now: datetime) -> tuple[Path, Path]:
    """`<folder>/trades-AAPL-20240315-220000.csv` and `<folder>/equity-AAPL-….csv` (the trades'
    symbols, up to three; else `session`), neither an existing file."""
    symbols = sorted(set(trades.symbol.tolist()))
    named = "-".join(symbols) if 0 < len(symbols) <= 3 else "session"
    stem = f"{re.sub(r'[^A-Za-z0-9._-]', '_', named)}-{now:%Y%m%d-%H%M%S}"
    suffix, n = "", 1
    while (folder / f"trades-{stem}{suffix}.csv").exists() or (
        folder / f"equity-{stem}{suffix}.csv"
    ).exists():
        n += 1
        suffix = f"-{n}"
    return folder / f"trades-{stem}{suffix}.csv", folder / f"equity-{stem}{suffix}.csv"


@dataclass
class ResultsComputed(Message, bubble=False):
    """A poll's results, from its thread: those of `session` as of a snapshot of it."""

    session: PlaybackSession
    results: SessionResults


class ResultsPane(ReportsWorkerErrors, ExplainsUnavailableKeys, Vertical, can_focus=True):
    DEFAULT_CSS = """
    ResultsPane {
        height: 1fr;
    }
    ResultsPane #results-hint, ResultsPane.-empty #results-body {
        display: none;
    }
    ResultsPane.-empty #results-hint {
        display: block;
    }
    ResultsPane #results-body {
        height: 1fr;
        margin-top: 1;
    }
    ResultsPane #results-stats {
        width: 32;
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ResultsPane #results-main {
        width: 1fr;
    }
    ResultsPane EquityChart {
        height: 1fr;
        min-height: 6;
    }
    ResultsPane TradesTable {
        height: 1fr;
        min-height: 3;
    }
    ResultsPane #results-selected {
        height: 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ResultsPane #results-symbols {
        display: none;
        height: auto;
        max-height: 35%;
        margin-top: 1;
        scrollbar-size-vertical: 1;
    }
    ResultsPane.-symbols #results-symbols {
        display: block;
    }
    ResultsPane.-empty #results-symbols {
        display: none;
    }
    """

    BINDINGS = [
        Binding(
            "e",
            "export",
            "Export CSV",
            tooltip="export the trades and the equity as CSV",
            id="results.export",
        ),
    ]

    def __init__(self, engine: EngineHandle, *, id: str | None = None):
        super().__init__(id=id)
        self.engine = engine
        self.curve: EquityCurve | None = None
        self.trades: Trades | None = None
        self.statistics: Statistics | None = None
        self.by_symbol: tuple[SymbolResults, ...] = ()  # empty: a session of one symbol
        self._statistics_shown = ""
        self._by_symbol_shown = ""
        self._hint = EMPTY_TEXT
        self._asked: SessionSnapshot | None = None  # the last snapshot polled
        self._computing: Worker[None] | None = None
        self._shown = False

    def compose(self) -> ComposeResult:
        yield Static("Results", classes="pane-title")
        yield Static(EMPTY_TEXT, id="results-hint", classes="pane-empty")
        with Horizontal(id="results-body"):
            with VerticalScroll(id="results-stats", can_focus=False):
                yield Static(id="results-statistics")
            with Vertical(id="results-main"):
                yield EquityChart("No bars played yet", id="results-chart")
                yield TradesTable(id="results-trades")
                yield Static("", id="results-selected")
        with VerticalScroll(id="results-symbols", can_focus=False):
            yield Static(id="results-by-symbol")

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._show_statistics(True))
        self._show_statistics()
        self._show_state()
        self.set_interval(1 / POLL_HZ, self.poll)

    def on_show(self) -> None:
        # Shown by `4`: the app focused the trade list, hidden while there are no results.
        self._shown = True
        self._focus_inside()
        self.poll()  # what the session did meanwhile, at once

    def on_hide(self) -> None:
        self._shown = False  # no results computed for no one to see

    def on_session_opened(self, _message: SessionOpened) -> None:
        self._asked = self._computing = None
        self._forget()  # the last session's

    def _forget(self) -> None:
        self.curve = self.trades = self.statistics = None
        self.by_symbol = ()
        self.query_one(EquityChart).show(None)
        self.query_one(TradesTable).show(None)
        self._show_statistics()
        self._show_state()

    # -- the session's results ---------------------------------------------------------------

    def poll(self) -> None:
        """Ask for the open session's results as of its latest snapshot, if the pane is shown,
        no other computation runs and that snapshot was not asked about yet."""
        session = self.engine.session
        if session is None or not self._shown:
            return
        computing = self._computing
        if computing is not None and not computing.is_finished:
            return  # the next poll after it takes the latest snapshot: never a queue of them
        if computing is not None and computing.state is WorkerState.ERROR:
            return  # told once (ReportsWorkerErrors), not once per poll; a new session retries
        snapshot = session.snapshot()
        if snapshot is self._asked:
            return
        self._asked = snapshot
        self._computing = self._compute(session, snapshot)

    @work(
        thread=True,
        group="results-poll",
        exit_on_error=False,
        description="compute the results",
    )
    def _compute(self, session: PlaybackSession, snapshot: SessionSnapshot) -> None:
        # The trades and statistics of a long run take milliseconds: never on the event loop.
        self.post_message(ResultsComputed(session, session.results(snapshot)))

    def on_results_computed(self, message: ResultsComputed) -> None:
        if message.session is not self.engine.session:
            return  # another session was opened meanwhile
        results = message.results
        if len(results.curve):
            self.show_results(results.curve, results.trades, results.statistics, results.by_symbol)
        else:
            self._forget()  # restarted (or sought back to the start): no bar played yet

    # -- what the pane shows -----------------------------------------------------------------

    def show_results(
        self,
        curve: EquityCurve,
        trades: Trades,
        statistics: Statistics | None,
        by_symbol: Sequence[SymbolResults] = (),
    ) -> None:
        """Show a run's results so far: its equity curve, its trades and their statistics
        (None while there are none: a curve of no bars), and each symbol's share of a session
        of several (none for one symbol). Cheap to call on every poll."""
        self.curve, self.trades, self.statistics = curve, trades, statistics
        self.by_symbol = tuple(by_symbol)
        self.query_one(EquityChart).show(curve)
        symbols = tuple(share.symbol for share in self.by_symbol)
        self.query_one(TradesTable).show(trades, daily_bars(curve.timestamp), symbols)
        self._show_statistics()
        self._show_state()

    def on_trades_table_highlighted(self, event: TradesTable.Highlighted) -> None:
        event.stop()
        table = self.query_one(TradesTable)
        self.query_one("#results-selected", Static).update(table.describe(event.row))

    def _show_statistics(self, restyle: bool = False) -> None:
        """The statistics, and each symbol's share (if several): redrawn only when they read
        otherwise (an update lays the pane out again), or in another theme's colours."""
        variables = self.app.theme_variables
        text = statistics_text(self.statistics, variables)
        if restyle or text.plain != self._statistics_shown:
            self._statistics_shown = text.plain
            self.query_one("#results-statistics", Static).update(text)
        shares = by_symbol_text(self.by_symbol, variables) if self.by_symbol else Text()
        if restyle or shares.plain != self._by_symbol_shown:
            self._by_symbol_shown = shares.plain
            self.query_one("#results-by-symbol", Static).update(shares)
        if bool(self.by_symbol) != self.has_class("-symbols"):
            self.set_class(bool(self.by_symbol), "-symbols")

    def _show_state(self) -> None:
        empty = self.curve is None
        hint = EMPTY_TEXT if self.engine.session is None else WAITING_TEXT
        if hint != self._hint:  # not on every poll: an update lays the pane out again
            self._hint = hint
            self.query_one("#results-hint", Static).update(hint)
        if empty != self.has_class("-empty"):
            self.set_class(empty, "-empty")
            self.refresh_bindings()
            focused = self.screen.focused
            if focused is not None and self in focused.ancestors_with_self:
                self._focus_inside()

    def _focus_inside(self) -> None:
        """The focus on the trade list, or on the pane while there are none to list: the
        pane's keys act from either, and the footer shows the list's only with a list."""
        target = self if self.has_class("-empty") else self.query_one(TradesTable)
        if self.screen.focused is not target:
            self.screen.set_focus(target)

    # -- keys -------------------------------------------------------------------------------

    def unavailable(self, action: str) -> str:
        return NO_EXPORT if action == "export" and self.curve is None else ""

    def action_export(self) -> None:
        if self.curve is None or self.trades is None:
            return  # the key is disabled then, and says why
        folder = Path(self.engine.config.data_dir) / EXPORTS
        self._export(self.curve, self.trades, folder, self.engine.config.now())

    @work(
        thread=True,
        group="results-export",
        exit_on_error=False,
        description="export the results",
    )
    def _export(self, curve: EquityCurve, trades: Trades, folder: Path, now: datetime) -> None:
        """The trades and the equity so far as CSVs, each written atomically; the outcome is a
        notification (a failure's too: a full disk, a read-only folder)."""
        from engine.results import write_equity_csv, write_trades_csv

        trades_path, equity_path = export_paths(folder, trades, now)
        write_trades_csv(trades_path, trades)
        write_equity_csv(equity_path, curve)
        self.notify(
            f"Wrote {plural(len(trades), 'trade')} to {trades_path} and the equity at "
            f"{plural(len(curve), 'bar')} to {equity_path}. Times in the files are UTC.",
            title="Results exported",
            timeout=10,
            markup=False,
        )
