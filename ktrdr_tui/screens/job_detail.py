"""`enter` on a job: every segment with its span, status, retries and bars, live."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ktrdr_tui.cells import same_cell, theme_style

if TYPE_CHECKING:
    from engine.loading.journal import SegmentRecord
    from engine.loading.load_job import LoadStatus

POLL_S = 0.2
# Segment status → (theme colour, bold); no colour: dim.
SEGMENT_COLOURS = {
    "done": ("success", False),
    "failed": ("error", True),
    "fetching": ("primary", True),
    "waiting for pacing": ("warning", False),
    "pending": ("", False),
}


def segment_cells(record: SegmentRecord, variables: Mapping[str, str]) -> tuple[object, ...]:
    span = record.label
    status = str(record.status)
    colour, bold = SEGMENT_COLOURS.get(status, ("", False))
    if record.status == "failed" and record.error:
        status += f": {record.error}"
    if record.retries:
        status += f" (retried {record.retries})"
    return (
        Text(str(record.index), justify="right", end=""),
        Text(span, end=""),
        Text(f"{record.bars:,}/{record.expected_bars:,}", justify="right", end=""),
        Text(str(record.segment.duration), end=""),
        Text(status, style=theme_style(variables, colour, bold=bold), no_wrap=True, end=""),
    )


def title(status: LoadStatus) -> str:
    if not status.segments:
        return f"{status.symbol} {status.timeframe}: no segments planned yet ({status.state})"
    failed = f" · {status.segments_failed} failed" if status.segments_failed else ""
    return (
        f"{status.symbol} {status.timeframe} {status.start} → {status.end} · {status.mode} · "
        f"{status.state} · {status.segments_done}/{status.segments_total} segments done{failed} · "
        f"{status.bars_fetched:,}/{status.bars_total:,} bars"
    )


class JobDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    JobDetailScreen {
        align: center middle;
    }
    JobDetailScreen > Vertical {
        width: 90%;
        height: 85%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    JobDetailScreen .dialog-title {
        text-style: bold;
        color: $primary;
        padding: 1 0;
    }
    JobDetailScreen DataTable {
        height: 1fr;
    }
    JobDetailScreen .detail-hint {
        color: $text-muted;
        padding: 1 0 0 0;
    }
    """

    BINDINGS = [Binding("escape", "dismiss", "Close", id="job-detail.close")]

    def __init__(self, job_id: str, status_of: Callable[[str], LoadStatus | None]):
        super().__init__()
        self.job_id = job_id
        self._status_of = status_of
        self._shown: dict[str, tuple[object, ...]] = {}
        # The cursor follows the segment in flight until the user moves it.
        self._follow = True
        self._expected_row = 0

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="detail-title", classes="dialog-title")
            table = DataTable(id="segments", cursor_type="row", zebra_stripes=True)
            for key, label in (
                ("index", "#"),
                ("span", "Sessions"),
                ("bars", "Bars"),
                ("duration", "Request"),
                ("status", "Status"),
            ):
                table.add_column(label, key=key)
            yield table
            yield Static("escape closes", classes="detail-hint")

    def on_mount(self) -> None:
        self.refresh_segments()
        self.set_interval(POLL_S, self.refresh_segments)

    def refresh_segments(self) -> None:
        status = self._status_of(self.job_id)
        if status is None:
            return
        self.query_one("#detail-title", Static).update(title(status))
        table = self.query_one(DataTable)
        variables = self.app.theme_variables
        for record in status.segments:
            key = str(record.index)
            cells = segment_cells(record, variables)
            before = self._shown.get(key)
            if before is None:
                table.add_row(*cells, key=key)
            else:
                for column, old, new in zip(table.columns, before, cells, strict=True):
                    if not same_cell(old, new):
                        table.update_cell(key, column, new, update_width=True)
            self._shown[key] = cells
        self._follow_active(status, table)

    def _follow_active(self, status: LoadStatus, table: DataTable) -> None:
        if not self._follow:
            return
        active = next(
            (
                i
                for i, r in enumerate(status.segments)
                if r.status in ("fetching", "waiting for pacing")
            ),
            None,
        )
        if active is not None and table.cursor_row != active:
            self._expected_row = active
            table.move_cursor(row=active)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row != self._expected_row:
            self._follow = False  # the user moved: leave the cursor where they put it
