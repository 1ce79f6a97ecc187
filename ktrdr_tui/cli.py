"""`ktrdr-tui`: the app when run bare, headless subcommands otherwise (DESIGN.md, CLI contract).

Only argparse and the engine's settings are imported up front, so `--help` and usage errors
answer at once; Textual, pandas and the IB client load when a command needs them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from engine.config import SOURCES, Config, ConfigError, GatewayAddress, load_config
from engine.ib.pacing import PACING_MODES
from engine.loading.modes import LoadMode
from engine.market.dates import date_text
from engine.market.timeframes import TIMEFRAMES
from engine.session.speed import MIN_SPEED
from engine.trading_rules import OPTIONS as TRADING_OPTIONS
from engine.trading_rules import RuleError, TradingRules
from ktrdr_tui import __version__
from ktrdr_tui.commands import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
)

MAX_PORT = 65535
MAX_LATENCY_MS = 60_000  # a minute per answer: slower is no test of anything
PRECEDENCE = (
    "Settings come from, strongest first: flags, KTRDR_* variables, config.toml in the user "
    "config dir (KTRDR_CONFIG names another file), built-in defaults."
)

log = logging.getLogger(__name__)


def _date_arg(text: str) -> str:
    """`YYYY-MM-DD` or an ISO datetime by the engine's rule; kept as text for the command."""
    date_text(text, argparse.ArgumentTypeError)
    return text


def _gateway_arg(text: str) -> GatewayAddress:
    try:
        return GatewayAddress.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"expected a port from 0 (any free one) to {MAX_PORT}, got {text!r}"
        )
    return int(text)


def _latency_ms(text: str) -> float:
    value = _non_negative_float(text)
    if value > MAX_LATENCY_MS:
        raise argparse.ArgumentTypeError(
            f"expected milliseconds from 0 to {MAX_LATENCY_MS}, got {text!r}"
        )
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _statistic_names() -> tuple[str, ...]:
    from ktrdr_tui.formatting import STATISTICS  # import-light: no numpy

    return tuple(name for name, _, _ in STATISTICS)


def _source_options() -> argparse.ArgumentParser:
    """Where data comes from and goes to: shared by the app and every data command."""
    # SUPPRESS: a subcommand's unset flag must not overwrite the same flag given before it.
    parser = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parser.add_argument_group("data source and store")
    group.add_argument(
        "--source",
        choices=SOURCES,
        help="sim: the built-in simulated IB Gateway; ib: a real IB Gateway or TWS; "
        "auto (default): ib when a gateway answers at --gateway, else sim",
    )
    group.add_argument(
        "--gateway",
        type=_gateway_arg,
        metavar="HOST:PORT",
        help="IB Gateway address (default 127.0.0.1:4002, the paper-trading gateway)",
    )
    group.add_argument(
        "--client-id", type=_non_negative_int, metavar="N", help="IB API client id (default 1)"
    )
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the local store: bars, load journals, quarantined files. This flag wins over "
        "KTRDR_DATA_DIR, which wins over data_dir in config.toml; the default is the user "
        "data dir",
    )
    return parser


def _debug_option() -> argparse.ArgumentParser:
    """`--debug`, accepted before and after the subcommand."""
    parser = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    parser.add_argument(
        "--debug", action="store_true", help="log debug detail; show tracebacks on failure"
    )
    return parser


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout at the end"
    )


def _trading_options(parser: argparse.ArgumentParser) -> None:
    """The trading rules (engine.trading_rules parses them, as it parses config.toml's keys of
    the same names: a flag wins over the file)."""
    group = parser.add_argument_group(
        "trading rules", "defaults: config.toml's keys of the same names, else those shown"
    )
    group.add_argument("--cash", metavar="AMOUNT", help="starting cash (100000)")
    group.add_argument(
        "--size",
        metavar="N|P%",
        help="shares per order (100), or a percent of the equity when the order is decided (10%%)",
    )
    group.add_argument(
        "--max-position", metavar="N", help="shares held at most, long or short (100)"
    )
    group.add_argument(
        "--min-confidence", metavar="X", help="refuse signals less confident than X (0.5)"
    )
    group.add_argument(
        "--min-quality",
        metavar="PCT",
        help="refuse signals on a day with less of its bars so far, in %% (95)",
    )
    group.add_argument(
        "--commission",
        metavar="RATE|P%",
        help="per fill: a rate per share (0.005) or a percent of the notional (0.1%%); 0",
    )
    group.add_argument(
        "--min-commission", metavar="AMOUNT", help="the least a fill's commission is (0)"
    )
    group.add_argument(
        "--slippage",
        metavar="X|Nbp",
        help="against the trader, at each fill: price units (0.01) or basis points (2bp); 0",
    )
    group.add_argument(
        "--short",
        action=argparse.BooleanOptionalAction,
        help="a SELL when flat opens a short position, a BUY closes it (default: long only)",
    )


