"""`backtest`: play stored bars through strategies, headless.

Progress goes to stderr (one Rich bar, refreshed ten times a second from the session's
snapshots). At the end, stdout gets a summary line and the statistics as a table (`--report`,
the default), or with `--json` one object: the run's counts and every statistic of DESIGN.md.
`--signals-out`, `--trades-out` and `--equity-out` write CSVs, each atomically, once the run has
finished (a failed or cancelled run leaves no file). The trading rules come from config.toml and
the flags (engine.config parses both).
Exit 2 for malformed input (dates, strategy specs, speed, a `--strategy-file` that cannot be
loaded), 1 when the store lacks the bars (any session of the range without a bar, unless
`--allow-gaps`) or the run fails, 130 on Ctrl-C. Strategies come from the catalog
(`engine.strategy.catalog`): a plugin that cannot be loaded and is not asked for is a warning.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from engine.config import Config
from engine.core.atomic import write_atomic
from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.results import Statistics, write_equity_csv, write_trades_csv
from engine.session.logs import signals_csv
from engine.session.playback import PlaybackSession, PlaybackState, SessionSnapshot
from engine.session.request import (
    BacktestInputError,
    SessionsMissing,
    backtest_request,
    open_session,
    session_list,
)
from engine.strategy.catalog import CatalogError, load_catalog
from ktrdr_tui.commands import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed
from ktrdr_tui.formatting import STATISTICS, plural, statistic

_REFRESH_S = 0.1


def backtest(args: argparse.Namespace, config: Config) -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        catalog = load_catalog(config.strategy_files, [Path(p) for p in args.strategy_file])
    except CatalogError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    for problem in catalog.problems:  # strategies the run can do without: said, not fatal
        console.print(f"ktrdr-tui: warning: {problem}", markup=False)
    calendar = calendar_for()
    store = BarStore(config.data_dir, calendar)
    try:
        request = backtest_request(
            store,
            calendar,
            args.symbol,
            args.timeframe,
            args.start,
            args.end,
            args.strategy,
            args.speed,
            allow_gaps=args.allow_gaps,
            catalog=catalog,
        )
        session = open_session(store, calendar, request, config.trading)
    except SessionsMissing as exc:
        raise CommandFailed(f"{exc} (or run anyway with --allow-gaps)") from None
    except BacktestInputError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE if exc.usage else EXIT_FAILED) from None
    gaps = ""
    if request.missing:
        gaps = (
            f"no bars in {plural(len(request.missing), 'session')}: {session_list(request.missing)}"
        )
        console.print(
            f"ktrdr-tui: warning: {request.symbol} {request.timeframe} has {gaps}", markup=False
        )
    started = time.perf_counter()
    try:
        snapshot = _follow(session, console)
    except KeyboardInterrupt:
        session.stop()
        console.print("ktrdr-tui: backtest cancelled; nothing written")
        return EXIT_CANCELLED
    elapsed = time.perf_counter() - started
    session.stop()
    if snapshot.state is not PlaybackState.DONE:
        raise CommandFailed(f"backtest failed: {snapshot.error or snapshot.state}")
    signals = session.signal_log
    results = session.results(snapshot)
    fills = len(snapshot.fills)
    outputs: list[tuple[str | None, Callable[[Path], None], str]] = [
        (
            args.signals_out,
            lambda path: write_atomic(path, signals_csv(signals).encode()),
            plural(len(signals), "signal"),
        ),
        (
            args.trades_out,
            lambda path: write_trades_csv(path, results.trades),
            plural(len(results.trades), "trade"),
        ),
        (
            args.equity_out,
            lambda path: write_equity_csv(path, results.curve),
            f"the equity at {plural(len(results.curve), 'bar')}",
        ),
    ]
    for out, write, what in outputs:
        if out:
            path = Path(out).expanduser()
            try:
                write(path)
            except OSError as exc:
                raise CommandFailed(f"cannot write {path}: {exc.strerror or exc}") from None
            console.print(f"{what} written to {path} (times in UTC)", markup=False)
    stats = results.statistics
    summary = {
        "symbol": request.symbol,
        "timeframe": request.timeframe,
        "start": f"{request.first:%Y-%m-%d}",
        "end": f"{request.last:%Y-%m-%d}",
        "strategies": [spec.label for spec in request.strategies],
        "speed": request.speed,
        "rules": session.rules.texts(),
        "bars_processed": snapshot.bars_processed,
        "signals": snapshot.signals,
        "approved": snapshot.approved,
        "rejected": snapshot.rejected,
        "fills": fills,
        "quality_pct": round(snapshot.quality_pct, 3),
        "elapsed_s": round(elapsed, 3),
        "bars_per_s": round(snapshot.bars_processed / elapsed) if elapsed > 0 else None,
        "missing_sessions": [f"{day:%Y-%m-%d}" for day in request.missing],
        "strategy_failures": [failure.describe() for failure in snapshot.strategy_failures],
        # Every statistic (`trades`: round trips), null where undefined.
        **(stats.to_json() if stats else {"trades": 0, "final_equity": snapshot.equity}),
    }
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(
            f"{request.symbol} {request.timeframe} {summary['start']}..{summary['end']}: "
            f"{plural(snapshot.bars_processed, 'bar')}, {plural(snapshot.signals, 'signal')} "
            f"({snapshot.approved:,} approved, {snapshot.rejected:,} rejected), "
            f"{plural(fills, 'fill')}, {plural(len(results.trades), 'trade')}, "
            f"equity {snapshot.equity:,.2f} ({snapshot.return_pct:+.2f}%), "
            f"quality {snapshot.quality_pct:.2f}%" + (f"; {gaps}" if gaps else "")
        )
        if args.report and stats is not None:
            Console(highlight=False).print(report_table(stats))
    # A strategy that raised was stopped and the others went on: their outputs are written,
    # and the run still fails.
    for failure in snapshot.strategy_failures:
        console.print(f"ktrdr-tui: {failure.describe()}", markup=False)
    return EXIT_FAILED if snapshot.strategy_failures else EXIT_OK


def report_table(stats: Statistics) -> Table:
    """The statistics in DESIGN.md's order, down the left half, then down the right."""
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    for column in range(2):
        if column:
            table.add_column(min_width=1)  # a wider gap between the two halves
        table.add_column(style="dim", no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
    cells = [(label, statistic(getattr(stats, name), kind)) for name, label, kind in STATISTICS]
    half = (len(cells) + 1) // 2
    for left, right in itertools.zip_longest(cells[:half], cells[half:], fillvalue=("", "")):
        table.add_row(*left, "", *right)
    return table


def _follow(session: PlaybackSession, console: Console) -> SessionSnapshot:
    display = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[line]}", markup=False),
        console=console,
    )
    with display:
        task = display.add_task(
            f"{session.bars.symbol} {session.bars.timeframe}", total=None, line=""
        )
        session.start(playing=True)
        while not session.wait(_REFRESH_S):
            _show(display, task, session.snapshot())
        snapshot = session.snapshot()
        _show(display, task, snapshot)
    return snapshot


def _show(display: Progress, task, snapshot: SessionSnapshot) -> None:
    date = f"{snapshot.session_date:%Y-%m-%d}" if snapshot.session_date is not None else ""
    display.update(
        task,
        total=max(snapshot.bars_total, 1),
        completed=snapshot.bars_processed,
        line=f"{date}  {snapshot.bars_processed:,}/{snapshot.bars_total:,} bars  "
        f"{plural(snapshot.signals, 'signal')}  "
        f"equity {snapshot.equity:,.2f}",
    )
