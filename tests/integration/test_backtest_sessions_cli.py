"""`ktrdr-tui backtest` of several symbols and from a session file (DESIGN.md, "Sessions"): the
file runs as the same flags would, a flag overrides its key, a bad file is one line naming the
key, and the JSON carries the symbols, each one's share and the metrics report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.session.metrics import STAGES
from engine.session.session_file import SessionFile, StrategyEntry, write_session_file
from engine.trading_rules import TradingRules
from ktrdr_tui.formatting import STATISTICS
from tests.support.bar_fixtures import FIRST, LAST, store_bars
from tests.support.cli_run import run

SMA = "sma_crossover:fast=5,slow=20"
SMA_LABEL = "sma_crossover:fast=5,slow=20"
RSI_LABEL = "rsi:period=14,oversold=30,overbought=70"
FLAGS = ("--timeframe", "1m", "--start", FIRST, "--end", LAST)
SYMBOL_KEYS = {
    "symbol",
    "trades",
    "win_rate_pct",
    "pnl",
    "commissions",
    "return_pct",
    "buy_hold_return_pct",
    "exposure_pct",
    "missing_sessions",
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """AAPL and MSFT 1m bars of the ten sessions FIRST..LAST."""
    data_dir = tmp_path / "data"
    store_bars(data_dir)
    store_bars(data_dir, symbol="MSFT")
    return data_dir


def backtest(capsys, data_dir: Path, *args: str) -> tuple[int, str, str]:
    return run(capsys, "backtest", *args, "--data-dir", str(data_dir))


def as_run(out: str) -> dict:
    """A JSON report without what depends on the machine: the timings."""
    report = json.loads(out)
    for timing in ("elapsed_s", "bars_per_s", "metrics"):
        report.pop(timing)
    return report


def session_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "session.toml"
    path.write_text(text)
    return path


SESSION = f"""\
symbols = ["AAPL", "MSFT"]
timeframe = "1m"
start = "{FIRST}"
end = "{LAST}"
cash = 50000
size = "10%"
commission = 0.005

[[strategy]]
name = "sma_crossover"
fast = 5
slow = 20

