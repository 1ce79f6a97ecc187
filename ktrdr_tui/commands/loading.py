"""`load`, `resume`, `jobs`, `data` and `import`: the data commands, headless.

Progress goes to stderr (a Rich bar per job); `--json` prints one object on stdout at the end.
The first Ctrl-C cancels the jobs cleanly and leaves them resumable (exit 130).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from engine.config import Config
from engine.core.jobs import JobState
from engine.loading.journal import JournalError, JournalStore
from engine.loading.load_job import LoadFailed, LoadJob, LoadStatus
from engine.loading.planner import LoadMode
from engine.loading.request import LoadInputError, load_request
from engine.loading.service import LoadService, journal_status
from engine.market.bar_files import BarFileError, read_bar_file
from engine.market.calendar import calendar_for
from engine.market.store import BarStore, StoreError
from engine.source import choose_source
from ktrdr_tui.commands import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed
from ktrdr_tui.formatting import duration

_REFRESH_S = 0.1
_BAD_ROWS_SHOWN = 5


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def load(args: argparse.Namespace, config: Config) -> int:
    try:
        request = load_request(
            calendar_for(),
            args.symbols,
            args.timeframe,
            args.start,
            args.end,
            args.mode,
            now=config.now(),
        )
    except LoadInputError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    service = _open_service(config)
    try:
        if request.mode is not LoadMode.LOCAL:
            service.connect()
        return _follow(service, service.start(request), args.json)
    except LoadFailed as exc:
        raise CommandFailed(str(exc)) from None
    finally:
        service.close()


def resume(args: argparse.Namespace, config: Config) -> int:
    journal_store = JournalStore(config.data_dir / "jobs")
    if not journal_store.path(args.job_id).is_file():
        raise CommandFailed(f"no load job {args.job_id!r} (list them with: ktrdr-tui jobs)")
    try:
        mode = journal_store.load(args.job_id).mode
    except JournalError as exc:
        raise CommandFailed(str(exc)) from None
    service = _open_service(config)
    try:
        if mode is not LoadMode.LOCAL:
            service.connect()  # before the job starts: it would race us to connect
        return _follow(service, [service.resume(args.job_id)], args.json)
    except LoadFailed as exc:
        raise CommandFailed(str(exc)) from None
    finally:
        service.close()


def _open_service(config: Config) -> LoadService:
    choice = choose_source(config)
    _stderr().print(f"source: {choice.describe()}")
    return LoadService.for_config(config, choice)


def _follow(service: LoadService, jobs: list[LoadJob], as_json: bool) -> int:
    """Show the jobs' progress until they end; Ctrl-C cancels them (they stay resumable)."""
    console = _stderr()
    display = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[stage]:<15}"),
        TextColumn("{task.fields[bars]:>17}"),
        TextColumn("ETA {task.fields[eta]:>7}"),
        TextColumn("{task.fields[detail]}", style="dim", markup=False),
        console=console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}
    ticker = threading.Event()
    cancelled = False
    with display:
        for job in jobs:
            tasks[job.id] = display.add_task(
                f"{job.journal.symbol} {job.journal.timeframe}", total=100, **_fields(job.status())
            )
        try:
            while not all(job.journal.state.ended for job in jobs):
                _refresh(display, tasks, jobs)
                ticker.wait(_REFRESH_S)
        except KeyboardInterrupt:
            cancelled = True
            console.print("cancelling… (the jobs stay resumable)")
            for job in jobs:
                service.cancel(job.id)
            for job in jobs:
                service.wait(job.id, timeout=10)
        _refresh(display, tasks, jobs)
    statuses = [job.status() for job in jobs]
    for status in statuses:
        console.print(_outcome(status), markup=False)
    if as_json:
        print(json.dumps({"jobs": [status.to_json() for status in statuses]}, indent=1))
    if cancelled:
        return EXIT_CANCELLED
    return EXIT_OK if all(s.state is JobState.DONE for s in statuses) else EXIT_FAILED


def _refresh(display: Progress, tasks: dict[str, TaskID], jobs: list[LoadJob]) -> None:
    for job in jobs:
        status = job.status()
        display.update(tasks[job.id], completed=status.percent, **_fields(status))


def _fields(status: LoadStatus) -> dict[str, str]:
    detail = status.detail if status.state is JobState.RUNNING else str(status.state)
    return {
        "stage": status.stage or str(status.state),
        "bars": f"{status.bars_fetched:,}/{status.bars_total:,} bars",
        "eta": duration(status.eta_s),
        "detail": detail,
    }


