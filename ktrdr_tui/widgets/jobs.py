"""The Jobs pane: every load job and every sweep, live, one row each, and the keys that drive
them (`enter` shows a load's segments, a sweep's results).

The pane polls the engine's LoadService ten times a second for the progress of the jobs this
process runs (cheap: in memory, no disk) and reads the journals of earlier runs and of other
processes in a worker: once when the service is there, again whenever the jobs folder changes.
The sweeps come the same way from the sweep service (`EngineHandle.sweeps`), under the loads
(once it is there: its arrival changes what the folders' stamp says, and they are read again).
A job's end comes as a message (`JobEnded`, `SweepEnded`), told once. Rows are keyed by job id
and updated cell by cell, only where something changed. Every call that may wait (start,
cancel, resume, remove) runs in a thread worker; what fails is a notification (and, for a job,
its row), never a crash.

Import-light: the engine's loading modules (pandas, pyarrow, the IB client) are imported by the
app's worker, never here at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, TypeGuard

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from engine.core.jobs import JobState, merge_statuses
from ktrdr_tui.cells import same_cell, theme_style
from ktrdr_tui.formatting import duration, progress_bar
from ktrdr_tui.messages import JobEnded, JournalsRead, ServiceReady, SweepEnded
from ktrdr_tui.unavailable import ExplainsUnavailableKeys
from ktrdr_tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from engine.loading.load_job import LoadStatus
    from engine.loading.request import LoadRequest
    from engine.loading.service import LoadService
    from engine.sweep.job import SweepStatus
    from engine.sweep.service import SweepService
    from ktrdr_tui.engine_handle import EngineHandle

POLL_S = 0.1
JOURNALS_POLL_S = 1.0  # how often the jobs folder is looked at for other processes' loads
BAR_CELLS = 12
# Fixed widths where the longest value is known, so the columns do not jump as a job goes;
# the others grow with their values.
WIDTHS = {"state": 11, "progress": BAR_CELLS + 5, "rate": 8, "eta": 7, "stage": 15, "segment": 48}
# In the order of importance: what fits a 100-column terminal comes first; the stage and the
# segment line (also shown in full under the table for the selected job) come last.
COLUMNS = (
    ("symbol", "Symbol"),
    ("timeframe", "TF"),
    ("mode", "Mode"),
    ("state", "State"),
    ("progress", "Progress"),
    ("bars", "Bars"),
    ("rate", "Rate"),
    ("eta", "ETA"),
    ("stage", "Stage"),
    ("segment", "Segment"),
)
# State → (theme colour, bold). No colour: dim.
STATE_COLOURS: dict[JobState, tuple[str, bool]] = {
    JobState.QUEUED: ("", False),
    JobState.RUNNING: ("primary", True),
    JobState.CANCELLING: ("warning", False),
    JobState.CANCELLED: ("warning", False),
    JobState.FAILED: ("error", True),
    JobState.DONE: ("success", False),
    JobState.INTERRUPTED: ("warning", False),
}
EMPTY_TEXT = (
    "No jobs yet.\n\n"
    "Press n to load bars from IB into the local store: n, AAPL, enter loads the last month "
    "of AAPL 1-minute bars. Each load shows here, one row each: its state, the segment being "
    "fetched, bars, rate, ETA and a progress bar. So does each sweep: a range such as 5..20/5 "
    "where a value goes in Playback's open-session dialog (2, o) starts one."
)
STARTING_TEXT = "Starting the data service…"


def state_style(state: JobState, variables: Mapping[str, str]) -> Style:
    name, bold = STATE_COLOURS.get(state, ("", False))
    return theme_style(variables, name, bold=bold)


def progress_cell(percent: float, style: Style) -> Text:
    """`━━━━━━╸───── 52%`: the done part in the state's colour, the rest dim."""
    text = progress_bar(percent, BAR_CELLS)
    bar, rest = text[:BAR_CELLS], text[BAR_CELLS:]
    done = bar.rstrip("─")
    return Text.assemble(
        (done, style), (bar[len(done) :], Style(dim=True)), rest, no_wrap=True, end=""
    )


