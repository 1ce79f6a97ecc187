"""`enter` on a job: every segment with its span, status, retries and bars, live."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

if TYPE_CHECKING:
    from engine.loading.journal import SegmentRecord
    from engine.loading.load_job import LoadStatus

POLL_S = 0.2
SEGMENT_STYLES = {
    "done": "green",
    "failed": "bold red",
    "fetching": "bold yellow",
    "waiting for pacing": "yellow",
    "pending": "dim",
}


def segment_cells(record: SegmentRecord) -> tuple[object, ...]:
    span = record.first_session
    if record.last_session != record.first_session:
        span += f" → {record.last_session}"
    status = str(record.status)
    if record.status == "failed" and record.error:
        status += f": {record.error}"
    if record.retries:
        status += f" (retried {record.retries})"
    return (
        str(record.index),
        span,
        Text(status, style=SEGMENT_STYLES.get(str(record.status), "")),
        f"{record.bars:,}/{record.expected_bars:,}",
        record.duration,
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
    """

    BINDINGS = [Binding("escape", "dismiss", "Close", id="detail.close")]

    def __init__(self, job_id: str, status_of: Callable[[str], LoadStatus | None]):
        super().__init__()
        self.job_id = job_id
        self._status_of = status_of
        self._shown: dict[str, tuple[object, ...]] = {}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="detail-title", classes="dialog-title")
            table = DataTable(id="segments", cursor_type="row", zebra_stripes=True)
            for key, label in (
                ("index", "#"),
                ("span", "Sessions"),
                ("status", "Status"),
                ("bars", "Bars"),
                ("duration", "Request"),
            ):
                table.add_column(label, key=key)
            yield table
            yield Static("escape closes", classes="pane-empty")

    def on_mount(self) -> None:
        self.refresh_segments()
        self.set_interval(POLL_S, self.refresh_segments)

    def refresh_segments(self) -> None:
        status = self._status_of(self.job_id)
        if status is None:
            return
        self.query_one("#detail-title", Static).update(
            f"{status.symbol} {status.timeframe} {status.start} → {status.end} · {status.state} · "
            f"{status.segments_done}/{status.segments_total} segments"
        )
        table = self.query_one(DataTable)
        for record in status.segments:
            key = str(record.index)
            cells = segment_cells(record)
            if key not in self._shown:
                table.add_row(*cells, key=key)
            elif self._shown[key] != cells:
                for column, value in zip(table.columns, cells, strict=True):
                    table.update_cell(key, column, value)
            self._shown[key] = cells
        if not status.segments:
            self.query_one("#detail-title", Static).update(
                f"{status.symbol} {status.timeframe}: no segments planned yet ({status.state})"
            )