def build_parser() -> argparse.ArgumentParser:
    source, debug = _source_options(), _debug_option()
    parser = argparse.ArgumentParser(
        prog="ktrdr-tui",
        parents=[source, debug],
        description="Load Interactive Brokers bars into a local store, play them back through "
        "strategies and log every signal. With no subcommand, opens the terminal app.",
        epilog=f"{PRECEDENCE} Exit codes: 0 done, 1 failed, 2 bad usage, 130 cancelled. "
        "ktrdr-tui COMMAND --help describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--theme", metavar="NAME", help="colour theme (default ktrdr-dark)")
    parser.add_argument(
        "--strategy-file",
        action="append",
        default=[],
        dest="app_strategy_files",  # the app's; `backtest --strategy-file` has its own
        metavar="PATH",
        help="a Python file of strategies for the app to offer besides the built-in, installed "
        "and strategies-folder ones; repeat for more",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, description: str, data: bool = True):
        return commands.add_parser(
            name,
            parents=[source, debug] if data else [debug],
            help=summary,
            description=description,
            epilog=PRECEDENCE if data else None,
        )

    def timeframe(parser: argparse.ArgumentParser, what: str) -> None:
        parser.add_argument(
            "--timeframe", required=True, choices=TIMEFRAMES, help=f"bar length of the {what}"
        )

    load = command(
        "load",
        "load bars from IB into the store",
        "Load historical bars from IB into the local store, in IB-compliant segments; "
        "only the trading sessions the store lacks are fetched. Ctrl-C cancels and leaves "
        "the job resumable.",
    )
    load.add_argument(
        "symbols", nargs="+", metavar="SYMBOL", help="one job per symbol, side by side"
    )
    timeframe(load, "bars to load")
    load.add_argument(
        "--start",
        required=True,
        type=_date_arg,
        metavar="DATE",
        help="first session: YYYY-MM-DD or an ISO datetime",
    )
    load.add_argument(
        "--end",
        type=_date_arg,
        metavar="DATE",
        help="last session, inclusive (default: the last completed session)",
    )
    load.add_argument(
        "--mode",
        choices=tuple(LoadMode),
        default=LoadMode.FULL,
        help="tail: newest data; backfill: older data; full: every hole in the range "
        "(default); local: report what the store holds, fetch and write nothing",
    )
    _json_option(load)

    jobs = command(
        "jobs",
        "list load jobs with state and progress",
        "List every load job the store's journals hold, with its state, segments, bars and "
        "requests; a job whose process died shows as interrupted (resume it).",
    )
    _json_option(jobs)

    resume = command(
        "resume",
        "continue a cancelled, failed or interrupted load or sweep",
        "Continue a load from its journal: only the segments not done are fetched, and the "
        "store ends as an uninterrupted load leaves it. Continue a sweep: only the backtests "
        "without a result run.",
    )
    resume.add_argument("job_id", metavar="JOB_ID", help="the job's id, as `jobs` lists it")
    elsewhere = resume.add_argument_group("a sweep's rest elsewhere (default: as it ran)")
    elsewhere.add_argument(
        "--executor", choices=("local", "dask"), help="run the rest here or on a Dask cluster"
    )
    elsewhere.add_argument(
        "--workers", type=_positive_int, metavar="N", help="worker processes for the rest"
    )
    elsewhere.add_argument(
        "--address", metavar="tcp://HOST:PORT", help="the Dask scheduler to run the rest on"
    )
    _json_option(resume)

    imp = command(
        "import",
        "import a CSV or Parquet OHLCV file into the store",
        "Import OHLCV bars from a CSV or Parquet file into the store: the columns and the time "
        "zone are detected, and bad rows are reported by line and skipped.",
    )
    imp.add_argument("file", metavar="FILE", help="a .csv or .parquet file")
    imp.add_argument("--symbol", required=True, help="the symbol the bars belong to")
    timeframe(imp, "bars in the file")
    imp.add_argument(
        "--replace",
        action="store_true",
        help="overwrite stored bars whose prices or volume differ from the file's (without "
        "it, such an import is refused and writes nothing)",
    )

    data = command(
        "data",
        "datasets in the store: range, bars, quality",
        "List the datasets in the store: first and last bar (UTC), bars, bars missing by the "
        "exchange calendar, quality, files and size.",
    )
    _json_option(data)

    backtest = command(
        "backtest",
        "play stored bars through strategies",
        "Play stored bars of one or several symbols through a backtest session: one account "
        "trades them all, and every strategy runs on every symbol. Strategy SPECs: "
        "sma_crossover:fast=5,slow=20  rsi:period=14,oversold=30,overbought=70; "
        "`ktrdr-tui strategies` lists every strategy with its parameters. With --session "
        "FILE.toml, the file gives every option it holds and a flag given overrides it "
        "(symbols and --strategy flags replace the file's lists); without it, SYMBOL, "
        "--timeframe, --start, --end and --strategy are required.",
    )
    backtest.add_argument(
        "symbols",
        nargs="*",
        metavar="SYMBOL",
        help="symbols with bars in the store, traded from one account (default: the session "
        "file's)",
    )
    backtest.add_argument(
        "--session",
        metavar="FILE.toml",
        help="a session file: symbols, timeframe, start, end, [[strategy]] tables and the "
        "trading rules, keys named as these options (the app saves them in the sessions "
        "folder beside config.toml)",
    )
    backtest.add_argument(
        "--timeframe", choices=TIMEFRAMES, help="bar length of the stored bars to play"
    )
    backtest.add_argument("--start", type=_date_arg, metavar="DATE", help="first session")
    backtest.add_argument("--end", type=_date_arg, metavar="DATE", help="last session, inclusive")
    backtest.add_argument(
        "--strategy",
        action="append",
        metavar="SPEC",
        help="a strategy and its parameters (a bare name takes the defaults); repeat for more",
    )
    backtest.add_argument(
        "--strategy-file",
        action="append",
        default=[],
        metavar="PATH",
        help="a Python file of strategies to load besides the built-in, installed and "
        "strategies-folder ones; repeat for more",
    )
    backtest.add_argument(
        "--speed",
        type=_non_negative_float,
        metavar="X",
        help=f"market seconds per wall second, at least {MIN_SPEED:g}; 0 (default) is as fast "
        "as possible. Results are the same at every speed",
    )
    backtest.add_argument(
        "--signals-out",
        metavar="FILE.csv",
        help="write every signal here, timestamps in UTC (ISO 8601, ending in Z)",
    )
    backtest.add_argument(
        "--allow-gaps",
        action=argparse.BooleanOptionalAction,
        help="run even when sessions of the range have no stored bars (they are listed, per "
        "symbol); without it, a missing session is an error naming the load that fetches it",
    )
    _trading_options(backtest)
    results = backtest.add_argument_group("results")
    results.add_argument(
        "--trades-out", metavar="FILE.csv", help="write every round trip here (times in UTC)"
    )
    results.add_argument(
        "--equity-out",
        metavar="FILE.csv",
        help="write the equity, cash and drawdown at every bar's close here (times in UTC)",
    )
    results.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="print the statistics as a table after the summary line, and with several "
        "symbols each one's share (default; not with --json)",
    )
    results.add_argument(
        "--metrics",
        action="store_true",
        help="print where the time went after the report, on stdout: seconds per stage, "
        "per bar and in the worst batch; bars, batches, trading days (--json always "
        "carries them)",
    )
    _json_option(backtest)

    sweep = command(
        "sweep",
        "run many backtests over a grid of parameters",
        "Run a backtest for every combination of the grids' values, on this machine's cores "
        "or on a Dask cluster, and rank them by a statistic. GRID: a strategy spec whose "
        "values may be ranges a..b/step (inclusive) or lists a|b|c: "
        "sma_crossover:fast=5..20/5,slow=30|50|70. Combinations a strategy refuses (fast >= "
        "slow) are skipped and counted. The trading rules take lists too (--commission "
        "0.005|0.01). A sweep is a job: Ctrl-C leaves it resumable (ktrdr-tui resume JOB_ID).",
    )
    sweep.add_argument(
        "symbols",
        nargs="+",
        metavar="SYMBOL",
        help="symbols with bars in the store: each runs every combination",
    )
    timeframe(sweep, "stored bars to play")
    sweep.add_argument(
        "--start", required=True, type=_date_arg, metavar="DATE", help="first session"
    )
    sweep.add_argument(
        "--end", required=True, type=_date_arg, metavar="DATE", help="last session, inclusive"
    )
    sweep.add_argument(
        "--strategy",
        required=True,
        action="append",
        metavar="GRID",
        help="a strategy and its values (ranges a..b/step, lists a|b|c); repeat for more: "
        "every combination of all of them runs",
    )
    sweep.add_argument(
        "--strategy-file",
        action="append",
        default=[],
        metavar="PATH",
        help="a Python file of strategies to load besides the built-in, installed and "
        "strategies-folder ones; repeat for more",
    )
    sweep.add_argument(
        "--metric",
        default="sharpe",
        choices=_statistic_names(),
        metavar="NAME",
        help="the statistic to rank by (default sharpe): any of backtest --json's statistics",
    )
    sweep.add_argument(
        "--top", type=_positive_int, default=20, metavar="N", help="rows in the table (20)"
    )
    sweep.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="worker processes (local; default: the machine's cores) or Dask workers of a "
        "local cluster (dask without --address)",
    )
    sweep.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local (default): processes on this machine; dask: a Dask cluster (pip install "
        "'ktrdr-tui[dask]')",
    )
    sweep.add_argument(
        "--address",
        metavar="tcp://HOST:PORT",
        help="the Dask scheduler (`dask scheduler` prints it); without it, --executor dask "
        "starts a local cluster",
    )
    sweep.add_argument("--out", metavar="FILE.csv", help="write every result here as CSV")
    sweep.add_argument(
        "--allow-gaps",
        action="store_true",
        help="run even when sessions of the range have no stored bars (they are listed)",
    )
    _trading_options(sweep)  # each value may be a list a|b|c: every one of them runs
    _json_option(sweep)

    strategies = command(
        "strategies",
        "every strategy, its parameters and origin",
        "List every strategy (built-in, from installed packages, from the strategies folder "
        "beside config.toml and from strategy_files in config.toml) with its parameters, "
        "defaults, description and origin.",
        data=False,
    )
    strategies.add_argument(
        "--new",
        metavar="NAME",
        help="write a template strategy NAME.py into the strategies folder, to edit",
    )
    _json_option(strategies)

    gateway = command(
        "gateway",
        "run the simulated IB Gateway in the foreground",
        "Serve the TWS API on HOST:PORT with deterministic synthetic bars, until Ctrl-C. Any "
        "ib_insync or ib_async script can connect to it.",
        data=False,
    )
    gateway.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it "
        "to the network)",
    )
    gateway.add_argument(
        "--port",
        type=_port,
        default=4002,
        help="port to listen on (default 4002, IB Gateway's paper port; 0: any free port)",
    )
    gateway.add_argument(
        "--latency-ms",
        type=_latency_ms,
        default=0.0,
        metavar="N",
        help=f"delay every historical answer by N ms (0 to {MAX_LATENCY_MS}; default 0)",
    )
    gateway.add_argument(
        "--pacing",
        choices=tuple(PACING_MODES),
        default="real",
        help="real (default): IB's pacing rules, answered with error 162; fast: the same "
        "rules with windows 60 times shorter; off: no pacing",
    )
    gateway.add_argument(
        "--seed",
        type=_non_negative_int,
        metavar="N",
        help="bar generator seed (default: the one the in-process gateway uses)",
    )
    faults = gateway.add_argument_group("fault injection (counts are historical requests)")
    faults.add_argument(
        "--drop-after",
        type=_non_negative_int,
        metavar="N",
        help="drop every connection when request N+1 arrives (once)",
    )
    faults.add_argument(
        "--pacing-violation-every",
        type=_non_negative_int,
        metavar="N",
        help="answer every Nth request with a pacing violation",
    )
    faults.add_argument(
        "--no-data-every",
        type=_non_negative_int,
        metavar="N",
        help="answer every Nth request with 'no data'",
    )
    faults.add_argument(
        "--transient-error-every",
        type=_non_negative_int,
        metavar="N",
        help="answer every Nth request with a transient HMDS error",
    )
    faults.add_argument(
        "--malformed-every",
        type=_non_negative_int,
        metavar="N",
        help="answer every Nth request with bars the client cannot decode",
    )
    faults.add_argument(
        "--short-every",
        type=_non_negative_int,
        metavar="N",
        help="answer every Nth request with only the first half of its bars",
    )
    faults.add_argument(
        "--bad-prices-every",
        type=_non_negative_int,
        metavar="N",
        help="answer every Nth request with one bar's high below its low",
    )
    return parser


