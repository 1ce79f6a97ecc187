"""`ktrdr-tui`: the app when run bare, headless subcommands otherwise (DESIGN.md, CLI contract).

Only argparse and the engine's settings are imported up front, so `--help` and usage errors
answer at once; Textual, pandas and the IB client load when a command needs them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime

from engine.config import SOURCES, Config, ConfigError, GatewayAddress, load_config
from engine.market.timeframes import TIMEFRAMES
from ktrdr_tui import __version__
from ktrdr_tui.commands import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
)

LOAD_MODES = ("tail", "backfill", "full", "local")
PACING_MODES = ("real", "fast", "off")

log = logging.getLogger(__name__)


def _date_arg(text: str) -> str:
    """`YYYY-MM-DD` or an ISO datetime; kept as text for the command to interpret."""
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or an ISO datetime"
        ) from None
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
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


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
        help="the local store (default: the user data dir; KTRDR_DATA_DIR overrides)",
    )
    return parser


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object on stdout at the end"
    )


def build_parser() -> argparse.ArgumentParser:
    source = _source_options()
    parser = argparse.ArgumentParser(
        prog="ktrdr-tui",
        parents=[source],
        description="Load Interactive Brokers bars into a local store, play them back through "
        "strategies and log every signal. With no subcommand, opens the terminal app.",
        epilog="Settings also come from config.toml in the user config dir and from KTRDR_* "
        "variables; flags win. Exit codes: 0 done, 1 failed, 2 bad usage, 130 cancelled.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--theme", metavar="NAME", help="colour theme (default ktrdr-dark)")
    parser.add_argument("--debug", action="store_true", help="log debug detail; show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    load = commands.add_parser(
        "load",
        parents=[source],
        help="load bars from IB into the store",
        description="Load historical bars from IB into the local store, in IB-compliant "
        "segments. Ctrl-C cancels and leaves the job resumable.",
    )
    load.add_argument("symbols", nargs="+", metavar="SYMBOL")
    load.add_argument("--timeframe", required=True, choices=TIMEFRAMES)
    load.add_argument("--start", required=True, type=_date_arg, metavar="DATE")
    load.add_argument(
        "--end", type=_date_arg, metavar="DATE", help="default: the last completed session"
    )
    load.add_argument(
        "--mode",
        choices=LOAD_MODES,
        default="full",
        help="tail: newest data; backfill: older data; full: every hole in the range "
        "(default); local: the store only",
    )
    _json_option(load)

    jobs = commands.add_parser(
        "jobs", parents=[source], help="list load jobs with state and progress"
    )
    _json_option(jobs)

    resume = commands.add_parser(
        "resume", parents=[source], help="continue a cancelled, failed or interrupted load"
    )
    resume.add_argument("job_id", metavar="JOB_ID")
    _json_option(resume)

    imp = commands.add_parser(
        "import", parents=[source], help="import a CSV or Parquet OHLCV file into the store"
    )
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--symbol", required=True)
    imp.add_argument("--timeframe", required=True, choices=TIMEFRAMES)

    data = commands.add_parser(
        "data", parents=[source], help="datasets in the store: range, bars, quality"
    )
    _json_option(data)

    backtest = commands.add_parser(
        "backtest",
        parents=[source],
        help="play stored bars through strategies",
        description="Play stored bars through a backtest session. Strategy SPECs: "
        "sma_crossover:fast=5,slow=20  rsi:period=14,oversold=30,overbought=70",
    )
    backtest.add_argument("symbol", metavar="SYMBOL")
    backtest.add_argument("--timeframe", required=True, choices=TIMEFRAMES)
    backtest.add_argument("--start", required=True, type=_date_arg, metavar="DATE")
    backtest.add_argument("--end", required=True, type=_date_arg, metavar="DATE")
    backtest.add_argument(
        "--strategy", required=True, action="append", metavar="SPEC", help="repeat for more"
    )
    backtest.add_argument(
        "--speed",
        type=_non_negative_float,
        default=0.0,
        metavar="X",
        help="market seconds per wall second; 0 (default) is as fast as possible",
    )
    backtest.add_argument("--signals-out", metavar="FILE.csv", help="write every signal here")
    _json_option(backtest)

    gateway = commands.add_parser(
        "gateway",
        help="run the simulated IB Gateway in the foreground",
        description="Serve the TWS API on HOST:PORT with deterministic synthetic bars, "
        "until Ctrl-C. Any ib_insync script can connect to it.",
    )
    gateway.add_argument("--host", default="127.0.0.1")
    gateway.add_argument("--port", type=_non_negative_int, default=4002)
    gateway.add_argument("--latency-ms", type=_non_negative_float, default=0.0, metavar="N")
    gateway.add_argument("--pacing", choices=PACING_MODES, default="real")
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
    return parser


def _config(args: argparse.Namespace) -> Config:
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
    from ktrdr_tui.theme_files import load_theme_files

    config = _config(args)
    theme_files = load_theme_files()
    known = {theme.name for theme in theme_files.themes}
    if config.theme not in known:
        names = ", ".join(sorted(known))
        raise ConfigError(f"theme: unknown theme {config.theme!r} (available: {names})")
    KtrdrApp(config, theme_files).run()
    return EXIT_OK


def run_backtest(args: argparse.Namespace) -> int:
    from ktrdr_tui.commands.backtest import backtest

    return backtest(args, _config(args))


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
    "resume": run_data_command,
    "import": run_data_command,
    "data": run_data_command,
    "backtest": run_backtest,
    "gateway": run_gateway,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from engine.logs import setup_logging

    try:
        setup_logging(level=logging.DEBUG if args.debug else logging.INFO)
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
        if args.debug:
            raise
        print(f"ktrdr-tui: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK  # parser.exit above never returns; this keeps type checkers honest


if __name__ == "__main__":
    sys.exit(main())
