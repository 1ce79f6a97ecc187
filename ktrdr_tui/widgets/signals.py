"""The Signals pane: every signal of the open playback session and the decision taken on it,
live, filterable, exportable to CSV.

Ten times a second the pane reads the rows of the session's signal log (`signal_log`, columns
that only grow: no lock, never one message per signal) after the ones it has read. New rows are
counted and filtered at once, column-wise, and only their indices are kept: a long session's
signals as Python objects would make every full garbage collection a visible stall. The table
(`SignalsTable`) draws the lines in view from those indices, so it lists every matching signal
however many there are, and a session at full speed costs a tick what a slow one does. Another
session, or a new log (seek back, restart), starts the table over.

A strategy the session stopped (it raised) is a line of its own under the table: which, at
which bar, the error; the session's other strategies go on.

Import-light: pandas, numpy and the engine's session modules are never imported here at module
level; the CSV export imports its writer in its worker thread.
"""

from __future__ import annotations

import re
from array import array
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from ktrdr_tui.formatting import plural
from ktrdr_tui.messages import SessionOpened
from ktrdr_tui.screens.signal_filter import SignalFilter
from ktrdr_tui.unavailable import ExplainsUnavailableKeys
from ktrdr_tui.widgets.signals_table import (
    RowStyles,
    SignalsTable,
    bar_time,
    exchange_time,
    signal_columns,
)
from ktrdr_tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from engine.session.logs import Signal, SignalLog
    from engine.session.pipeline import StrategyFailure
    from engine.session.playback import PlaybackSession
    from ktrdr_tui.engine_handle import EngineHandle

POLL_S = 0.1
INGEST_PER_TICK = 500_000  # signals counted and filtered per tick at most
EXPORTS = "exports"  # under the data dir

EMPTY_TEXT = "No signals yet — open a session in Playback (2, then o)"
NO_EXPORT = "No session open: nothing to export. Open one in Playback (2, then o)."
WAITING_TEXT = "No signals yet — play the session in Playback (2, then space)"
NO_MATCH_TEXT = "No signal matches the filter ({filter}) — / changes it"


def describe(signal: Signal, styles: RowStyles) -> Text:
    """The line under the table for the highlighted signal: every field, in full."""
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(f"{exchange_time(signal)} ET  ")
    line.append(signal.action, styles.buy if signal.action == "BUY" else styles.sell)
    line.append(f" {signal.symbol} {signal.timeframe} at {signal.price:,.2f}", "bold")
    line.append(" · ")
    if signal.approved:
        line.append("approved", styles.approved)
    else:
        line.append(f"rejected: {signal.reason}")
    line.append(f" · {signal.strategy} · confidence {signal.confidence:.2f}")
    if signal.note:  # the strategy's own words for it
        line.append(f" · {signal.note}")
    return line


def failure_line(failure: StrategyFailure, daily: bool) -> Text:
    """`2024-03-04 11:09 ET  stopped fragile: ZeroDivisionError: division by zero`: the bar
    the strategy raised at, in the table's time, and its error."""
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(f"{bar_time(failure.time_ns, daily)} ET  ")
    line.append(f"stopped {failure.strategy}", "bold")
    line.append(f": {failure.error} (no more signals from it; the others go on)")
    return line


def export_path(folder: Path, symbol: str, filtered: bool, now: datetime | None = None) -> Path:
    """`<folder>/signals-AAPL-20240304-101500[-filtered].csv`, never an existing file."""
    stamp = f"{now or datetime.now():%Y%m%d-%H%M%S}"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", symbol) or "session"
    stem = f"signals-{safe}-{stamp}{'-filtered' if filtered else ''}"
    path, n = folder / f"{stem}.csv", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.csv"
    return path