def _outcome(status: LoadStatus) -> str:
    what = f"{status.symbol} {status.timeframe}"
    if not status.persisted:  # it failed before it had a plan: nothing to resume
        return f"ktrdr-tui: {what}: {status.error or status.state}"
    counts = (
        f"{status.segments_done}/{status.segments_total} segments, "
        f"{status.bars_fetched:,} bars, {status.requests} requests"
    )
    if status.state is JobState.DONE:
        return f"{what} [{status.job_id}]: done: {counts}"
    reason = f": {status.error}" if status.error else ""
    return (
        f"ktrdr-tui: {what} [{status.job_id}]: {status.state}{reason} ({counts}); "
        f"resume with: ktrdr-tui resume {status.job_id}"
    )


def _stdout() -> Console:
    # Piped into a file or another program, tables keep their full width.
    return Console(width=None if sys.stdout.isatty() else 200)


def jobs(args: argparse.Namespace, config: Config) -> int:
    store = JournalStore(config.data_dir / "jobs")
    store.recover_interrupted()
    statuses = [journal_status(journal) for journal in store.all()]
    if args.json:
        print(json.dumps({"jobs": [s.to_json() for s in statuses]}, indent=1))
        return EXIT_OK
    if not statuses:
        _stderr().print(f"no load jobs in {store.directory}")
        return EXIT_OK
    table = Table("job", "symbol", "tf", "mode", "range", "state", "segments", "bars", "requests")
    for s in statuses:
        failed = f" ({s.segments_failed} failed)" if s.segments_failed else ""
        table.add_row(
            s.job_id,
            s.symbol,
            s.timeframe,
            str(s.mode),
            f"{s.start} → {s.end}",
            str(s.state) + (" · resumable" if s.resumable else ""),
            f"{s.segments_done}/{s.segments_total}{failed}",
            f"{s.bars_fetched:,}",
            str(s.requests),
        )
    _stdout().print(table)
    return EXIT_OK


def data(args: argparse.Namespace, config: Config) -> int:
    store = BarStore(config.data_dir, calendar_for())
    summaries = [store.summary(key.symbol, key.timeframe) for key in store.datasets()]
    _report_quarantined(store)
    if args.json:
        rows = [
            {
                "symbol": s.symbol,
                "timeframe": s.timeframe,
                "first": s.first.isoformat() if s.first is not None else None,
                "last": s.last.isoformat() if s.last is not None else None,
                "bars": s.bars,
                "expected": s.expected,
                "missing": s.missing,
                "quality_pct": round(s.quality_pct, 3),
                "files": s.files,
                "size_bytes": s.size_bytes,
            }
            for s in summaries
        ]
        print(json.dumps({"data_dir": str(config.data_dir), "datasets": rows}, indent=1))
        return EXIT_OK
    if not summaries:
        _stderr().print(f"no datasets in {store.root}")
        return EXIT_OK
    table = Table(
        "symbol", "tf", "first (UTC)", "last (UTC)", "bars", "missing", "quality", "files", "size"
    )
    for s in summaries:
        table.add_row(
            s.symbol,
            s.timeframe,
            f"{s.first:%Y-%m-%d %H:%M}" if s.first is not None else "",
            f"{s.last:%Y-%m-%d %H:%M}" if s.last is not None else "",
            f"{s.bars:,}",
            f"{s.missing:,}",
            f"{s.quality_pct:.2f}%",
            str(s.files),
            f"{s.size_bytes / 1e6:.1f} MB",
        )
    _stdout().print(table)
    return EXIT_OK


def import_file(args: argparse.Namespace, config: Config) -> int:
    path = Path(args.file).expanduser()
    store = BarStore(config.data_dir, calendar_for())
    try:
        store.dataset_path(args.symbol, args.timeframe)  # a bad symbol fails before reading
        parsed = read_bar_file(path, args.timeframe, store.calendar)
        result = store.merge(args.symbol, args.timeframe, parsed.bars)
    except (BarFileError, StoreError) as exc:
        raise CommandFailed(str(exc)) from None
    console = _stderr()
    for bad in parsed.bad_rows[:_BAD_ROWS_SHOWN]:
        console.print(f"skipped line {bad.line}: {bad.reason}", markup=False)
    if len(parsed.bad_rows) > _BAD_ROWS_SHOWN:
        console.print(f"… and {len(parsed.bad_rows) - _BAD_ROWS_SHOWN} more bad rows")
    console.print(
        f"imported {len(parsed.bars):,} bars into {args.symbol.upper()} {args.timeframe} "
        f"({result.bars_added:,} new; timestamps read as {parsed.timezone}); "
        f"{len(parsed.bad_rows):,} bad rows skipped"
    )
    _report_quarantined(store)
    return EXIT_OK


def _report_quarantined(store: BarStore) -> None:
    for item in store.quarantined:
        print(
            f"ktrdr-tui: warning: {item.path} is unreadable ({item.reason}); moved to "
            f"{item.moved_to}",
            file=sys.stderr,
        )