def _config(args: argparse.Namespace) -> Config:
    """The settings; the trading rules config.toml's (backtest puts its flags on top, a
    sweep's options of the same names hold lists of values, which the sweep reads itself)."""
    gateway = getattr(args, "gateway", None)
    return load_config(
        {
            "source": getattr(args, "source", None),
            "gateway": str(gateway) if gateway else None,
            "client_id": getattr(args, "client_id", None),
            "data_dir": getattr(args, "data_dir", None),
            "theme": getattr(args, "theme", None),
        }
    )


def run_app(args: argparse.Namespace) -> int:
    from ktrdr_tui.app import KtrdrApp
    from ktrdr_tui.theme_files import load_theme_files, theme_names

    config = app_config(args)
    theme_files = load_theme_files()
    known = theme_names(theme_files)  # what the command palette offers
    if config.theme not in known:
        skipped = f"; {theme_files.problems[0]}" if theme_files.problems else ""
        raise ConfigError(
            f"theme: unknown theme {config.theme!r} (available: {', '.join(known)}){skipped}"
        )
    app = KtrdrApp(config, theme_files)
    app.run()
    # run() returns after a crash too (Textual has printed the traceback by then): only the
    # return code tells.
    return EXIT_FAILED if app.return_code else EXIT_OK


def app_config(args: argparse.Namespace) -> Config:
    """The app's settings, its `--strategy-file`s after config.toml's `strategy_files`. They
    are loaded once here: one that cannot be is a usage error before the app starts (later,
    in the open-session dialog, a file edited into a broken one is a line there)."""
    config = _config(args)
    named = tuple(Path(os.path.abspath(path)) for path in args.app_strategy_files)
    if named:
        from engine.strategy.catalog import CatalogError, load_catalog

        try:
            load_catalog(named=named)
        except CatalogError as exc:
            raise CommandFailed(str(exc), EXIT_USAGE) from None
    return replace(config, strategy_files=(*config.strategy_files, *named))


