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

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from engine.config import Config
from engine.core.jobs import JobState
from engine.loading.journal import JournalError, JournalStore
from engine.loading.load_job import LoadFailed, LoadJob, LoadStatus
from engine.loading.planner import LoadMode, plan_load
from engine.loading.request import LoadInputError, LoadRequest, load_request
from engine.loading.service import LoadService, journal_status
from engine.market.bar_files import BarFileError, changed_bars, read_bar_file
from engine.market.calendar import calendar_for
from engine.market.store import BarStore, StoreError
from engine.session.request import load_command
from engine.source import choose_source
from engine.sweep.journal import SweepStore
from ktrdr_tui.commands import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed
from ktrdr_tui.formatting import duration, file_size, plural

_REFRESH_S = 0.1
_BAD_ROWS_SHOWN = 5
_RUNS_SHOWN = 5  # runs of missing sessions listed by a local report


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
    if request.mode is LoadMode.LOCAL:
        return _local_report(request, config, args.json)
    service = _open_service(config)
    try:
        return _follow(service, service.start(request), args.json)
    except LoadFailed as exc:
        raise CommandFailed(str(exc)) from None
    finally:
        service.close()
        _report_quarantined(service.journals, service.store)


def _local_report(request: LoadRequest, config: Config, as_json: bool) -> int:
    """`--mode local`: what the store holds of the range, per symbol, and the `load` that
    fetches the rest. No gateway, no job, no journal: nothing is fetched or written."""
    calendar = calendar_for()
    store = BarStore(config.data_dir, calendar)
    sessions = calendar.sessions_for_dates(pd.Timestamp(request.start), pd.Timestamp(request.end))
    rows = []
    for symbol in request.symbols:
        stored = store.timestamps(
            symbol, request.timeframe, sessions[0].date.tz_localize("UTC"), sessions[-1].close
        )
        # A full load's plan: its segments are exactly the sessions the store lacks.
        plan = plan_load(calendar, request.timeframe, LoadMode.FULL, sessions, stored)
        runs = sorted(plan.segments, key=lambda segment: segment.first_session)
        fetch = None
        if runs:
            fetch = load_command(
                symbol, request.timeframe, runs[0].first_session, runs[-1].last_session
            )
        rows.append(
            {
                "symbol": symbol,
                "timeframe": request.timeframe,
                "start": request.start,
                "end": request.end,
                "sessions": plan.sessions,
                "missing_sessions": plan.missing_sessions,
                "expected_bars": plan.expected_bars,
                "stored_bars": plan.stored_bars,
                "quality_pct": round(100 * plan.stored_bars / plan.expected_bars, 3),
                "missing": [run.label for run in runs],
                "fetch": fetch,
            }
        )
    _report_quarantined(store)
    if as_json:
        print(json.dumps({"jobs": [], "store": rows}, indent=1))
        return EXIT_OK
    for row in rows:
        held = (
            f"{row['symbol']} {row['timeframe']} {row['start']}..{row['end']}: "
            f"{row['stored_bars']:,} of {plural(row['expected_bars'], 'bar')} stored "
            f"({row['quality_pct']:.2f}%)"
        )
        if row["fetch"] is None:
            print(f"{held}; no session missing")
            continue
        runs = row["missing"]
        shown = ", ".join(runs[:_RUNS_SHOWN]) + (", …" if len(runs) > _RUNS_SHOWN else "")
        print(
            f"{held}; {row['missing_sessions']} of {plural(row['sessions'], 'session')} "
            f"missing ({shown}); fetch them with: {row['fetch']}"
        )
    return EXIT_OK


def resume(args: argparse.Namespace, config: Config) -> int:
    journal_store = JournalStore(config.data_dir / "jobs")
    if not journal_store.path(args.job_id).is_file():
        raise CommandFailed(f"no load job {args.job_id!r} (list them with: ktrdr-tui jobs)")
    # Checked before any gateway starts: a journal that cannot be read, or has nothing to
    # resume, says so at once.
    try:
        journal_store.load(args.job_id)  # its own problem first, before the others'
        journal_store.recover_interrupted()  # a job whose process died is resumable
        journal = journal_store.load(args.job_id)
    except JournalError as exc:
        raise CommandFailed(str(exc)) from None
    _report_quarantined(journal_store)  # other jobs' journals
    if journal.state is JobState.DONE:
        status = journal_status(journal)
        _stderr().print(
            f"{_what(status)} [{status.job_id}] is done already ({_counts(status)}): "
            "nothing to resume",
            markup=False,
        )
        if args.json:
            print(json.dumps({"jobs": [status.to_json()]}, indent=1))
        return EXIT_OK
    if not journal.state.resumable:
        raise CommandFailed(
            f"job {journal.job_id} is {journal.state} in process {journal.pid}: it cannot be "
            "resumed while that process works on it"
        )
    if not journal_status(journal).resumable:
        raise CommandFailed(
            f"job {journal.job_id} {journal.state} before it had a plan ({journal.error}): "
            "nothing to resume; start a new load"
        )
    service = _open_service(config)
    try:
        return _follow(service, [service.resume(args.job_id)], args.json)
    except LoadFailed as exc:
        raise CommandFailed(str(exc)) from None
    finally:
        service.close()
        _report_quarantined(service.journals, service.store)


def _open_service(config: Config) -> LoadService:
    choice = choose_source(config)
    _stderr().print(f"source: {choice.describe()}")
    return LoadService.for_config(config, choice)