def row_cells(status: LoadStatus, variables: Mapping[str, str]) -> dict[str, object]:
    """What a row shows for one job, column by column (plain text: no markup is parsed). The
    state, its line and its figures are the engine's (`LoadStatus`): shown, never worked out
    again here."""
    style = state_style(status.state, variables)
    ended = status.state.ended
    if ended:
        stage = "resumable" if status.resumable else ""
    else:
        stage = status.stage or str(status.state)
    rate = status.rate_bars_s
    bars = f"{status.bars_fetched:,}/{status.bars_total:,}" if status.bars_total else ""
    return {
        "symbol": Text(status.symbol, no_wrap=True, end=""),
        "timeframe": Text(status.timeframe, end=""),
        "mode": Text(str(status.mode), end=""),
        "state": Text(str(status.state), style=style, end=""),
        "progress": progress_cell(status.percent, style),
        "bars": Text(bars, justify="right", end=""),
        "rate": Text(f"{rate:,.0f}/s" if rate else "", justify="right", end=""),
        "eta": Text("" if ended else duration(status.eta_s), justify="right", end=""),
        "stage": Text(stage, no_wrap=True, end=""),
        "segment": Text(status.detail, overflow="ellipsis", no_wrap=True, end=""),
    }


def sweep_cells(status: SweepStatus, variables: Mapping[str, str]) -> dict[str, object]:
    """A sweep's row, in the loads' columns: its symbols, `sweep` for the mode, backtests for
    bars, backtests a second for the rate, and its grids where a load's segment goes."""
    style = state_style(status.state, variables)
    ended = status.state.ended
    if ended:
        stage = "resumable" if status.resumable else ""
    else:
        stage = status.stage or str(status.state)
    grids = " ".join(status.strategies)
    skipped = f" · {status.skipped:,} skipped" if status.skipped else ""
    rate = status.rate
    return {
        "symbol": Text(" ".join(status.symbols), no_wrap=True, overflow="ellipsis", end=""),
        "timeframe": Text(status.timeframe, end=""),
        "mode": Text("sweep", end=""),
        "state": Text(str(status.state), style=style, end=""),
        "progress": progress_cell(status.percent, style),
        "bars": Text(f"{status.done:,}/{status.runs:,} runs", justify="right", end=""),
        "rate": Text(f"{rate:,.1f}/s" if rate else "", justify="right", end=""),
        "eta": Text("" if ended else duration(status.eta_s), justify="right", end=""),
        "stage": Text(stage, no_wrap=True, end=""),
        "segment": Text(grids + skipped, overflow="ellipsis", no_wrap=True, end=""),
    }


def describe_sweep(status: SweepStatus) -> Text:
    """The line under the table for a selected sweep."""
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    symbols = " ".join(status.symbols)
    line.append(f"sweep {symbols} {status.timeframe} {status.start} → {status.end}", "bold")
    line.append(f" · {' '.join(status.strategies)} · {status.done:,}/{status.runs:,} backtests")
    if status.skipped:
        line.append(f" · {status.skipped:,} skipped")
    line.append(f" · {status.state}")
    if status.error:
        line.append(f" · {status.error}")
    line.append(f"   {job_keys(status, 'delete removes')} · enter: results", Style(dim=True))
    return line


def job_keys(status: LoadStatus | SweepStatus, removes: str) -> str:
    """The keys that apply to a job in its state, for the line under the table."""
    if not status.state.ended:
        return "c cancels"
    return f"r resumes · {removes}" if status.resumable else removes


def describe(status: LoadStatus) -> Text:
    """The line under the table for the selected job: everything, and the keys that apply."""
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append(f"{status.symbol} {status.timeframe} {status.start} → {status.end}", "bold")
    line.append(f" · {status.mode} · {status.state}")
    if status.detail:
        line.append(f" · {status.detail}")
    keys = job_keys(status, "delete removes (the bars stay)")
    line.append(f"   {keys} · enter: segments", Style(dim=True))
    return line


