"""The Jobs pane: every load job, live, one row each, and the keys that drive them.

The pane polls the app's LoadService ten times a second for the jobs this process runs (cheap:
no disk) and reads the journals of earlier runs once, in a worker, and again after a remove or
resume. Rows are keyed by job id and updated cell by cell. Every call that may wait (start,
cancel, resume, remove) runs in a thread worker; what fails is a notification, never a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from engine.core.jobs import JobState
from ktrdr_tui.formatting import duration, progress_bar

if TYPE_CHECKING:
    from engine.loading.load_job import LoadStatus
    from engine.loading.request import LoadRequest
    from engine.loading.service import LoadService

POLL_S = 0.1
COLUMNS = (
    ("symbol", "Symbol"),
    ("timeframe", "TF"),
    ("mode", "Mode"),
    ("state", "State"),
    ("stage", "Stage"),
    ("segment", "Segment"),
    ("bars", "Bars"),
    ("rate", "Rate"),
    ("eta", "ETA"),
    ("progress", "Progress"),
)
STATE_STYLES = {
    JobState.QUEUED: "dim",
    JobState.RUNNING: "bold yellow",
    JobState.CANCELLING: "yellow",
    JobState.CANCELLED: "magenta",
    JobState.FAILED: "bold red",
    JobState.DONE: "green",
    JobState.INTERRUPTED: "red",
}


def row_cells(status: LoadStatus) -> dict[str, object]:
    """What a row shows for one job."""
    state = str(status.state) + (" · resumable" if status.resumable else "")
    running = status.state is JobState.RUNNING
    segment = status.detail if running else (status.error or "")
    rate = f"{status.rate_bars_s:,.0f}/s" if running and status.rate_bars_s else ""
    return {
        "symbol": status.symbol,
        "timeframe": status.timeframe,
        "mode": str(status.mode),
        "state": Text(state, style=STATE_STYLES.get(status.state, "")),
        "stage": status.stage if running else "",
        "segment": Text(segment, overflow="ellipsis", no_wrap=True),
        "bars": f"{status.bars_fetched:,}/{status.bars_total:,}",
        "rate": rate,
        "eta": duration(status.eta_s) if running else "--:--",
        "progress": progress_bar(status.percent),
    }


class JobsPane(Vertical):
    DEFAULT_CSS = """
    JobsPane DataTable {
        height: 1fr;
    }
    JobsPane .jobs-hint {
        color: $text-muted;
        padding: 1 0;
    }
    """

    BINDINGS = [
        Binding("n", "new_load", "New load", id="jobs.new"),
        Binding("c", "cancel", "Cancel", id="jobs.cancel"),
        Binding("r", "resume", "Resume", id="jobs.resume"),
        Binding("delete", "remove", "Remove", id="jobs.remove"),
        Binding("enter", "details", "Details", id="jobs.details"),
    ]

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self._persisted: dict[str, LoadStatus] = {}
        self._shown: dict[str, dict[str, object]] = {}
        self._journals_read_once = False

    def compose(self) -> ComposeResult:
        yield Static("Load jobs", classes="pane-title")
        table = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static("Starting the data service…", id="jobs-hint", classes="jobs-hint")

    def on_mount(self) -> None:
        self.set_interval(POLL_S, self.poll)

    @property
    def service(self) -> LoadService | None:
        return self.app.loads  # type: ignore[attr-defined]

    # -- polling ----------------------------------------------------------------------------

    def poll(self) -> None:
        service = self.service
        if service is None:
            return
        if not self._journals_read_once:
            self._journals_read_once = True
            self._read_journals()
        self.show(self.statuses())

    def statuses(self) -> list[LoadStatus]:
        service = self.service
        live = {s.job_id: s for s in service.statuses(persisted=False)} if service else {}
        return [*(s for i, s in self._persisted.items() if i not in live), *live.values()]

    @work(thread=True, group="jobs-journals")
    def _read_journals(self) -> None:
        service = self.service
        if service is None:
            return
        persisted = {s.job_id: s for s in service.statuses() if s.persisted}
        self.app.call_from_thread(self._journals_read, persisted)

    def _journals_read(self, persisted: dict[str, LoadStatus]) -> None:
        self._persisted = persisted

    def show(self, statuses: list[LoadStatus]) -> None:
        """Update the table in place: new rows added, changed cells rewritten, gone rows
        removed."""
        table = self.query_one(DataTable)
        wanted = {s.job_id for s in statuses}
        for job_id in [k for k in self._shown if k not in wanted]:
            table.remove_row(job_id)
            del self._shown[job_id]
        for status in statuses:
            cells = row_cells(status)
            before = self._shown.get(status.job_id)
            if before is None:
                table.add_row(*cells.values(), key=status.job_id)
            else:
                for column, value in cells.items():
                    if before[column] != value:
                        table.update_cell(status.job_id, column, value)
            self._shown[status.job_id] = cells
        hint = self.query_one("#jobs-hint", Static)
        if statuses:
            hint.display = False
        else:
            hint.display = True
            hint.update(
                "No load jobs yet. Press n to load bars from IB into the local store: "
                "n, AAPL, enter loads a month of AAPL 1-minute bars."
            )

    # -- the selected job -------------------------------------------------------------------

    def selected(self) -> LoadStatus | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        job_id = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((s for s in self.statuses() if s.job_id == job_id), None)

    def _with_selected(self) -> LoadStatus | None:
        status = self.selected()
        if status is None:
            self.notify("No job selected.", severity="warning")
        return status

    # -- actions ----------------------------------------------------------------------------

    def action_new_load(self) -> None:
        from ktrdr_tui.screens.new_load import NewLoadScreen

        if self.service is None:
            self.notify("The data service is still starting.", severity="warning")
            return
        self.app.push_screen(NewLoadScreen(self.service.calendar), self._start)

    def _start(self, request: LoadRequest | None) -> None:
        if request is not None:
            self._run(lambda service: service.start(request), "start")

    def action_cancel(self) -> None:
        status = self._with_selected()
        if status is None:
            return
        if status.state.ended:
            self.notify(f"{status.symbol} {status.timeframe} is {status.state}: nothing to cancel.")
            return
        self._run(lambda service: service.cancel(status.job_id), "cancel")

    def action_resume(self) -> None:
        status = self._with_selected()
        if status is not None:
            self._run(lambda service: service.resume(status.job_id), "resume")

    def action_remove(self) -> None:
        status = self._with_selected()
        if status is None:
            return
        if not status.state.ended:
            self.notify(
                f"{status.symbol} {status.timeframe} is {status.state}: cancel it first.",
                severity="warning",
            )
            return
        self._run(lambda service: service.remove(status.job_id), "remove")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # the table has `enter` while it has focus: its selection means details
        self.action_details()

    def action_details(self) -> None:
        from ktrdr_tui.screens.job_detail import JobDetailScreen

        status = self._with_selected()
        if status is not None:
            self.app.push_screen(JobDetailScreen(status.job_id, self.status_of))

    def status_of(self, job_id: str) -> LoadStatus | None:
        return next((s for s in self.statuses() if s.job_id == job_id), None)

    @work(thread=True, group="jobs-actions")
    def _run(self, call, what: str) -> None:
        service = self.service
        if service is None:
            return
        try:
            call(service)
        except Exception as exc:  # the engine's one-line reasons (LoadFailed, KeyError, ...)
            reason = exc.args[0] if exc.args else type(exc).__name__
            self.app.call_from_thread(
                self.notify, f"Cannot {what}: {reason}", severity="error", timeout=8
            )
            return
        if what in ("remove", "resume"):
            # The journals changed on disk: read them again.
            persisted = {s.job_id: s for s in service.statuses() if s.persisted}
            self.app.call_from_thread(self._journals_read, persisted)
