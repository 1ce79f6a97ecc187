"""The command line: usage errors, one-line failures, and the console script."""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import GatewayAddress
from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.session.request import backtest_request
from ktrdr_tui import __version__
from ktrdr_tui.cli import build_parser
from tests.support.bar_fixtures import FIRST, store_bars
from tests.support.cli_run import run

ROOT = Path(__file__).resolve().parents[2]
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
        (["gateway", "--port", "99999"], "expected a port from 0 (any free one) to 65535"),
        (["gateway", "--latency-ms", "1e300"], "expected milliseconds from 0 to 60000"),
        ([*BACKTEST, "--speed", "inf"], "expected a number >= 0"),
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


def test_every_command_and_option_has_help() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    undocumented = [
        f"{name} {action.dest}"
        for name, command in [("ktrdr-tui", parser), *commands.choices.items()]
        for action in command._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert undocumented == []
    assert {a.dest for a in commands._choices_actions} == set(commands.choices)
    assert all(a.help for a in commands._choices_actions)


def test_help_explains_which_setting_wins(capsys) -> None:
    _, out, _ = run(capsys, "load", "--help")
    flat = " ".join(out.split())
    assert "This flag wins over KTRDR_DATA_DIR, which wins over data_dir in config.toml" in flat
    assert "strongest first: flags, KTRDR_* variables, config.toml" in flat


def test_debug_is_accepted_after_the_subcommand(capsys) -> None:
    assert build_parser().parse_args(["data", "--debug"]).debug is True
    assert build_parser().parse_args(["--debug", "gateway"]).debug is True
    assert not getattr(build_parser().parse_args(["data"]), "debug", False)
    code, _, err = run(capsys, "data", "--debug")
    assert code == 0, err


@pytest.mark.parametrize("speed", ["1e-300", "0.001"])
def test_speeds_too_slow_for_the_clock_are_usage_errors(capsys, tmp_path, speed) -> None:
    # 1e-300 made the playback clock overflow: "backtest failed: OverflowError: ...", exit 1.
    store_bars(tmp_path / "data")
    code, out, err = run(capsys, *BACKTEST, "--data-dir", str(tmp_path / "data"), "--speed", speed)
    assert (code, out) == (2, "")
    assert err == (
        "ktrdr-tui: speed must be 0 (as fast as possible) or at least 0.01 market seconds per "
        f"second, got {float(speed):g}\n"
    )
    calendar = calendar_for()
    for fine in (0.01, 1e300):  # the slowest speed allowed, and "as fast as it goes" spelt big
        request = backtest_request(
            BarStore(tmp_path / "data", calendar), calendar, ["AAPL"], "1m", FIRST, FIRST,
            ["rsi"], fine,
        )  # fmt: skip
        assert request.speed == fine


def test_config_problems_are_one_line_usage_errors(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KTRDR_CONFIG", str(tmp_path / "typo.toml"))
    code, _, err = run(capsys, "data")
    assert (code, err) == (2, f"ktrdr-tui: KTRDR_CONFIG: {tmp_path / 'typo.toml'}: no such file\n")

    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('theme = "caf\xe9"\n'.encode("latin-1"))
    monkeypatch.setenv("KTRDR_CONFIG", str(latin1))
    code, _, err = run(capsys, "data")
    assert (code, err) == (2, f"ktrdr-tui: {latin1}: not valid TOML: not UTF-8 text (at byte 12)\n")


def test_a_data_dir_that_is_a_file_is_a_usage_error(capsys, tmp_path) -> None:
    # Before: "failed: [Errno 20] Not a directory: '.../jobs'" after a job had started.
    blocker = tmp_path / "store"
    blocker.write_text("")
    load = ("load", "AAPL", "--timeframe", "1m", "--start", "2024-01-02", "--source", "sim")
    code, out, err = run(capsys, *load, "--data-dir", str(blocker))
    assert (code, out) == (2, "")
    assert err == (
        f"ktrdr-tui: --data-dir: {str(blocker)!r} is not a directory ({blocker} is a file)\n"
    )


def test_an_app_that_crashes_exits_1(capsys, monkeypatch) -> None:
    """Textual's run() returns after a crash as after a quit: the return code tells them apart."""
    from ktrdr_tui.app import KtrdrApp

    def crash(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(KtrdrApp, "compose", crash)
    monkeypatch.setattr(KtrdrApp, "run", functools.partialmethod(KtrdrApp.run, headless=True))
    code, _, _ = run(capsys, "--source", "sim")
    assert code == 1


def test_an_app_that_quits_exits_0(capsys, monkeypatch) -> None:
    from ktrdr_tui.app import KtrdrApp

    def quit_at_once(self) -> None:
        self.exit()

    monkeypatch.setattr(KtrdrApp, "on_mount", quit_at_once)
    monkeypatch.setattr(KtrdrApp, "run", functools.partialmethod(KtrdrApp.run, headless=True))
    code, _, err = run(capsys, "--source", "sim")
    assert code == 0, err
