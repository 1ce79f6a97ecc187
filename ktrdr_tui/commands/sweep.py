"""`sweep`: many backtests over a grid of parameters, here or on a Dask cluster; and `resume`
of a sweep, and the sweeps `jobs` lists.

Progress (with an ETA) goes to stderr; the top `--top` results by `--metric` go to stdout as a
table, or every result as one JSON object with `--json`; `--out` writes them all as CSV,
atomically. Exit 2 for malformed input (a grid, a rule, a date), 1 when the store lacks the
bars or a backtest fails (the results so far are kept: `resume` runs the rest), 130 on Ctrl-C
(resumable too).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from engine.config import Config
from engine.core.atomic import write_atomic
from engine.core.eta import EtaHistory
from engine.core.jobs import JobRunner, JobState
from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.session.request import session_list
from engine.strategy.catalog import CatalogError, load_catalog
from engine.sweep.executors import Executor, ExecutorUnavailable, make_executor, worker_setup
from engine.sweep.job import (
    STARTING,
    SweepInputError,
    SweepJob,
    SweepPlan,
    SweepStatus,
    check_resumable,
    journal_status,
    new_journal,
    plan_sweep,
)
from engine.sweep.journal import (
    SweepJournal,
    SweepJournalError,
    SweepRequest,
    SweepStore,
    base_rules,
)
from engine.sweep.report import csv_text, ranked, result_rows, shown, varied
from engine.trading_rules import OPTIONS
from ktrdr_tui.commands import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed
from ktrdr_tui.commands.loading import _report_quarantined as report_quarantined
from ktrdr_tui.formatting import STATISTICS, duration, plural, statistic

_REFRESH_S = 0.1
_CANCEL_WAIT_S = 60  # a batch in flight finishes first
# Shown beside the metric in the table, in this order.
_TABLE_STATISTICS = ("return_pct", "sharpe", "max_drawdown_pct", "trades", "win_rate_pct")
_KINDS = {name: kind for name, _, kind in STATISTICS}


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def sweep(args: argparse.Namespace, config: Config) -> int:
    named = [Path(path).expanduser().resolve() for path in args.strategy_file]
    rules = [(option, getattr(args, option)) for option in OPTIONS]
    request = SweepRequest(
        symbols=tuple(args.symbols),
        timeframe=args.timeframe,
        start=args.start,
        end=args.end,
        strategies=tuple(args.strategy),
        rules=tuple((option, _text(value)) for option, value in rules if value is not None),
        base_rules=tuple(config.trading.texts().items()),
        strategy_files=tuple(map(str, named)),
        allow_gaps=args.allow_gaps,
        metric=args.metric,
        top=args.top,
        out=str(Path(args.out).expanduser().resolve()) if args.out else None,
        executor=args.executor,
        workers=args.workers,
        address=args.address,
    )
    if request.address and request.executor != "dask":
        raise CommandFailed("--address is for --executor dask", EXIT_USAGE)
    executor = _started(request, config)
    with _closed_on_error(executor):
        plan = _plan(request, config)
        store = SweepStore(config.data_dir / "jobs")
        journal = new_journal(request, plan, store)
    return _run(store, journal, plan, config, args.json, executor)


def _text(value: str | bool) -> str:
    """An option as text: `--short`/`--no-short` are true and false."""
    return ("true" if value else "false") if isinstance(value, bool) else value


def resume(args: argparse.Namespace, config: Config) -> int:
    """`resume JOB_ID` of a sweep: plan it again, check that it is the same, run the rest."""
    store = SweepStore(config.data_dir / "jobs")
    try:
        store.all()  # a sweep whose process died becomes resumable
        journal = store.load(args.job_id)
    except SweepJournalError as exc:
        raise CommandFailed(str(exc)) from None
    report_quarantined(store)
    changes = {
        name: getattr(args, name)
        for name in ("executor", "workers", "address")
        if getattr(args, name, None) is not None
    }
    if changes:
        if changes.get("executor") == "local":
            changes.setdefault("address", None)
        journal = replace(journal, request=replace(journal.request, **changes))
    request = journal.request
    if request.address and request.executor != "dask":
        raise CommandFailed("--address is for --executor dask", EXIT_USAGE)
    if journal.state is not JobState.DONE and not journal.state.resumable:
        raise CommandFailed(
            f"sweep {journal.job_id} is {journal.state} in process {journal.pid}: it cannot be "
            "resumed while that process works on it"
        )
    done = journal.state is JobState.DONE
    executor = None if done else _started(request, config)
    with _closed_on_error(executor):
        plan = _plan(request, config)
        try:
            check_resumable(journal, plan)
        except SweepInputError as exc:
            raise CommandFailed(str(exc)) from None
    if executor is None:
        _stderr().print(f"sweep {journal.job_id} is done already: nothing to resume", markup=False)
        return _report(journal, plan, store.results(journal.job_id), args.json)
    return _run(store, journal, plan, config, args.json, executor)


def is_sweep(config: Config, job_id: str) -> bool:
    return SweepStore(config.data_dir / "jobs").exists(job_id)


def _started(request: SweepRequest, config: Config) -> Executor:
    """The sweep's executor, started before any bar is read: its workers load the strategies
    meanwhile, and a missing Dask or an unreachable scheduler says so first. Here, on the main
    thread: its processes ignore Ctrl-C."""
    executor = make_executor(request.executor, request.workers, request.address)
    try:
        executor.start(_worker_setup(request, config))
    except ExecutorUnavailable as exc:
        raise CommandFailed(str(exc)) from None
    return executor


def _worker_setup(request: SweepRequest, config: Config) -> str:
    named = [Path(p) for p in request.strategy_files]
    return worker_setup(config.strategy_files, named, base_rules(request))


@contextmanager
def _closed_on_error(executor: Executor | None) -> Iterator[None]:
    """Stop the workers started for a sweep that fails before it runs."""
    try:
        yield
    except BaseException:
        if executor is not None:
            executor.close()
        raise


def _plan(request: SweepRequest, config: Config) -> SweepPlan:
    console = _stderr()
    try:
        catalog = load_catalog(config.strategy_files, [Path(p) for p in request.strategy_files])
    except CatalogError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    for problem in catalog.problems:
        console.print(f"ktrdr-tui: warning: {problem}", markup=False)
    calendar = calendar_for()
    try:
        store = BarStore(config.data_dir, calendar)
        plan = plan_sweep(request, store, calendar, catalog, base_rules(request))
    except SweepInputError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE if exc.usage else EXIT_FAILED) from None
    for bars, missing in zip(plan.bars, plan.missing, strict=True):
        if missing:
            console.print(
                f"ktrdr-tui: warning: {bars.symbol} {bars.timeframe} has no bars in "
                f"{plural(len(missing), 'session')}: {session_list(missing)}",
                markup=False,
            )
    return plan


def _run(
    store: SweepStore,
    journal: SweepJournal,
    plan: SweepPlan,
    config: Config,
    as_json: bool,
    executor: Executor,
) -> int:
    request = journal.request
    job = SweepJob(store, journal, plan, executor, _worker_setup(request, config), EtaHistory())
    console = _stderr()
    left = plan.runs - len(job.results)
    skipped = f", {plural(plan.skipped, 'combination')} skipped" if plan.skipped else ""
    console.print(
        f"sweep {job.id}: {plural(left, 'backtest')} to run{skipped} ({request.executor} executor)",
        markup=False,
    )
    cancelled = _follow(job, console)
    status = job.status()
    job.finish()
    if cancelled or status.state is JobState.CANCELLED:
        console.print(
            f"ktrdr-tui: sweep {job.id} cancelled ({status.done:,}/{status.runs:,} backtests "
            f"done); resume with: ktrdr-tui resume {job.id}",
            markup=False,
        )
        return EXIT_CANCELLED
    if status.state is not JobState.DONE:
        raise CommandFailed(
            f"sweep {job.id} {status.state}: {status.error} ({status.done:,}/{status.runs:,} "
            f"backtests done); resume with: ktrdr-tui resume {job.id}"
        )
    return _report(job.journal, plan, job.results, as_json, executor.workers)


def _follow(job: SweepJob, console: Console) -> bool:
    """Run the job, showing its progress, until it ends; True if Ctrl-C cancelled it."""
    display = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[line]}", markup=False),
        console=console,
    )
    runner = JobRunner(1)
    cancelled = False
    try:
        with display:
            task = display.add_task(f"sweep {' '.join(job.plan.symbols)}", total=100, line="")
            # The job fails with the one line of what it raised (SweepFailed, ExecutorUnavailable).
            handle = runner.submit(job.run, f"sweep {job.id}", job.progress, job.id, record=job)
            try:
                while not handle.wait(_REFRESH_S):
                    _show(display, task, job.status())
            except KeyboardInterrupt:
                cancelled = True
                console.print("cancelling… (the sweep stays resumable)")
                runner.cancel(handle)
                handle.wait(_CANCEL_WAIT_S)
            _show(display, task, job.status())
    finally:
        runner.shutdown(timeout=_CANCEL_WAIT_S)
    return cancelled


def _show(display: Progress, task, status: SweepStatus) -> None:
    if status.stage == STARTING:
        line = f"starting {status.executor} workers"
    else:
        rate = f"{status.rate:,.1f}/s" if status.rate else "-/s"
        line = f"{status.done:,}/{status.runs:,} backtests  {rate}  ETA {duration(status.eta_s)}"
    display.update(task, completed=status.percent, line=line)


def _report(
    journal: SweepJournal,
    plan: SweepPlan,
    results: dict[int, dict],
    as_json: bool,
    workers: int | None = None,
) -> int:
    """The results, ranked: the table or the JSON on stdout, the CSV to `--out`. The rate is
    the sweep's over all its runs (workers' start included), as its `elapsed_s`."""
    request = journal.request
    rows = ranked(result_rows(plan, results), request.metric)
    console = _stderr()
    rate = len(rows) / journal.elapsed_s if rows and journal.elapsed_s > 0 else None
    if request.out:
        path = Path(request.out)
        try:
            write_atomic(path, csv_text(rows, plan).encode())
        except OSError as exc:
            raise CommandFailed(f"cannot write {path}: {exc.strerror or exc}") from None
        console.print(f"{plural(len(rows), 'result')} written to {path}", markup=False)
    console.print(
        f"sweep {journal.job_id}: {plural(len(rows), 'backtest')}"
        + (f", {plural(plan.skipped, 'combination')} skipped" if plan.skipped else "")
        + f" in {journal.elapsed_s:,.1f} s"
        + (f", {rate:,.1f} backtests/s" if rate else ""),
        markup=False,
    )
    if as_json:
        summary = {
            "job_id": journal.job_id,
            "runs": len(rows),
            "skipped": plan.skipped,
            "elapsed_s": round(journal.elapsed_s, 3),
            "backtests_per_s": round(rate, 3) if rate else None,
            "executor": request.executor,
            "workers": workers if workers is not None else request.workers,
            "metric": request.metric,
            "results": rows,
        }
        print(json.dumps(summary, indent=1))
    else:
        _stdout().print(_table(rows[: request.top], plan, request.metric))
    failed = [row for row in rows if row["failures"]]
    if failed:
        console.print(
            f"ktrdr-tui: {plural(len(failed), 'backtest')} had a strategy stopped; the first: "
            f"{failed[0]['failures'][0]}",
            markup=False,
        )
        return EXIT_FAILED
    return EXIT_OK


def _table(rows: list[dict], plan: SweepPlan, metric: str) -> Table:
    """The top rows: their rank, symbol (of several), the values that vary, the metric first
    among the statistics."""
    dimensions = varied(plan)
    statistics = [metric, *(name for name in _TABLE_STATISTICS if name != metric)]
    table = Table("#", title=f"best by {metric}")
    if len(plan.symbols) > 1:
        table.add_column("symbol")
    for dimension in dimensions:
        table.add_column(dimension.heading(len(plan.grids)), justify="right")
    for name in statistics:
        table.add_column(name, justify="right", style="bold" if name == metric else None)
    for rank, row in enumerate(rows, 1):
        cells = [str(rank)]
        if len(plan.symbols) > 1:
            cells.append(row["symbol"])
        cells += [shown(dimension.value(row)) for dimension in dimensions]
        cells += [_statistic(row[name], name) for name in statistics]
        table.add_row(*cells)
    return table


def _statistic(value: float | None, name: str) -> str:
    return statistic(math.nan if value is None else float(value), _KINDS[name])


def _stdout() -> Console:
    # Piped into a file or another program, tables keep their full width.
    return Console(width=None if sys.stdout.isatty() else 200)


# -- `jobs` ------------------------------------------------------------------------------------


def sweep_statuses(config: Config) -> tuple[list[SweepStatus], SweepStore]:
    """Every sweep the journals hold, oldest first (a dead process's marked interrupted)."""
    store = SweepStore(config.data_dir / "jobs")
    return [journal_status(j, len(store.results(j.job_id))) for j in store.all()], store


def sweeps_table(statuses: list[SweepStatus]) -> Table:
    table = Table("sweep", "symbols", "tf", "state", "backtests", "skipped", "executor", "time")
    for s in statuses:
        table.add_row(
            s.job_id,
            " ".join(s.symbols),
            s.timeframe,
            str(s.state) + (" · resumable" if s.resumable else ""),
            f"{s.done:,}/{s.runs:,}",
            f"{s.skipped:,}",
            s.executor,
            duration(s.elapsed_s),
        )
    return table
