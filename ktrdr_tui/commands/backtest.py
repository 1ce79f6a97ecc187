"""`backtest`: play stored bars through strategies, headless.

Progress goes to stderr (one Rich bar, refreshed ten times a second from the session's
snapshots). At the end, stdout gets a summary line and the statistics as a table (`--report`,
the default; with several symbols, a table of each one's share before them) and, with
`--metrics`, where the time went; or with `--json` one object: the run's counts, the symbols,
each symbol's share (`by_symbol`), the metrics report and every statistic of DESIGN.md.
`--signals-out`, `--trades-out` and `--equity-out` write CSVs, each atomically, once the run has
finished (a failed or cancelled run leaves no file).

What to run comes from the flags and a session file (`--session`, engine.session.session_file):
a flag given wins over the file's key, symbols and `--strategy` flags replace the file's lists.
The trading rules: config.toml's, the session file's on top, the flags' on top of both (the CLI
puts them together). Exit 2 for malformed input (dates, strategy specs, speed, a session file
or a `--strategy-file` that cannot be loaded, a required option neither given nor in the file),
1 when the store lacks the bars (any session of the range without a bar, unless
`--allow-gaps`) or the run fails, 130 on Ctrl-C. Strategies come from the catalog
(`engine.strategy.catalog`): a plugin that cannot be loaded and is not asked for is a warning.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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
    BacktestRequest,
    SessionsMissing,
    backtest_request,
    open_session,
    session_list,
)
from engine.session.results import SymbolResults
from engine.session.session_file import SessionFile
from engine.strategy.catalog import Catalog, CatalogError, load_catalog
from engine.strategy.spec import StrategySpec, StrategySpecError
from ktrdr_tui.commands import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed
from ktrdr_tui.formatting import STATISTICS, plural, statistic
from ktrdr_tui.metrics_view import metrics_table

if TYPE_CHECKING:
    import pandas as pd

_REFRESH_S = 0.1


@dataclass(frozen=True)
class Inputs:
    """What to run: the flags, the session file's keys where a flag is not given."""

    symbols: list[str]
    timeframe: str
    start: str
    end: str
    strategies: list[str]  # specs
    speed: float
    allow_gaps: bool


def inputs(args: argparse.Namespace, session: SessionFile, catalog: Catalog) -> Inputs:
    """The flags over the session file; a usage error naming what neither gives, or the
    file's [[strategy]] table the catalog cannot make a strategy of."""
    strategies = args.strategy or [entry.spec for entry in session.strategies]
    given = {
        "SYMBOL": args.symbols or list(session.symbols),
        "--timeframe": args.timeframe or session.timeframe,
        "--start": args.start or session.start,
        "--end": args.end or session.end,
        "--strategy": strategies,
    }
    missing = [name for name, value in given.items() if not value]
    if missing:
        needs = f"backtest needs {', '.join(missing)}"
        where = f"; {args.session} sets none of them" if args.session else " (or --session FILE)"
        raise CommandFailed(needs + where, EXIT_USAGE)
    if not args.strategy:  # the file's: a problem names its table
        for number, entry in enumerate(session.strategies, 1):
            try:
                StrategySpec.parse(entry.spec, catalog)
            except StrategySpecError as exc:
                raise CommandFailed(
                    f"{args.session}: [[strategy]] {number}: {exc}", EXIT_USAGE
                ) from None
    speed = args.speed if args.speed is not None else session.speed
    allow_gaps = args.allow_gaps if args.allow_gaps is not None else session.allow_gaps
    return Inputs(
        symbols=given["SYMBOL"],
        timeframe=given["--timeframe"],
        start=given["--start"],
        end=given["--end"],
        strategies=strategies,
        speed=speed or 0.0,
        allow_gaps=bool(allow_gaps),
    )


