"""The Signals pane: every signal of the open playback session and the decision taken on it,
live, filterable, exportable to CSV.

Ten times a second the pane reads the rows of the session's signal log (`signal_log`, columns
that only grow: no lock, never one message per signal) after the ones it has read. New rows are
counted and filtered at once, column-wise, and only their indices are kept: a long session's
signals as Python objects would make every full garbage collection a visible stall. Rows join
the table in batches, within a row and time budget per tick, so a session at full speed cannot
stall the UI: what does not fit comes next tick (when more arrive than a tick can add, the
newest rows show at once and the older ones fill in once the flood eases). Another session, or
a new log (seek back, restart), clears the table. While the pane is hidden only the counts move:
rows are added when it shows.

The table holds the newest MAX_ROWS matching rows (up to SLACK more before it is renewed, out
of sight: see "rows" below): a DataTable's per-row work grows with its length, and no one reads
10^5 rows in a terminal. The status line says when older rows are left out; the filter still
sees every signal and `e` still exports every one.

Import-light: pandas, numpy and the engine's session modules are never imported here at module
level; the CSV export imports its writer in its worker thread.
"""

from __future__ import annotations

import re
import time
from array import array
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.markup import escape
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import RowKey

from ktrdr_tui.screens.signal_filter import SignalFilter

if TYPE_CHECKING:
    from engine.session.logs import Signal, SignalLog
    from engine.session.playback import PlaybackSession

POLL_S = 0.1
MAX_ROWS = 10_000  # rows the table keeps (the newest that match the filter)
SLACK = 5_000  # rows past MAX_ROWS before the table is renewed (out of sight) with the newest
BURST_ROWS = 200  # rows shown at once when more arrive than a tick can add
ROWS_PER_TICK = 1_000  # rows added per tick at most …
FILL_BUDGET_S = 0.03  # … and for at most about this long: the rest come next tick
FILL_CHUNK = 100  # rows added between two looks at the clock
INGEST_PER_TICK = 500_000  # signals read per tick at most (counted and filtered, no rows)
# The store holds NYSE bars: signals show in the exchange's time.
EXCHANGE_TZ = ZoneInfo("America/New_York")
EXPORTS = "exports"  # under the data dir

PRICE_WIDTH = 9
# (key, label, width): fixed widths (see SignalsTable), the labels of right-aligned values
# right-aligned. The full strategy and reason of the highlighted row show under the table.
COLUMNS = (
    ("time", Text("Time (ET)"), 16),
    ("symbol", Text("Symbol"), 6),
    ("strategy", Text("Strategy"), 21),
    ("action", Text("Action"), 6),
    ("price", Text("Price", justify="right"), PRICE_WIDTH),
    ("confidence", Text("Conf", justify="right"), 4),
    ("decision", Text("Decision"), 8),
    ("reason", Text("Reason"), 44),
)

EMPTY_TEXT = "No signals yet — open a session in Playback (2, then o)"
WAITING_TEXT = "No signals yet — play the session in Playback (2, then space)"
NO_MATCH_TEXT = "No signal matches the filter ({filter}) — / changes it"


def exchange_time(signal: Signal) -> str:
    """`2024-03-04 10:15` in exchange time; daily bars (midnight UTC of the session date):
    the date."""
    seconds = signal.time_ns // 1_000_000_000
    if signal.timeframe == "1d":
        return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d}"
    return f"{datetime.fromtimestamp(seconds, EXCHANGE_TZ):%Y-%m-%d %H:%M}"


def short_strategy(label: str) -> str:
    """`sma_crossover:fast=3,slow=8,timeframe=15m` → `sma_crossover 3,8 15m`: the values
    in the spec's order, which tell a session's strategies apart in a narrow column."""
    name, _, rest = label.partition(":")
    values, timeframe = [], ""
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key == "timeframe":
            timeframe = value
        else:
            values.append(value or key)
    return " ".join(part for part in (name, ",".join(values), timeframe) if part)


def theme_style(variables: Mapping[str, str], name: str, *, bold: bool = False) -> Style:
    """A Rich style in the theme's colour `name` (`success`, `error`, …); dim if it has none."""
    colour = variables.get(name, "")
    return Style(color=colour, bold=bold) if colour.startswith("#") else Style(dim=True, bold=bold)