def run_backtest(args: argparse.Namespace) -> int:
    from engine.session.session_file import SessionFile, SessionFileError, read_session_file
    from ktrdr_tui.commands.backtest import backtest

    session = SessionFile()
    if args.session:
        try:
            session = read_session_file(Path(args.session).expanduser())
        except SessionFileError as exc:
            raise CommandFailed(str(exc), EXIT_USAGE) from None
    config = _config(args)
    # The trading rules: config.toml's, the session file's on top, the flags' on top of both.
    flags = {option: getattr(args, option, None) for option in TRADING_OPTIONS}
    try:
        rules = TradingRules.from_text(flags, session.trading_rules(config.trading))
    except RuleError as exc:
        raise ConfigError(exc.flag) from None
    return backtest(args, replace(config, trading=rules), session)


def run_sweep(args: argparse.Namespace) -> int:
    if args.executor == "local":  # the workers' server imports the engine as we do
        from engine.sweep.processes import keep_freed_memory, prestart_local

        prestart_local()
        keep_freed_memory()  # this process runs backtests too, while its workers start
    from ktrdr_tui.commands.sweep import sweep

    return sweep(args, _config(args))


def run_resume(args: argparse.Namespace) -> int:
    from ktrdr_tui.commands import sweep

    config = _config(args)
    if sweep.is_sweep(config, args.job_id):
        return sweep.resume(args, config)
    return run_data_command(args)