[[strategy]]
name = "rsi"
"""


def test_a_session_file_runs_as_the_same_flags(capsys, data_dir, tmp_path):
    path = session_file(tmp_path, SESSION)
    code, out, err = backtest(capsys, data_dir, "--session", str(path), "--json")
    assert code == 0, err
    from_file = as_run(out)
    rules = ("--cash", "50000", "--size", "10%", "--commission", "0.005")
    strategies = ("--strategy", SMA, "--strategy", "rsi")
    code, out, err = backtest(
        capsys, data_dir, "AAPL", "MSFT", *FLAGS, *strategies, *rules, "--json"
    )
    assert code == 0, err
    assert from_file == as_run(out)
    assert from_file["symbols"] == ["AAPL", "MSFT"]
    assert from_file["strategies"] == [SMA_LABEL, RSI_LABEL]
    assert from_file["rules"]["cash"] == "50000" and from_file["rules"]["size"] == "10%"
    assert from_file["bars_processed"] == 2 * 3900 and from_file["signals"] > 0


def test_flags_override_the_file_and_the_file_overrides_config_toml(
    capsys, data_dir, tmp_path, monkeypatch
):
    config = tmp_path / "config.toml"
    config.write_text("cash = 70000\nmax_position = 300\nslippage = 0.01\n")
    monkeypatch.setenv("KTRDR_CONFIG", str(config))
    path = session_file(tmp_path, SESSION)
    code, out, err = backtest(
        capsys,
        data_dir,
        "MSFT",  # symbols on the command line replace the file's list
        "--session",
        str(path),
        "--end",
        "2024-03-08",
        "--strategy",
        "rsi:period=10",  # --strategy flags replace its strategies
        "--size",
        "20",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["symbol"] == "MSFT" and report["symbols"] == ["MSFT"]
    assert (report["start"], report["end"]) == (FIRST, "2024-03-08")
    assert report["strategies"] == ["rsi:period=10,oversold=30,overbought=70"]
    assert report["bars_processed"] == 5 * 390
    expected = TradingRules.from_text(
        {
            "cash": 50000,  # the file's, over config.toml's
            "max_position": 300,  # config.toml's: the file does not set it
            "slippage": 0.01,
            "commission": 0.005,  # the file's
            "size": 20,  # the flag's, over the file's
        }
    )
    assert report["rules"] == expected.texts()


def test_the_files_speed_and_allow_gaps_apply_unless_a_flag_says_otherwise(capsys, tmp_path):
    data_dir = tmp_path / "data"
    store_bars(data_dir, drop=slice(390 * 2, 390 * 3))  # 2024-03-06 missing
    path = session_file(
        tmp_path,
        f'symbols = ["AAPL"]\ntimeframe = "1m"\nstart = "{FIRST}"\nend = "{LAST}"\n'
        'speed = 1000000.0\nallow_gaps = true\n[[strategy]]\nname = "rsi"\n',
    )
    code, out, err = backtest(capsys, data_dir, "--session", str(path), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["speed"], report["missing_sessions"]) == (1e6, ["2024-03-06"])
    code, out, err = backtest(
        capsys, data_dir, "--session", str(path), "--no-allow-gaps", "--speed", "0"
    )
    assert (code, out) == (1, "")
    assert "AAPL 1m has no bars in 1 of the 10 sessions" in err
    assert err.rstrip().endswith("(or run anyway with --allow-gaps)")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('symbol = "AAPL"\n', "symbol: unknown key (a list: symbols = [...])"),
        ('symbols = "AAPL"\n', 'symbols: expected a list of symbols like ["AAPL", "MSFT"]'),
        ('timeframe = "2m"\n', "timeframe: unknown timeframe '2m'"),
        ('commission = "x"\n', "commission: expected a rate per share like 0.005"),
        ("start = \n", "not valid TOML: Invalid value (at line 1, column 9)"),
        (
            '[[strategy]]\nname = "sma_crossover"\nfast = 5\nslowest = 3\n',
            "[[strategy]] 1: sma_crossover: unknown parameter 'slowest'",
        ),
        (
            '[[strategy]]\nname = "rsi"\n[[strategy]]\nname = "macd"\n',
            "[[strategy]] 2: unknown strategy 'macd'",
        ),
    ],
)
def test_a_bad_session_file_is_exit_2_and_one_line_naming_the_key(
    capsys, data_dir, tmp_path, text, problem
):
    path = session_file(tmp_path, text)
    out_csv = tmp_path / "signals.csv"
    # Everything else on the command line (a --strategy would stand in for the file's
    # tables): only the file's problem stops the run.
    strategies = () if "[[strategy]]" in text else ("--strategy", "rsi")
    code, out, err = backtest(
        capsys,
        data_dir,
        "AAPL",
        "--session",
        str(path),
        *FLAGS,
        *strategies,
        "--signals-out",
        str(out_csv),
    )
    assert (code, out) == (2, "")
    assert err.startswith(f"ktrdr-tui: {path}: {problem}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out_csv.exists()


def test_a_missing_session_file_is_exit_2(capsys, data_dir, tmp_path):
    code, out, err = backtest(capsys, data_dir, "--session", str(tmp_path / "nope.toml"))
    assert (code, out, err) == (2, "", f"ktrdr-tui: {tmp_path / 'nope.toml'}: no such file\n")


def test_without_a_session_the_options_stay_required(capsys, data_dir, tmp_path):
    code, out, err = backtest(capsys, data_dir, "AAPL", "--timeframe", "1m")
    assert (code, out) == (2, "")
    assert err == ("ktrdr-tui: backtest needs --start, --end, --strategy (or --session FILE)\n")
    code, _, err = backtest(capsys, data_dir)
    assert code == 2
    assert "backtest needs SYMBOL, --timeframe, --start, --end, --strategy" in err
    # A file that leaves some out: the rest must come from the flags.
    path = session_file(tmp_path, 'timeframe = "1m"\n[[strategy]]\nname = "rsi"\n')
    code, _, err = backtest(capsys, data_dir, "--session", str(path), "--start", FIRST)
    assert code == 2
    assert err == (f"ktrdr-tui: backtest needs SYMBOL, --end; {path} sets none of them\n")


def test_several_symbols_json_has_each_ones_share_and_the_metrics(capsys, data_dir):
    code, out, err = backtest(capsys, data_dir, "AAPL", "msft", *FLAGS, "--strategy", SMA, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert "symbol" not in report and report["symbols"] == ["AAPL", "MSFT"]
    parts = report["by_symbol"]
    assert [part["symbol"] for part in parts] == ["AAPL", "MSFT"]
    assert all(set(part) == SYMBOL_KEYS for part in parts)
    assert sum(part["trades"] for part in parts) == report["trades"] > 0
    assert sum(part["pnl"] for part in parts) == pytest.approx(
        report["final_equity"] - 100_000, abs=1e-6
    )
    metrics = report["metrics"]
    assert list(metrics["stages"]) == list(STAGES)
    assert metrics["bars"] == report["bars_processed"] == 2 * 3900
    # The portfolio's statistics stay last, in DESIGN.md's order.
    names = [name for name, _, _ in STATISTICS]
    assert list(report)[-len(names) :] == names


def test_one_symbol_keeps_symbol(capsys, data_dir):
    code, out, err = backtest(capsys, data_dir, "AAPL", *FLAGS, "--strategy", "rsi", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["symbol"], report["symbols"]) == ("AAPL", ["AAPL"])
    assert report["by_symbol"] == []  # the engine's: the portfolio's statistics are its own
    assert report["metrics"]["bars"] == 3900


def test_gaps_are_warned_per_symbol(capsys, tmp_path):
    data_dir = tmp_path / "data"
    store_bars(data_dir, drop=slice(390 * 2, 390 * 3))  # AAPL lacks 2024-03-06
    store_bars(data_dir, symbol="MSFT", drop=slice(390 * 4, 390 * 5))  # MSFT 2024-03-08
    code, out, err = backtest(
        capsys, data_dir, "AAPL", "MSFT", *FLAGS, "--strategy", "rsi", "--allow-gaps", "--json"
    )
    assert code == 0, err
    assert "warning: AAPL 1m has no bars in 1 session: 2024-03-06\n" in err
    assert "warning: MSFT 1m has no bars in 1 session: 2024-03-08\n" in err
    report = json.loads(out)
    assert report["missing_sessions"] == ["2024-03-06", "2024-03-08"]
    assert [part["missing_sessions"] for part in report["by_symbol"]] == [
        ["2024-03-06"],
        ["2024-03-08"],
    ]
    code, out, _ = backtest(
        capsys, data_dir, "AAPL", "MSFT", *FLAGS, "--strategy", "rsi", "--allow-gaps"
    )
    assert out.splitlines()[0].endswith(
        "; AAPL: no bars in 1 session: 2024-03-06; MSFT: no bars in 1 session: 2024-03-08"
    )


def test_the_report_shows_each_symbols_share_and_metrics_come_last(capsys, data_dir):
    code, out, err = backtest(
        capsys, data_dir, "AAPL", "MSFT", *FLAGS, "--strategy", SMA, "--metrics"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("AAPL MSFT 1m 2024-03-04..2024-03-15: 7,800 bars")
    header = lines[1].split()
    assert header == ["Symbol", "Trades", "Win", "rate", "P&L", "Return", "Buy", "&", "hold"]
    assert lines[2].split()[0] == "AAPL" and lines[3].split()[0] == "MSFT"
    assert lines[4].split()[0] == "Return"  # the statistics follow
    peak = next(i for i, line in enumerate(lines) if "Peak equity" in line)
    stage = next(i for i, line in enumerate(lines) if line.split()[:2] == ["Stage", "Seconds"])
    assert stage > peak
    assert [line.split()[0] for line in lines[stage + 2 : stage + 2 + len(STAGES)]] == list(STAGES)
    assert any(line.split()[:1] == ["total"] for line in lines[stage:])
    # No report: the summary line alone; one symbol: no table of shares.
    code, out, _ = backtest(
        capsys, data_dir, "AAPL", "MSFT", *FLAGS, "--strategy", SMA, "--no-report"
    )
    assert out == lines[0] + "\n"
    code, out, _ = backtest(capsys, data_dir, "AAPL", *FLAGS, "--strategy", SMA)
    assert out.splitlines()[1].split()[0] == "Return"


def test_a_written_session_file_runs(capsys, data_dir, tmp_path):
    """What the app's dialog writes, the command runs: the writer's output is a session."""
    path = tmp_path / "sessions" / "two.toml"
    write_session_file(
        path,
        SessionFile(
            symbols=("MSFT", "AAPL"),
            timeframe="1m",
            start=FIRST,
            end="2024-03-06",
            strategies=(StrategyEntry("sma_crossover", (("fast", 3), ("slow", 8)), "5m"),),
            rules=(("short", True),),
        ),
    )
    code, out, err = backtest(capsys, data_dir, "--session", str(path), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["symbols"] == ["MSFT", "AAPL"]
    assert report["strategies"] == ["sma_crossover:fast=3,slow=8,timeframe=5m"]
    assert report["rules"]["short"] == "true"
    assert report["bars_processed"] == 2 * 3 * 390