class SignalsPane(ReportsWorkerErrors, ExplainsUnavailableKeys, Vertical):
    DEFAULT_CSS = """
    SignalsPane SignalsTable {
        height: 1fr;
    }
    SignalsPane.-empty SignalsTable {
        height: auto;
        overflow-x: hidden;
    }
    SignalsPane #signals-hint {
        color: $text-muted;
        padding: 1 0;
        max-width: 90;
    }
    SignalsPane #signals-selected {
        height: 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    SignalsPane.-empty #signals-selected {
        display: none;
    }
    SignalsPane #signals-failures {
        height: auto;
        color: $error;
    }
    SignalsPane #signals-status {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS = [
        Binding("f", "follow", "Follow", tooltip="follow new signals", id="signals.follow"),
        Binding(
            "slash", "filter", "Filter", key_display="/", tooltip="filter", id="signals.filter"
        ),
        Binding("e", "export", "Export CSV", tooltip="export CSV", id="signals.export"),
    ]

    def __init__(self, engine: EngineHandle, *, id: str | None = None):
        super().__init__(id=id)
        self.engine = engine
        self.following = True
        self.signal_filter = SignalFilter()
        self._session: PlaybackSession | None = None
        self._log: SignalLog | None = None  # the session's log, its rows read up to `_read`
        self._read = 0
        self._approved = 0
        self._matched = array("q")  # the indices of the read rows the filter lets through
        self._styles: RowStyles | None = None
        self._status = ""
        self._hint = ""
        self._failures: tuple[StrategyFailure, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static("Signal log", classes="pane-title")
        yield SignalsTable(id="signals-table")
        yield Static("", id="signals-selected")
        yield Static(EMPTY_TEXT, id="signals-hint")
        yield Static("", id="signals-failures")
        yield Static("", id="signals-status")

    def on_mount(self) -> None:
        self.add_class("-empty")
        self.query_one("#signals-failures", Static).display = False
        self.set_interval(POLL_S, self.poll)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())
        self.poll()

    def on_session_opened(self, _message: SessionOpened) -> None:
        self.poll()  # the new session's signals from the first frame, not a tick later

    def on_show(self) -> None:
        self.poll()  # the table waits while the pane is hidden: catch up now, not a tick later

    @property
    def session(self) -> PlaybackSession | None:
        return self.engine.session

    @property
    def table(self) -> SignalsTable:
        return self.query_one(SignalsTable)

    @property
    def signals(self) -> list[Signal]:
        """The session's signals the pane has read (all of them, once caught up)."""
        return self._log[: self._read] if self._log is not None else []

    def _signals_at(self, start: int, stop: int) -> list[Signal]:
        """The signals at positions start…stop of `matched`, built now."""
        if self._log is None:
            return []
        return self._log.rows(self._matched[start:stop])

    def unavailable(self, action: str) -> str:
        if action == "export" and self.session is None:
            return NO_EXPORT
        return ""

    # -- polling ----------------------------------------------------------------------------

    def poll(self) -> None:
        session = self.session
        if session is not self._session:
            self._another_session(session)
        if session is not None:
            self._read_log(session)
        if self._shown():
            self.table.grow(len(self._matched))
            if self.following:
                self._to_newest()
        self._show_state()

    def _shown(self) -> bool:
        node: Widget | None = self
        while isinstance(node, Widget):
            if not node.display:
                return False
            node = node.parent if isinstance(node.parent, Widget) else None
        return True

    def _another_session(self, session: PlaybackSession | None) -> None:
        """Another session (or none): its symbols' column, and no filter on a symbol it lacks."""
        symbols = session.symbols if session is not None else ()
        if self.signal_filter.symbol not in ("", *symbols):
            self.signal_filter = replace(self.signal_filter, symbol="")
        self.table.set_columns(signal_columns(symbols))
        self._restart(session, session.signal_log if session is not None else None)
        self.refresh_bindings()

    def _restart(self, session: PlaybackSession | None, log: SignalLog | None) -> None:
        """Forget every signal: another session, or the results started over."""
        self._session, self._log = session, log
        self._read = self._approved = 0
        self._matched = array("q")
        self._start_over()

    def _read_log(self, session: PlaybackSession) -> None:
        """Count and filter the rows the session's log has gained since the last read."""
        log, start = session.signal_log, self._read
        if log is not self._log:
            self._restart(session, log)  # the results started over (seek back, restart)
            start = 0
        stop = min(len(log), start + INGEST_PER_TICK)
        if stop <= start:
            return
        self._approved += log.approved(start, stop)
        self._matched.extend(self._matching(self.signal_filter, start, stop))
        self._read = stop

    def _matching(self, chosen: SignalFilter, start: int, stop: int) -> array[int]:
        """The indices of the log's rows start…stop that `chosen` lets through."""
        found = array("q")
        if self._log is not None:
            found.frombytes(chosen.indices(self._log, start, stop).tobytes())
        return found

    def _start_over(self) -> None:
        """The table's rows are no longer what they were (another log, filter or theme)."""
        self.table.reset(self._signals_at, len(self._matched), self._row_styles())

    def _to_newest(self) -> None:
        self.table.move_cursor(len(self._matched) - 1)

    def _row_styles(self) -> RowStyles:
        if self._styles is None:
            self._styles = RowStyles(self.app.theme_variables)
        return self._styles

    def _restyle(self) -> None:
        self._styles = None
        self._start_over()  # the rows come back in the new colours
        self.poll()

    # -- what the pane says -----------------------------------------------------------------

    def _show_state(self) -> None:
        if self._session is None:
            hint = EMPTY_TEXT
        elif not self._read:
            hint = WAITING_TEXT
        elif not self._matched:
            hint = NO_MATCH_TEXT.format(filter=self.signal_filter.describe())
        else:
            hint = ""
        if hint != self._hint:
            self._hint = hint
            self.set_class(bool(hint), "-empty")
            widget = self.query_one("#signals-hint", Static)
            widget.display = bool(hint)
            widget.update(hint)
        self._show_failures()
        status = self.status_text()
        if status.plain != self._status:
            self._status = status.plain
            self.query_one("#signals-status", Static).update(status)

    def _show_failures(self) -> None:
        session = self._session
        failures = session.snapshot().strategy_failures if session is not None else ()
        if failures == self._failures:
            return
        self._failures = failures
        daily = session is not None and session.timeframe == "1d"
        widget = self.query_one("#signals-failures", Static)
        widget.update(Text("\n", end="").join(failure_line(f, daily) for f in failures))
        widget.display = bool(failures)

    def status_text(self) -> Text:
        """`following · 1,234 signals · 210 approved · 1,024 rejected · filter: rsi BUY …`"""
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        if self._session is None:
            return line
        if self.following:
            line.append("following", "bold")
        else:
            line.append("not following (f follows)", Style(dim=True))
        total = self._read
        line.append(f" · {plural(total, 'signal')}")
        line.append(f" · {self._approved:,} approved · {total - self._approved:,} rejected")
        if self.signal_filter.active:
            line.append(f" · filter: {self.signal_filter.describe()}", "bold")
            line.append(f" ({len(self._matched):,} match)")
        return line

    def on_signals_table_highlighted(self, event: SignalsTable.Highlighted) -> None:
        event.stop()
        selected = self.query_one("#signals-selected", Static)
        signals = self._signals_at(event.row, event.row + 1)
        selected.update(describe(signals[0], self._row_styles()) if signals else "")

    def on_signals_table_left_the_end(self, event: SignalsTable.LeftTheEnd) -> None:
        event.stop()
        table = self.table
        if self.following and table.cursor_row < table.row_count - 1:
            self.following = False
            self._show_state()

    # -- keys -------------------------------------------------------------------------------

    def action_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self._to_newest()
        self._show_state()

    def action_filter(self) -> None:
        from ktrdr_tui.screens.signal_filter import SignalFilterScreen

        symbols = self._session.symbols if self._session is not None else ()
        self.app.push_screen(
            SignalFilterScreen(self.signal_filter, self.count_matching, symbols), self.set_filter
        )

    def count_matching(self, candidate: SignalFilter) -> tuple[int, int]:
        """How many of the signals read so far `candidate` lets through, and of how many."""
        total = self._read
        matching = len(self._matching(candidate, 0, total)) if candidate.active else total
        return matching, total

    def set_filter(self, chosen: SignalFilter | None) -> None:
        """List only what `chosen` lets through (None: keep the filter as it is)."""
        if chosen is None or chosen == self.signal_filter:
            return
        self.signal_filter = chosen
        self._matched = self._matching(chosen, 0, self._read)
        self._start_over()
        self.poll()

    def action_export(self) -> None:
        session = self.session
        if session is None:
            return  # the key is disabled then, and says why
        chosen = self.signal_filter if self.signal_filter.active else None
        self._export(session, chosen, Path(self.engine.config.data_dir) / EXPORTS)

    @work(thread=True, group="signals-export", exit_on_error=False, description="export")
    def _export(self, session: PlaybackSession, chosen: SignalFilter | None, folder: Path) -> None:
        """Every signal of the session so far (or those the filter lets through) as CSV,
        written atomically; the outcome is a notification."""
        try:
            from engine.core.atomic import write_atomic
            from engine.session.logs import signals_csv

            playing = str(session.snapshot().state) == "playing"
            log = session.signal_log
            total = len(log)
            rows = log.rows(chosen.indices(log, 0, total)) if chosen is not None else log[:total]
            path = export_path(folder, "-".join(session.symbols), filtered=chosen is not None)
            write_atomic(path, signals_csv(rows).encode())
        except Exception as exc:  # a full disk, a read-only folder: say so, never crash
            reason = str(exc) or type(exc).__name__
            self.notify(
                f"Could not export the signals: {reason}",
                title="Export failed",
                severity="error",
                timeout=10,
                markup=False,
            )
            return
        if chosen is not None:
            what = f"{len(rows):,} of {plural(total, 'signal')} (filter: {chosen.describe()})"
        else:
            what = "the signal" if total == 1 else f"all {plural(total, 'signal')}"
        so_far = " so far (the session plays on)" if playing else ""
        self.notify(
            # The table shows exchange time; the file keeps UTC, as `backtest --signals-out`.
            f"Wrote {what}{so_far} to {path}. Times in the file are UTC (the table shows ET).",
            title="Signals exported",
            timeout=10,
            markup=False,
        )