def backtest(args: argparse.Namespace, config: Config, session_file: SessionFile) -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        catalog = load_catalog(config.strategy_files, [Path(p) for p in args.strategy_file])
    except CatalogError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    for problem in catalog.problems:  # strategies the run can do without: said, not fatal
        console.print(f"ktrdr-tui: warning: {problem}", markup=False)
    asked = inputs(args, session_file, catalog)
    calendar = calendar_for()
    store = BarStore(config.data_dir, calendar)
    try:
        request = backtest_request(
            store,
            calendar,
            asked.symbols,
            asked.timeframe,
            asked.start,
            asked.end,
            asked.strategies,
            asked.speed,
            allow_gaps=asked.allow_gaps,
            catalog=catalog,
        )
        session = open_session(store, calendar, request, config.trading, chart=False)
    except SessionsMissing as exc:
        raise CommandFailed(f"{exc} (or run anyway with --allow-gaps)") from None
    except BacktestInputError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE if exc.usage else EXIT_FAILED) from None
    gaps = _gaps(request)
    for symbol, missing in request.missing.items():
        console.print(
            f"ktrdr-tui: warning: {symbol} {request.timeframe} has {_no_bars(missing)}",
            markup=False,
        )
    started = time.perf_counter()
    try:
        snapshot = _follow(session, request, console)
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
    one = request.symbols[0] if len(request.symbols) == 1 else None
    missing_days = sorted({day for days in request.missing.values() for day in days})
    summary = {
        **({"symbol": one} if one else {}),
        "symbols": list(request.symbols),
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
        # Sessions without a bar of some symbol; each symbol's in `by_symbol`.
        "missing_sessions": [f"{day:%Y-%m-%d}" for day in missing_days],
        "strategy_failures": [failure.describe() for failure in snapshot.strategy_failures],
        "by_symbol": [
            {
                **part.to_json(),
                "missing_sessions": [
                    f"{day:%Y-%m-%d}" for day in request.missing.get(part.symbol, ())
                ],
            }
            for part in results.by_symbol
        ],
        "metrics": snapshot.metrics.to_json(),
        # Every statistic (`trades`: round trips), null where undefined: the portfolio's.
        **(stats.to_json() if stats else {"trades": 0, "final_equity": snapshot.equity}),
    }
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(
            f"{' '.join(request.symbols)} {request.timeframe} "
            f"{summary['start']}..{summary['end']}: "
            f"{plural(snapshot.bars_processed, 'bar')}, {plural(snapshot.signals, 'signal')} "
            f"({snapshot.approved:,} approved, {snapshot.rejected:,} rejected), "
            f"{plural(fills, 'fill')}, {plural(len(results.trades), 'trade')}, "
            f"equity {snapshot.equity:,.2f} ({snapshot.return_pct:+.2f}%), "
            f"quality {snapshot.quality_pct:.2f}%" + (f"; {gaps}" if gaps else "")
        )
        out = Console(highlight=False)
        if args.report and len(results.by_symbol) > 1:
            out.print(symbols_table(results.by_symbol))
        if args.report and stats is not None:
            out.print(report_table(stats))
        if args.metrics:
            out.print(metrics_table(snapshot.metrics))
    # A strategy that raised was stopped and the others went on: their outputs are written,
    # and the run still fails.
    for failure in snapshot.strategy_failures:
        console.print(f"ktrdr-tui: {failure.describe()}", markup=False)
    return EXIT_FAILED if snapshot.strategy_failures else EXIT_OK


def _gaps(request: BacktestRequest) -> str:
    """The sessions without bars, for the summary line: per symbol when there are several."""
    several = len(request.symbols) > 1
    return "; ".join(
        f"{symbol}: {_no_bars(missing)}" if several else _no_bars(missing)
        for symbol, missing in request.missing.items()
    )


def _no_bars(missing: Sequence[pd.Timestamp]) -> str:
    return f"no bars in {plural(len(missing), 'session')}: {session_list(missing)}"


def symbols_table(parts: tuple[SymbolResults, ...]) -> Table:
    """Each symbol's share of the run: trades, win rate, pnl and return on the starting cash,
    and its buy & hold return."""
    table = Table(box=None, pad_edge=False, padding=(0, 1), header_style="bold")
    table.add_column("Symbol", no_wrap=True)
    for label in ("Trades", "Win rate", "P&L", "Return", "Buy & hold"):
        table.add_column(label, justify="right", no_wrap=True)
    for part in parts:
        table.add_row(
            part.symbol,
            f"{part.trades:,}",
            statistic(part.win_rate_pct, "%"),
            statistic(part.pnl, "money"),
            statistic(part.return_pct, "signed %"),
            statistic(part.buy_hold_return_pct, "signed %"),
        )
    return table


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


def _follow(
    session: PlaybackSession, request: BacktestRequest, console: Console
) -> SessionSnapshot:
    display = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[line]}", markup=False),
        console=console,
    )
    with display:
        task = display.add_task(
            f"{' '.join(request.symbols)} {request.timeframe}", total=None, line=""
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