class JobsTable(ExplainsUnavailableKeys, DataTable):
    """The table of jobs; `enter` on a row opens its segments (shown in the footer)."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Details", tooltip="segment details", id="jobs.details")
    ]

    def unavailable(self, action: str) -> str:
        if action == "select_cursor" and not self.row_count:
            return "No job to show yet: n starts a load."
        return ""


class JobsPane(ReportsWorkerErrors, Vertical):
    DEFAULT_CSS = """
    JobsPane JobsTable {
        height: 1fr;
    }
    JobsPane.-empty JobsTable {
        height: auto;
        overflow-x: hidden;
    }
    JobsPane #jobs-hint {
        color: $text-muted;
        padding: 1 0;
        max-width: 90;
    }
    JobsPane #jobs-selected {
        height: 1;
        color: $text-muted;
    }
    JobsPane.-empty #jobs-selected {
        display: none;
    }
    """

    BINDINGS = [
        Binding("n", "new_load", "New load", tooltip="new load", id="jobs.new"),
        Binding("c", "cancel", "Cancel", tooltip="cancel the selected job", id="jobs.cancel"),
        Binding("r", "resume", "Resume", tooltip="resume the selected job", id="jobs.resume"),
        Binding(
            "delete",
            "remove",
            "Remove",
            tooltip="remove a finished job (its data stays)",
            id="jobs.remove",
        ),
    ]

    def __init__(self, engine: EngineHandle, *, id: str | None = None):
        super().__init__(id=id)
        self.engine = engine
        self._persisted: dict[str, LoadStatus] = {}
        self._sweeps: dict[str, SweepStatus] = {}  # those only a journal holds, as last read
        self._shown: dict[str, dict[str, object]] = {}
        self._readings = 0  # journal reads asked for
        self._journals_read = False
        # The jobs folder and the sweeps' as of the last read.
        self._journals_stamp: tuple[int | None, int | None] = (None, None)
        self._waiting: list[LoadRequest] = []  # asked for before the service was there
        self._to_select: str | None = None  # a job just started: its row becomes the selected

    def compose(self) -> ComposeResult:
        yield Static("Jobs", classes="pane-title")  # loads and sweeps
        table = JobsTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key, width=WIDTHS.get(key))
        yield table
        yield Static("", id="jobs-selected")
        yield Static(STARTING_TEXT, id="jobs-hint")

    def on_mount(self) -> None:
        self.add_class("-empty")
        self.set_interval(POLL_S, self.poll)
        self.set_interval(JOURNALS_POLL_S, self._watch_journals)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.poll())

    @property
    def service(self) -> LoadService | None:
        return self.engine.loads

    def on_service_ready(self, _message: ServiceReady) -> None:
        self.poll()  # at once rather than at the next tick: the pane never lags the header

    # -- polling ----------------------------------------------------------------------------

    def poll(self) -> None:
        service = self.service
        if service is None:
            return
        if not self._readings:
            self.read_journals()
        self._start_waiting()
        if self._journals_read:  # then the jobs of earlier runs come first, oldest first
            self.show([*self.statuses(), *self.sweep_statuses()])
            self._select_started()
        else:
            self._show_hint(False)

    def statuses(self) -> list[LoadStatus]:
        """The jobs of earlier runs (as last read) and the live ones, oldest first."""
        service = self.service
        live = service.statuses(persisted=False) if service is not None else []
        return merge_statuses(self._persisted.values(), live)

    def sweep_statuses(self) -> list[SweepStatus]:
        """The sweeps of earlier runs and other processes (as last read), then this
        process's, live."""
        sweeps = self.engine.sweeps
        live = sweeps.statuses(persisted=False) if sweeps is not None else []
        return merge_statuses(self._sweeps.values(), live)

    def _stamp(self) -> tuple[int | None, int | None]:
        service, sweeps = self.service, self.engine.sweeps
        return (
            service.journals_stamp() if service is not None else None,
            sweeps.journals_stamp() if sweeps is not None else None,
        )

    def read_journals(self) -> None:
        # Taken before the read: a journal written meanwhile makes the next look read again.
        self._journals_stamp = self._stamp()
        self._readings += 1
        self._read_journals(self._readings)

    def _watch_journals(self) -> None:
        """Loads of another process (a `ktrdr-tui load` in another terminal) show here and
        move too: the journals are read again whenever the jobs folder changes (a stat, cheap
        enough for the event loop)."""
        if self.service is not None and self._readings and self._stamp() != self._journals_stamp:
            self.read_journals()

    @work(thread=True, group="jobs-journals", exit_on_error=False, description="read the jobs")
    def _read_journals(self, reading: int) -> None:
        service, sweeps = self.service, self.engine.sweeps
        if service is not None:
            persisted = {s.job_id: s for s in service.statuses() if s.persisted}
            stored = sweeps.stored_statuses() if sweeps is not None else []
            self.post_message(JournalsRead(reading, persisted, {s.job_id: s for s in stored}))

    def on_journals_read(self, message: JournalsRead) -> None:
        if message.reading == self._readings:  # an older read may land after a newer one
            self._persisted = message.persisted
            self._sweeps = message.sweeps
            self._journals_read = True
            self.poll()

    def show(self, statuses: list[LoadStatus | SweepStatus]) -> None:
        """Update the table in place: new rows added, changed cells rewritten, gone rows
        removed."""
        table = self.query_one(JobsTable)
        variables = self.app.theme_variables
        wanted = {s.job_id for s in statuses}
        for job_id in [k for k in self._shown if k not in wanted]:
            table.remove_row(job_id)
            del self._shown[job_id]
        for status in statuses:
            if _is_sweep(status):
                cells = sweep_cells(status, variables)
            else:
                cells = row_cells(status, variables)
            before = self._shown.get(status.job_id)
            if before is None:
                table.add_row(*cells.values(), key=status.job_id)
            else:
                for column, value in cells.items():
                    if not same_cell(before[column], value):
                        table.update_cell(status.job_id, column, value, update_width=True)
            self._shown[status.job_id] = cells
        self._show_hint(bool(statuses))
        self._show_selected()

    def on_job_ended(self, message: JobEnded) -> None:
        """A job of this process failed or finished: say so, once. Not for a cancel the user
        asked for, nor for the loads interrupted as the app closes."""
        self.poll()  # its row shows the end with the notification
        status = self.status_of(message.job_id)
        if status is None or message.state not in (JobState.FAILED, JobState.DONE):
            return
        what = f"{status.symbol} {status.timeframe}"
        if message.state is JobState.FAILED:
            self.notify(f"{what} failed: {message.error}", severity="error", timeout=10)
        else:
            self.notify(f"{what} done: {status.bars_total:,} bars in the store.")

    def on_sweep_ended(self, message: SweepEnded) -> None:
        """A sweep of this process failed or finished: say so, once."""
        self.poll()
        status = self.sweep_of(message.job_id)
        if status is None or message.state not in (JobState.FAILED, JobState.DONE):
            return
        what = _what(status)
        if message.state is JobState.FAILED:
            self.notify(f"{what} failed: {message.error}", severity="error", timeout=10)
        else:
            self.notify(f"{what} done: {status.done:,} backtests; enter shows the results.")

    def _started(self, job_ids: list[str], select: bool = False) -> None:
        """Jobs this pane started or resumed. `select`: the first becomes the selected row,
        so the next c, r or delete acts on it."""
        if select:
            self._to_select = job_ids[0]
        self.poll()

    def _show_hint(self, any_jobs: bool) -> None:
        hint = self.query_one("#jobs-hint", Static)
        empty = not any_jobs
        self.set_class(empty, "-empty")
        hint.display = empty
        if empty:
            hint.update(EMPTY_TEXT if self.service is not None else STARTING_TEXT)

    def _show_selected(self) -> None:
        status = self.selected()
        if status is None:
            line: Text | str = ""
        else:
            line = describe_sweep(status) if _is_sweep(status) else describe(status)
        self.query_one("#jobs-selected", Static).update(line)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_selected()

    def _select_started(self) -> None:
        """Move the cursor to the job just started, once its row is there."""
        table = self.query_one(JobsTable)
        if self._to_select is None or self._to_select not in table.rows:
            return
        table.move_cursor(row=table.get_row_index(self._to_select))
        self._to_select = None

    # -- the selected job -------------------------------------------------------------------

    def selected(self) -> LoadStatus | SweepStatus | None:
        table = self.query_one(JobsTable)
        if not table.row_count:
            return None
        job_id = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return (self.status_of(job_id) or self.sweep_of(job_id)) if job_id else None

    def status_of(self, job_id: str) -> LoadStatus | None:
        return next((s for s in self.statuses() if s.job_id == job_id), None)

    def sweep_of(self, job_id: str) -> SweepStatus | None:
        return next((s for s in self.sweep_statuses() if s.job_id == job_id), None)

    def _service_for(self, status: LoadStatus | SweepStatus) -> LoadService | SweepService:
        """The service a job's status came from (so it is there)."""
        service = self.engine.sweeps if _is_sweep(status) else self.service
        assert service is not None
        return service

    def _with_selected(self) -> LoadStatus | SweepStatus | None:
        status = self.selected()
        if status is None:
            self.notify("No job selected: press n for a new load.", severity="warning")
        return status

    # -- actions ----------------------------------------------------------------------------

    def action_new_load(self) -> None:
        from ktrdr_tui.screens.new_load import NewLoadScreen

        # Opens at once, also while the service starts: the dialog only needs the calendar,
        # and waits for it if the user is quicker still.
        now = self.engine.config.now()
        self.app.push_screen(NewLoadScreen(now), self._start)

    def _start(self, request: LoadRequest | None) -> None:
        if request is None:
            return
        if self.service is None:  # typed in the first moments: it starts once it can
            self._waiting.append(request)
            self.notify(
                f"{' '.join(request.symbols)} {request.timeframe}: starts as soon as the data "
                "service is ready.",
                title="Starting…",
            )
            return
        self._run(partial(self.service.start, request), "start the load", select=True)

    def _start_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for request in waiting:
            self._start(request)

    def action_cancel(self) -> None:
        status = self._with_selected()
        if status is None:
            return
        what = _what(status)
        if status.state.ended or status.state is JobState.CANCELLING:
            self.notify(f"{what} is {status.state}: nothing to cancel.")
            return
        self._run(partial(self._service_for(status).cancel, status.job_id), f"cancel {what}")

    def action_resume(self) -> None:
        status = self._with_selected()
        if status is None:
            return
        what = _what(status)
        if not status.state.ended:
            self.notify(f"{what} is {status.state}: nothing to resume.")
            return
        if not status.resumable:
            reason = "done" if status.state is JobState.DONE else "not resumable (no journal)"
            self.notify(f"{what} is {reason}: nothing to resume.")
            return
        self._run(partial(self._service_for(status).resume, status.job_id), f"resume {what}")

    def action_remove(self) -> None:
        status = self._with_selected()
        if status is None:
            return
        what = _what(status)
        if not status.state.ended:
            self.notify(f"{what} is {status.state}: cancel it first.", severity="warning")
            return
        remove = partial(self._service_for(status).remove, status.job_id)
        self._run(remove, f"remove {what}", status.job_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()  # enter (or a click) on a row: its segments, or a sweep's results
        self.action_details()

    def action_details(self) -> None:
        from ktrdr_tui.screens.job_detail import JobDetailScreen
        from ktrdr_tui.screens.sweep_results import SweepResultsScreen

        status = self._with_selected()
        if status is None:
            return
        if not _is_sweep(status):
            self.app.push_screen(JobDetailScreen(status.job_id, self.status_of))
        elif not status.done:
            self.notify(f"{_what(status)}: no backtest has finished yet.")
        else:
            self.app.push_screen(SweepResultsScreen(self.engine, status.job_id))

    def _run(
        self,
        call: Callable[[], object],
        what: str,
        removes: str | None = None,
        select: bool = False,
    ) -> None:
        """`call` (on a service) in a worker; what fails is told by the one worker error path
        as `Cannot <what>: <reason>`."""
        self.run_worker(
            partial(self._call, call, what, removes, select),
            thread=True,
            group="jobs-actions",
            exit_on_error=False,
            description=what,
        )

    def _call(
        self,
        call: Callable[[], object],
        what: str,
        removes: str | None,
        select: bool,
    ) -> None:
        try:
            result = call()
        except KeyError:  # the runner knows no such job: another process works on it
            self.notify(f"Cannot {what}: it does not run in this process.", severity="error")
            return
        finally:
            # A start, resume or remove changes the journals on disk: read them again.
            self.app.call_later(self.read_journals)  # call_later: thread-safe
        jobs = result if isinstance(result, list) else [result]
        if started := [job.id for job in jobs if hasattr(job, "id")]:
            self.app.call_later(self._started, started, select)
        if removes is not None:
            self.app.call_later(self._forget, removes)

    def _forget(self, job_id: str) -> None:
        self._persisted.pop(job_id, None)
        self._sweeps.pop(job_id, None)
        self.poll()


def _is_sweep(status: LoadStatus | SweepStatus) -> TypeGuard[SweepStatus]:
    from engine.sweep.job import SweepStatus  # loaded by now: the sweep service made it

    return isinstance(status, SweepStatus)


def _what(status: LoadStatus | SweepStatus) -> str:
    """A job as the notifications name it: `AAPL 1m`, `sweep AAPL MSFT 1m`."""
    if _is_sweep(status):
        return f"sweep {' '.join(status.symbols)} {status.timeframe}"
    return f"{status.symbol} {status.timeframe}"
