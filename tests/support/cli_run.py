"""Run the CLI in-process, as a test sees it: exit code, stdout, stderr."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ktrdr_tui.cli import main
from tests.support.bar_fixtures import FIRST, LAST


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def backtest(capsys, data_dir: Path, tmp_path: Path, *args: str):
    """`backtest AAPL 1m` over the stored sessions (tests/support/bar_fixtures.py) with `args`
    (strategies, options): (exit code, stdout, stderr, the signals CSV's rows, [] without one)."""
    out_csv = tmp_path / "signals.csv"
    code, out, err = run(
        capsys,
        "backtest",
        "AAPL",
        "--timeframe",
        "1m",
        "--start",
        FIRST,
        "--end",
        LAST,
        "--data-dir",
        str(data_dir),
        "--signals-out",
        str(out_csv),
        "--json",
        *args,
    )
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text()))) if out_csv.exists() else []
    return code, out, err, rows