def run_strategies(args: argparse.Namespace) -> int:
    from ktrdr_tui.commands.strategies import strategies

    return strategies(args, _config(args))


def run_data_command(args: argparse.Namespace) -> int:
    from ktrdr_tui.commands import loading

    handlers = {
        "load": loading.load,
        "resume": loading.resume,
        "jobs": loading.jobs,
        "data": loading.data,
        "import": loading.import_file,
    }
    return handlers[args.command](args, _config(args))


def run_gateway(args: argparse.Namespace) -> int:
    from ktrdr_tui.commands import gateway

    try:
        return gateway.run(args, _config(args).now)
    except gateway.GatewayFailed as exc:
        raise CommandFailed(str(exc)) from None


COMMANDS: dict[str | None, Callable[[argparse.Namespace], int]] = {
    None: run_app,
    "load": run_data_command,
    "jobs": run_data_command,
    "resume": run_resume,
    "import": run_data_command,
    "data": run_data_command,
    "backtest": run_backtest,
    "sweep": run_sweep,
    "strategies": run_strategies,
    "gateway": run_gateway,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from engine.logging_setup import setup_logging

    debug = getattr(args, "debug", False)
    try:
        setup_logging(level=logging.DEBUG if debug else logging.INFO)
    except OSError as exc:
        print(f"ktrdr-tui: cannot open the log file: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        parser.exit(EXIT_USAGE, f"ktrdr-tui: {exc}\n")
    except CommandFailed as exc:
        print(f"ktrdr-tui: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("ktrdr-tui: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:
        log.exception("ktrdr-tui %s failed", args.command or "app")
        if debug:
            raise
        print(f"ktrdr-tui: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK  # parser.exit above never returns; this keeps type checkers honest


if __name__ == "__main__":
    sys.exit(main())
