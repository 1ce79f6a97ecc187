"""The command line: usage errors, one-line failures, and the console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_run import run

from engine.config import GatewayAddress
from ktrdr_tui import __version__
from ktrdr_tui.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
BACKTEST = ("backtest", "AAPL", "--timeframe", "1m", "--start", "2024-01-02", "--end", "2024-01-03",
            "--strategy", "rsi")  # fmt: skip


def test_version(capsys) -> None:
    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"ktrdr-tui {__version__}")


def test_help_lists_every_subcommand(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("load", "jobs", "resume", "import", "data", "backtest", "gateway"):
        assert f"    {command}" in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["load", "AAPL", "--timeframe", "2m", "--start", "2024-01-01"], "invalid choice: '2m'"),
        (["load", "AAPL", "--timeframe", "1m", "--start", "2024-13-01"], "is not a date"),
        (["load", "--timeframe", "1m", "--start", "2024-01-01"], "SYMBOL"),
        (
            [*BACKTEST, "--speed", "-1"],
            "expected a number >= 0",
        ),
        (["--gateway", "nohost", "data"], "HOST:PORT"),
        (["--source", "tws"], "invalid choice: 'tws'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_usage_exits_2_with_a_usage_message(capsys, argv, complaint) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("usage: ktrdr-tui")
    assert complaint in err
    assert "Traceback" not in err


def test_flags_before_and_after_the_subcommand() -> None:
    parser = build_parser()
    args = parser.parse_args(["--source", "sim", "--client-id", "4", "data"])
    assert (args.source, args.client_id) == ("sim", 4)
    args = parser.parse_args(["data", "--gateway", "127.0.0.1:7497"])
    assert args.gateway == GatewayAddress("127.0.0.1", 7497)


def test_backtest_on_an_empty_store_says_what_to_load(capsys) -> None:
    code, out, err = run(capsys, *BACKTEST)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "no AAPL 1m bars in the store (stored: nothing)" in err
    assert "fetch them with: ktrdr-tui load AAPL --timeframe 1m" in err


def test_bad_setting_exits_2_naming_the_key(capsys, monkeypatch) -> None:
    monkeypatch.setenv("KTRDR_SOURCE", "tws")
    code, _, err = run(capsys, "data")
    assert code == 2
    assert err.strip() == "ktrdr-tui: KTRDR_SOURCE: expected one of auto, sim, ib, got 'tws'"


def test_unknown_theme_is_a_usage_error(capsys) -> None:
    code, _, err = run(capsys, "--theme", "sepia")
    assert code == 2
    assert "theme: unknown theme 'sepia'" in err
    assert "ktrdr-dark" in err and "ktrdr-light" in err


def test_logs_go_to_the_log_file_not_the_terminal(capsys, isolated_user_dirs: Path) -> None:
    run(capsys, "--debug", "data")
    log_file = isolated_user_dirs / "state" / "ktrdr-tui" / "log" / "ktrdr-tui.log"
    assert log_file.is_file()


def test_console_script_runs(isolated_user_dirs: Path) -> None:
    script = Path(sys.executable).parent / "ktrdr-tui"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"ktrdr-tui {__version__}"