class RowStyles:
    """The styles of a row's coloured cells, from the theme's colours: Rich styles for Texts
    and the same as markup tags for the table's cells."""

    def __init__(self, variables: Mapping[str, str]):
        self.buy = theme_style(variables, "success", bold=True)
        self.sell = theme_style(variables, "error", bold=True)
        self.approved = theme_style(variables, "success")
        self.rejected = Style(dim=True)
        self.cells = {
            ("action", "BUY"): f"[{self.buy}]BUY[/]",
            ("action", "SELL"): f"[{self.sell}]SELL[/]",
            ("decision", True): f"[{self.approved}]approved[/]",
            ("decision", False): f"[{self.rejected}]rejected[/]",
        }


def row_cells(signal: Signal, styles: RowStyles) -> tuple[str, ...]:
    """One row: markup strings (values escaped), which the table turns into Texts only for
    the rows it draws. Texts built for every row added would be garbage-collector work: the
    gen-2 passes over a long session's objects already take whole frames."""
    cells = styles.cells
    return (
        exchange_time(signal),
        escape(signal.symbol),
        escape(short_strategy(signal.strategy)),
        cells.get(("action", signal.action)) or escape(signal.action),
        f"{signal.price:>{PRICE_WIDTH},.2f}",  # right-aligned by padding: no Text needed
        f"{signal.confidence:>4.2f}",
        cells[("decision", signal.approved)],
        escape(signal.reason),
    )


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