def _follow(service: LoadService, jobs: list[LoadJob], as_json: bool) -> int:
    """Show the jobs' progress until they end; Ctrl-C cancels them (they stay resumable).
    While the gateway does not answer, each failed try adds a line saying why and when the
    next one comes (the jobs wait for it, as in the app)."""
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
    failures_told = 0
    with display:
        for job in jobs:
            tasks[job.id] = display.add_task(
                f"{job.journal.symbol} {job.journal.timeframe}", total=100, **_fields(job.status())
            )
        try:
            while not all(job.journal.state.ended for job in jobs):
                _refresh(display, tasks, jobs)
                gateway = service.gateway_status()
                if gateway and gateway.retry_in_s is not None and gateway.failures != failures_told:
                    failures_told = gateway.failures  # one line per failed try
                    console.print(f"{gateway.waiting}: {gateway.error}", markup=False)
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


def _what(status: LoadStatus) -> str:
    return f"{status.symbol} {status.timeframe}"


def _counts(status: LoadStatus) -> str:
    segments = "segment" if status.segments_total == 1 else "segments"
    return (
        f"{status.segments_done}/{status.segments_total} {segments}, "
        f"{plural(status.bars_fetched, 'bar')}, {plural(status.requests, 'request')}"
    )


def _fields(status: LoadStatus) -> dict[str, str]:
    detail = status.detail if status.state is JobState.RUNNING else str(status.state)
    return {
        "stage": status.stage or str(status.state),
        "bars": f"{status.bars_fetched:,}/{status.bars_total:,} bars",
        "eta": duration(status.eta_s),
        "detail": detail,
    }


def _outcome(status: LoadStatus) -> str:
    what = _what(status)
    if status.state is JobState.DONE:
        return f"{what} [{status.job_id}]: done: {_counts(status)}"
    reason = f": {status.error}" if status.error else ""
    if not status.segments:  # it ended before it had a plan: a resume would start afresh
        job = f" [{status.job_id}]" if status.persisted else ""
        return f"ktrdr-tui: {what}{job}: {status.state}{reason}"
    return (
        f"ktrdr-tui: {what} [{status.job_id}]: {status.state}{reason} ({_counts(status)}); "
        f"resume with: ktrdr-tui resume {status.job_id}"
    )


def _stdout() -> Console:
    # Piped into a file or another program, tables keep their full width.
    return Console(width=None if sys.stdout.isatty() else 200)


def jobs(args: argparse.Namespace, config: Config) -> int:
    from ktrdr_tui.commands.sweep import sweep_statuses, sweeps_table

    store = JournalStore(config.data_dir / "jobs")
    store.recover_interrupted()
    statuses = [journal_status(journal) for journal in store.all()]
    sweeps, sweep_store = sweep_statuses(config)
    _report_quarantined(store, sweep_store)
    if args.json:
        print(
            json.dumps(
                {"jobs": [s.to_json() for s in statuses], "sweeps": [s.to_json() for s in sweeps]},
                indent=1,
            )
        )
        return EXIT_OK
    if sweeps:
        _stdout().print(sweeps_table(sweeps))
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
            file_size(s.size_bytes),
        )
    _stdout().print(table)
    return EXIT_OK


def import_file(args: argparse.Namespace, config: Config) -> int:
    path = Path(args.file).expanduser()
    store = BarStore(config.data_dir, calendar_for())
    dataset = f"{args.symbol.upper()} {args.timeframe}"
    try:
        store.dataset_path(args.symbol, args.timeframe)  # a bad symbol fails before reading
        parsed = read_bar_file(path, args.timeframe, store.calendar)
        # Under the dataset's lock: no load may store a bar between the comparison and the merge.
        with store.lock(args.symbol, args.timeframe):
            changed = _changed_stored_bars(store, args.symbol, args.timeframe, parsed.bars)
            if len(changed) and not args.replace:
                raise CommandFailed(
                    f"{len(changed):,} stored {dataset} bars differ from the file's "
                    f"({_first(changed)}); nothing written: import with --replace to overwrite "
                    "them with the file's"
                )
            result = store.merge(args.symbol, args.timeframe, parsed.bars)
    except (BarFileError, StoreError) as exc:
        raise CommandFailed(str(exc)) from None
    console = _stderr()
    for bad in parsed.bad_rows[:_BAD_ROWS_SHOWN]:
        console.print(f"skipped line {bad.line}: {bad.reason}", markup=False)
    if len(parsed.bad_rows) > _BAD_ROWS_SHOWN:
        console.print(f"… and {len(parsed.bad_rows) - _BAD_ROWS_SHOWN} more bad rows")
    replaced = f"; {len(changed):,} replaced ({_first(changed)})" if len(changed) else ""
    console.print(
        f"imported {len(parsed.bars):,} bars into {dataset} "
        f"({result.bars_added:,} new{replaced}; timestamps read as {parsed.timezone}); "
        f"{len(parsed.bad_rows):,} bad rows skipped",
        markup=False,
    )
    _report_quarantined(store)
    return EXIT_OK


def _changed_stored_bars(
    store: BarStore, symbol: str, timeframe: str, bars: pd.DataFrame
) -> pd.DatetimeIndex:
    """The stored bars the file's would overwrite with other prices or volume."""
    first, last = bars["timestamp"].iloc[0], bars["timestamp"].iloc[-1]
    stored = store.read(symbol, timeframe, first, last + pd.Timedelta(1, "ns"))
    return changed_bars(stored, bars)


def _first(changed: pd.DatetimeIndex) -> str:
    return f"the first at {changed[0]:%Y-%m-%d %H:%M} UTC"


def _report_quarantined(*holders: BarStore | JournalStore | SweepStore) -> None:
    """One warning per file the store or the journals moved aside, with both paths."""
    for holder in holders:
        for item in holder.quarantined:
            print(f"ktrdr-tui: warning: {item.describe()}", file=sys.stderr)