class SignalsTable(DataTable):
    """The signal rows. Every column has a fixed width and every row one line, so nothing
    needs measuring as rows arrive: DataTable would measure every new cell on the next idle
    (the better part of a row's cost). Moving the cursor up, a page up or to the top tells the
    pane, which stops following."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # DataTable measures `new_rows` to widen auto-width columns and size auto-height rows;
        # with neither, only the virtual size is left to compute, which the call still does.
        super()._update_dimensions(())

    class LeftTheEnd(Message):
        """The user moved the cursor towards older rows."""

    def _left_the_end(self) -> None:
        self.post_message(self.LeftTheEnd())

    def action_cursor_up(self) -> None:
        super().action_cursor_up()
        self._left_the_end()

    def action_page_up(self) -> None:
        super().action_page_up()
        self._left_the_end()

    def action_scroll_top(self) -> None:
        super().action_scroll_top()
        self._left_the_end()


class _Rows:
    """A table and the run of matching signals it holds: `matched[start:end]`, each row keyed
    by its position in `matched`."""

    def __init__(self, table: SignalsTable):
        self.table = table
        self.start = 0
        self.end = 0

    def __len__(self) -> int:
        return self.end - self.start

    def restart_at(self, start: int) -> None:
        self.start = self.end = start
        self.table.clear()


class _Budget:
    """What one tick may spend on adding rows."""

    def __init__(self) -> None:
        self.rows = ROWS_PER_TICK
        self.deadline = time.perf_counter() + FILL_BUDGET_S

    def left(self) -> bool:
        return self.rows > 0 and time.perf_counter() < self.deadline


class SignalsPane(Vertical):
    DEFAULT_CSS = """
    SignalsPane SignalsTable {
        height: 1fr;
    }
    SignalsPane SignalsTable.-spare {
        display: none;
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
    SignalsPane #signals-status {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS = [
        Binding("f", "follow", "Follow", id="signals.follow"),
        Binding("slash", "filter", "Filter", key_display="/", id="signals.filter"),
        Binding("e", "export", "Export CSV", id="signals.export"),
    ]

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.following = True
        self.signal_filter = SignalFilter()
        self._session: PlaybackSession | None = None
        self._log: SignalLog | None = None  # the session's log, its rows read up to `_read`
        self._read = 0
        self._approved = 0
        self._matched = array("q")  # the indices of the read rows the filter lets through
        self._shown_rows: _Rows  # the table in view
        self._spare: _Rows  # the other one: hidden, empty or being filled
        self._filling = False  # the spare is being filled with the whole window
        self._styles: RowStyles | None = None
        self._status = ""
        self._hint = ""

    def compose(self) -> ComposeResult:
        yield Static("Signal log", classes="pane-title")
        tables = []
        for name in ("signals-table-a", "signals-table-b"):
            table = SignalsTable(id=name, cursor_type="row", zebra_stripes=True)
            for key, label, width in COLUMNS:
                table.add_column(label, key=key, width=width)
            tables.append(table)
        shown, spare = tables
        spare.add_class("-spare")
        spare.can_focus = False
        self._shown_rows, self._spare = _Rows(shown), _Rows(spare)
        yield from tables
        yield Static("", id="signals-selected")
        yield Static(EMPTY_TEXT, id="signals-hint")
        yield Static("", id="signals-status")

    def on_mount(self) -> None:
        self.add_class("-empty")
        self.set_interval(POLL_S, self.poll)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())
        self.poll()

    def on_show(self) -> None:
        self.poll()  # rows wait while the pane is hidden: add them now, not a tick later

    @property
    def session(self) -> PlaybackSession | None:
        return getattr(self.app, "session", None)

    @property
    def table(self) -> SignalsTable:
        """The table in view."""
        return self._shown_rows.table

    @property
    def signals(self) -> list[Signal]:
        """The session's signals the pane has read (all of them, once caught up)."""
        return self._log[: self._read] if self._log is not None else []

    @property
    def matched(self) -> list[Signal]:
        """The signals the filter lets through; the table holds the newest of them."""
        return self._signals_at(0, len(self._matched))

    def _signals_at(self, start: int, stop: int) -> list[Signal]:
        """The signals at positions start…stop of `matched`, built now."""
        if self._log is None:
            return []
        return self._log.rows(self._matched[start:stop])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "export" and self.session is None:
            return None  # shown, dimmed: nothing to export yet
        return True

    # -- polling ----------------------------------------------------------------------------

    def poll(self) -> None:
        session = self.session
        if session is not self._session:
            self._restart(session)
            self.refresh_bindings()
        if session is not None:
            self._read_log(session)
        if self._shown():
            self._fill()
        self._show_state()

    def _shown(self) -> bool:
        node: Widget | None = self
        while isinstance(node, Widget):
            if not node.display:
                return False
            node = node.parent if isinstance(node.parent, Widget) else None
        return True

    def _restart(self, session: PlaybackSession | None) -> None:
        """Forget every signal: another session, or the results started over."""
        self._session = session
        self._log = session.signal_log if session is not None else None
        self._read = self._approved = 0
        self._matched = array("q")
        self._start_over()

    def _read_log(self, session: PlaybackSession) -> None:
        """Count and filter the rows the session's log has gained since the last read."""
        if session.signal_log is not self._log:
            self._restart(session)  # the results started over (seek back, restart)
        log, start = self._log, self._read
        assert log is not None
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

    # -- rows -------------------------------------------------------------------------------
    #
    # Rows only join a DataTable at its end, and leave it one at a time, each removal a pass
    # over every row. So the rows in view are never trimmed: once the table in view lacks the
    # start of the window (the newest MAX_ROWS matching signals) or holds SLACK rows past it,
    # the hidden spare table is filled with the window, out of sight, a tick's budget at a
    # time, and the two swap when the spare has caught up. The rows in view keep growing
    # meanwhile, so the newest signal is always in view.

    def _window_start(self) -> int:
        return max(0, len(self._matched) - MAX_ROWS)

    def _start_over(self) -> None:
        """The rows in view no longer hold what they should (another log, filter or theme):
        the newest rows at once, if the window does not fit in a tick; the rest in the spare."""
        matched = len(self._matched)
        window = self._window_start()
        start = window if matched - window <= ROWS_PER_TICK else matched - BURST_ROWS
        self._shown_rows.restart_at(start)
        self._drop_spare()
        self.query_one("#signals-selected", Static).update("")

    def _drop_spare(self) -> None:
        if self._filling or len(self._spare):
            self._spare.restart_at(0)
        self._filling = False

    def _fill(self) -> None:
        """Add the rows the tables lack, within this tick's budget."""
        matched = len(self._matched)
        shown = self._shown_rows
        pouring = matched - shown.end > ROWS_PER_TICK
        if pouring or len(shown) > MAX_ROWS + 3 * SLACK:
            # More than a tick can add (a session at full speed), or the spare cannot keep up:
            # the newest rows, now; the spare starts once the flood eases (it would only be
            # dropped again).
            self._start_over()
        budget = _Budget()
        added = self._add(shown, matched, budget)
        window = self._window_start()
        if not pouring and (shown.start > window or len(shown) > MAX_ROWS + SLACK):
            spare = self._spare
            if not self._filling or matched - spare.start > MAX_ROWS + SLACK:
                spare.restart_at(window)
                self._filling = True
            self._add(spare, matched, budget)
            if spare.end == matched:
                self._swap()
                added = True
        if added and self.following:
            self._to_newest()

    def _add(self, rows: _Rows, matched: int, budget: _Budget) -> bool:
        """Add rows up to `matched`, in chunks, while the budget lasts; whether any were."""
        table, styles, index = rows.table, self._row_styles(), rows.end
        while index < matched and budget.left():
            stop = min(matched, index + FILL_CHUNK, index + budget.rows)
            for i, signal in enumerate(self._signals_at(index, stop), start=index):
                table.add_row(*row_cells(signal, styles), key=str(i))
            budget.rows -= stop - index
            index = stop
        added = index > rows.end
        rows.end = index
        return added

    def _swap(self) -> None:
        """The spare, now holding the window, comes into view; the old rows go."""
        old, new = self._shown_rows, self._spare
        focused = old.table.has_focus
        old_key = _cursor_key(old.table)
        new.table.remove_class("-spare")
        new.table.can_focus = True
        old.table.add_class("-spare")
        old.table.can_focus = False
        self._shown_rows, self._spare, self._filling = new, old, False
        if focused:
            new.table.focus()
        if not self.following and old_key is not None:
            # The same signal stays under the cursor, or the oldest row if it left the window.
            row = int(old_key) - new.start if old_key.isdigit() else 0
            new.table.move_cursor(row=max(0, min(row, len(new) - 1)), animate=False)
        old.restart_at(0)

    def _to_newest(self) -> None:
        table = self.table
        if table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

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
        status = self.status_text()
        if status.plain != self._status:
            self._status = status.plain
            self.query_one("#signals-status", Static).update(status)

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
        line.append(f" · {total:,} signal{'' if total == 1 else 's'}")
        line.append(f" · {self._approved:,} approved · {total - self._approved:,} rejected")
        if self.signal_filter.active:
            line.append(f" · filter: {self.signal_filter.describe()}", "bold")
            line.append(f" ({len(self._matched):,} match)")
        shown = self._shown_rows
        if shown.start:
            line.append(f" · newest {len(shown):,} shown", "bold")
        if shown.end < len(self._matched):
            line.append(" · adding rows…", Style(dim=True))
        elif self._filling:
            line.append(" · adding older rows…", Style(dim=True))
        return line

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        shown = self._shown_rows
        if event.data_table is not shown.table:
            return  # the spare, filling out of sight
        selected = self.query_one("#signals-selected", Static)
        key = event.row_key.value
        index = int(key) if key is not None and key.isdigit() else -1
        if shown.start <= index < shown.end and event.row_key in shown.table.rows:
            [signal] = self._signals_at(index, index + 1)
            selected.update(describe(signal, self._row_styles()))
        else:
            selected.update("")

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

        self.app.push_screen(
            SignalFilterScreen(self.signal_filter, self.count_matching), self.set_filter
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
            self.notify("No session open: nothing to export.", severity="warning")
            return
        chosen = self.signal_filter if self.signal_filter.active else None
        self._export(session, chosen, Path(self.app.config.data_dir) / EXPORTS)

    @work(thread=True, group="signals-export")
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
            path = export_path(folder, session.bars.symbol, filtered=chosen is not None)
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
            what = f"{len(rows):,} of {total:,} signals (filter: {chosen.describe()})"
        else:
            what = f"all {total:,} signals"
        so_far = " so far (the session plays on)" if playing else ""
        self.notify(
            f"Wrote {what}{so_far} to {path}", title="Signals exported", timeout=10, markup=False
        )


def _cursor_key(table: DataTable) -> str | None:
    if not table.row_count:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
