"""`ktrdr-tui backtest`: the JSON and CSV contracts, bad input, what the store lacks, and the
results: the trading rules' flags and config.toml keys, the statistics in `--json` and in the
report table, the trades and equity CSVs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.results import equity_csv, trades_csv
from engine.session.bars import read_session_bars
from engine.session.logs import SIGNAL_COLUMNS
from engine.session.pipeline import Pipeline
from engine.session.playback import PlaybackSession, PlaybackState
from engine.session.request import BacktestInputError, backtest_request
from engine.session.results import SessionResults
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules
from ktrdr_tui.formatting import STATISTICS, statistic
from tests.support.bar_fixtures import FIRST, LAST, store_bars
from tests.support.cli_run import run

STRATEGIES = ("--strategy", "sma_crossover:fast=5,slow=20", "--strategy", "rsi")
JSON_KEYS = {
    "bars_processed",
    "signals",
    "approved",
    "rejected",
    "trades",
    "final_equity",
    "quality_pct",
    "elapsed_s",
    "bars_per_s",
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def backtest(
    capsys,
    data_dir: Path,
    *extra: str,
    symbol="AAPL",
    start=FIRST,
    end=LAST,
    strategies=STRATEGIES,
):
    return run(
        capsys,
        "backtest",
        symbol,
        "--timeframe",
        "1m",
        "--start",
        start,
        "--end",
        end,
        *strategies,
        "--data-dir",
        str(data_dir),
        *extra,
    )


def test_json_reports_the_run_and_the_csv_holds_every_signal(capsys, data_dir, tmp_path):
    stored = store_bars(data_dir)
    out_csv = tmp_path / "signals.csv"
    code, out, err = backtest(capsys, data_dir, "--json", "--signals-out", str(out_csv))
    assert code == 0, err
    report = json.loads(out)
    assert set(report) >= JSON_KEYS
    assert report["bars_processed"] == stored == 3900
    assert report["approved"] + report["rejected"] == report["signals"] > 0
    assert 0 < report["trades"] <= report["approved"]
    assert report["quality_pct"] == 100.0
    assert report["bars_per_s"] > 0
    rows = list(csv.reader(io.StringIO(out_csv.read_text())))
    assert tuple(rows[0]) == SIGNAL_COLUMNS
    body = rows[1:]
    assert len(body) == report["signals"]
    assert sum(row[7] == "true" for row in body) == report["approved"]
    assert all(row[7] == "false" and row[8] for row in body if row[7] != "true")
    assert {row[3] for row in body} == {
        "sma_crossover:fast=5,slow=20",
        "rsi:period=14,oversold=30,overbought=70",
    }
    assert body[0][0].endswith("Z") and body[0][1:3] == ["AAPL", "1m"]


def test_the_cli_gives_the_engines_results(capsys, data_dir, tmp_path):
    store_bars(data_dir)
    out_csv = tmp_path / "signals.csv"
    code, out, _ = backtest(capsys, data_dir, "--json", "--signals-out", str(out_csv))
    assert code == 0
    calendar = calendar_for()
    bars = read_session_bars(
        BarStore(data_dir, calendar),
        calendar,
        "AAPL",
        "1m",
        pd.Timestamp(FIRST),
        pd.Timestamp(LAST),
    )
    pipeline = Pipeline(bars, [StrategySpec.parse(STRATEGIES[1]), StrategySpec.parse("rsi")])
    pipeline.advance_to(pipeline.end)
    report = json.loads(out)
    assert report["signals"] == len(pipeline.signals)
    assert report["final_equity"] == pipeline.equity
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert [(r["action"], float(r["price"])) for r in rows] == [
        (s.action, round(s.price, 4)) for s in pipeline.signals
    ]
    assert [pd.Timestamp(r["timestamp"]).value for r in rows] == [
        s.time_ns for s in pipeline.signals
    ]


def test_holes_lower_quality_and_reject_that_days_signals(capsys, data_dir, tmp_path):
    store_bars(data_dir, drop=slice(400, 460))  # an hour out of the second day
    out_csv = tmp_path / "signals.csv"
    code, out, _ = backtest(capsys, data_dir, "--json", "--signals-out", str(out_csv))
    assert code == 0
    report = json.loads(out)
    assert report["bars_processed"] == 3900 - 60
    assert report["quality_pct"] == pytest.approx(100 * (3900 - 60) / 3900, abs=1e-3)
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    second_day = [r for r in rows if r["timestamp"].startswith("2024-03-05")]
    after_hole = [r for r in second_day if r["timestamp"] >= "2024-03-05T15:40"]
    assert after_hole and all("data quality" in r["reason"] for r in after_hole)
    assert not any("data quality" in r["reason"] for r in rows if r not in second_day)


def test_without_json_a_summary_line_on_stdout(capsys, data_dir):
    store_bars(data_dir)
    code, out, _err = backtest(capsys, data_dir)
    assert code == 0
    assert out.startswith("AAPL 1m 2024-03-04..2024-03-15: 3,900 bars")
    assert "equity" in out


@pytest.mark.parametrize(
    ("change", "code", "complaint"),
    [
        ({"symbol": "AA PL"}, 2, "bad symbol 'AA PL'"),
        ({"strategies": ("--strategy", "macd")}, 2, "unknown strategy 'macd'"),
        (
            {"strategies": ("--strategy", "sma_crossover:fast=30,slow=10")},
            2,
            "fast (30) must be less than slow (10)",
        ),
        ({"strategies": ("--strategy", "rsi:length=3")}, 2, "unknown parameter 'length'"),
        ({"strategies": ("--strategy", "rsi:period=x")}, 2, "period must be a whole number"),
        ({"strategies": ("--strategy", "rsi:timeframe=1d")}, 2, "cannot be read from 1m bars"),
        ({"start": "2024-03-15", "end": "2024-03-04"}, 2, "end 2024-03-04 is before start"),
        ({"start": "2024-03-09", "end": "2024-03-10"}, 2, "no trading session"),
        (
            {"start": "2024-02-01"},
            1,
            "AAPL 1m is stored for 2024-03-04..2024-03-15 only, not all of 2024-02-01..2024-03-15; "
            "fetch the rest with: ktrdr-tui load AAPL --timeframe 1m --start 2024-02-01 "
            "--end 2024-03-01",
        ),
        (
            {"start": "2024-03-11", "end": "2024-03-20"},
            1,
            "fetch the rest with: ktrdr-tui load AAPL --timeframe 1m --start 2024-03-18 "
            "--end 2024-03-20",
        ),
        (
            {"start": "2024-03-01", "end": "2024-03-18"},
            1,
            "fetch the rest with: ktrdr-tui load AAPL --timeframe 1m --start 2024-03-01 "
            "--end 2024-03-18",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    capsys, data_dir, tmp_path, change, code, complaint
):
    store_bars(data_dir)
    out_csv = tmp_path / "signals.csv"
    got, out, err = backtest(capsys, data_dir, "--signals-out", str(out_csv), **change)
    assert (got, out) == (code, "")
    assert complaint in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out_csv.exists()


def test_an_unknown_dataset_names_what_is_stored_and_the_load_that_fetches_it(capsys, data_dir):
    store_bars(data_dir)
    code, _, err = run(
        capsys,
        "backtest",
        "MSFT",
        "--timeframe",
        "5m",
        "--start",
        FIRST,
        "--end",
        LAST,
        "--strategy",
        "rsi",
        "--data-dir",
        str(data_dir),
    )
    assert code == 1
    assert err.strip() == (
        "ktrdr-tui: no MSFT 5m bars in the store (stored: AAPL 1m 2024-03-04..2024-03-15); "
        "fetch them with: ktrdr-tui load MSFT --timeframe 5m --start 2024-03-04 --end 2024-03-15"
    )


def test_a_negative_speed_is_a_usage_error(capsys, data_dir):
    store_bars(data_dir)
    code, _, err = backtest(capsys, data_dir, "--speed", "-2")
    assert code == 2
    assert "expected a number >= 0" in err


def test_an_unwritable_signals_file_fails_in_one_line(capsys, data_dir, tmp_path):
    store_bars(data_dir)
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = backtest(capsys, data_dir, "--signals-out", str(blocker / "signals.csv"))
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(f"ktrdr-tui: cannot write {blocker}")


def test_a_damaged_file_is_reported_and_moved_aside(capsys, data_dir):
    store_bars(data_dir)
    month = data_dir / "bars" / "AAPL" / "1m" / "2024-03.parquet"
    month.write_bytes(b"not parquet")
    code, _, err = backtest(capsys, data_dir)
    assert code == 1
    assert "is unreadable" in err and "fetch its bars again with: ktrdr-tui load AAPL" in err
    assert not month.exists()


def test_an_unknown_dataset_lists_the_symbols_other_timeframes_first(capsys, data_dir):
    store_bars(data_dir)
    calendar = calendar_for()
    store = BarStore(data_dir, calendar)
    day = store.read("AAPL", "1m").iloc[:390]
    store.merge("AA", "1m", day)  # sorts before AAPL, so the listing must move AAPL forward
    code, _, err = backtest(capsys, data_dir, "--timeframe", "5m")
    assert code == 1
    assert "no AAPL 5m bars in the store (stored: AAPL 1m 2024-03-04..2024-03-15, AA 1m " in err


def _comparable(report: dict) -> dict:
    """A JSON report without what depends on the machine or on the speed asked for."""
    timings = {"elapsed_s", "bars_per_s", "speed", "metrics"}
    return {k: v for k, v in report.items() if k not in timings}


def test_repeated_runs_and_a_timed_run_give_identical_results(capsys, data_dir, tmp_path):
    store_bars(data_dir)
    two_days = {"start": "2024-03-05", "end": "2024-03-06"}
    results = []
    # 1e6 market seconds a wall second: the two sessions take ~50 ms of real pacing.
    for run_no, speed in enumerate(("0", "0", "1000000")):
        out_csv = tmp_path / f"signals-{run_no}.csv"
        code, out, err = backtest(
            capsys, data_dir, "--json", "--speed", speed, "--signals-out", str(out_csv), **two_days
        )
        assert code == 0, err
        results.append((_comparable(json.loads(out)), out_csv.read_bytes()))
    assert results[0][0]["bars_processed"] == 2 * 390
    assert results[0][0]["signals"] > 0
    assert results[1] == results[0]
    assert results[2] == results[0]


def test_ctrl_c_stops_the_session_exits_130_and_writes_nothing(
    capsys, data_dir, tmp_path, monkeypatch
):
    store_bars(data_dir)
    started: list[PlaybackSession] = []

    def interrupted(self, timeout=None):
        # What the interpreter raises in the main thread on Ctrl-C, while the worker plays.
        started.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(PlaybackSession, "wait", interrupted)
    out_csv = tmp_path / "out" / "signals.csv"
    code, out, err = backtest(capsys, data_dir, "--json", "--signals-out", str(out_csv))
    assert (code, out) == (130, "")
    assert err.strip().splitlines()[-1] == "ktrdr-tui: backtest cancelled; nothing written"
    assert started[0].snapshot().state is PlaybackState.STOPPED
    assert not out_csv.parent.exists() or not any(out_csv.parent.iterdir())


# The command line rejects these before the request is built (argparse: exit 2 with usage);
# the app's open-session dialog passes typed text straight to backtest_request, so it checks
# them as well.
@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"timeframe": "2m"}, "unknown timeframe '2m' (choose from 1m, 5m"),
        ({"start": "2024-13-01"}, "start '2024-13-01' is not a date"),
        ({"end": "soon"}, "end 'soon' is not a date"),
        ({"speed": -1.0}, "speed must be 0 (as fast as possible) or at least 0.01"),
        ({"speed": float("nan")}, "speed must be 0 (as fast as possible) or at least 0.01"),
        ({"speed": 1e-300}, "speed must be 0 (as fast as possible) or at least 0.01"),
        ({"speed": float("inf")}, "speed must be 0 (as fast as possible) or at least 0.01"),
        ({"strategies": []}, "no strategy given"),
        ({"strategies": ["rsi:period"]}, "expected key=value"),
    ],
)
def test_backtest_request_checks_what_the_app_passes_unparsed(data_dir, change, complaint):
    store_bars(data_dir)
    calendar = calendar_for()
    given = {
        "symbols": ["aapl"],
        "timeframe": "1m",
        "start": FIRST,
        "end": LAST,
        "strategies": ["rsi"],
        "speed": 0.0,
    }
    with pytest.raises(BacktestInputError) as raised:
        backtest_request(BarStore(data_dir, calendar), calendar, **{**given, **change})
    assert complaint in str(raised.value)
    assert raised.value.usage and "\n" not in str(raised.value)


def test_backtest_request_spells_the_symbol_as_stored(data_dir):
    store_bars(data_dir)
    calendar = calendar_for()
    request = backtest_request(
        BarStore(data_dir, calendar), calendar, [" aapl "], "1m", FIRST, "2024-03-09", ["rsi"]
    )
    assert (request.symbols, request.first, request.last) == (
        ("AAPL",),
        pd.Timestamp(FIRST),
        pd.Timestamp("2024-03-08"),  # a Saturday end is the Friday session
    )


def test_a_damaged_file_is_reported_once_not_against_every_later_request(data_dir):
    store_bars(data_dir)
    calendar = calendar_for()
    store = BarStore(data_dir, calendar)
    store.merge("MSFT", "1m", store.read("AAPL", "1m"))
    (data_dir / "bars" / "AAPL" / "1m" / "2024-03.parquet").write_bytes(b"not parquet")
    ask = ("1m", FIRST, LAST, ["rsi"])
    with pytest.raises(BacktestInputError, match="is unreadable"):
        backtest_request(store, calendar, ["AAPL"], *ask)
    # The same store, as the app's open-session dialog keeps it, asked about another dataset.
    assert backtest_request(store, calendar, ["MSFT"], *ask).symbols == ("MSFT",)


# -- sessions without bars (a hole, or a load still filling the range) --------------------------

HOLE = slice(390 * 2, 390 * 4)  # the third and fourth sessions (2024-03-06 and 07) whole


def test_a_session_without_bars_fails_naming_it_and_the_load(capsys, data_dir, tmp_path):
    # Before: 3,120 bars played at "quality 80%", exit 0, as if the two days had no signal.
    store_bars(data_dir, drop=HOLE)
    out_csv = tmp_path / "signals.csv"
    code, out, err = backtest(capsys, data_dir, "--json", "--signals-out", str(out_csv))
    assert (code, out) == (1, "")
    assert err == (
        "ktrdr-tui: AAPL 1m has no bars in 2 of the 10 sessions of 2024-03-04..2024-03-15 "
        "(2024-03-06, 2024-03-07); fetch them with: ktrdr-tui load AAPL --timeframe 1m "
        "--start 2024-03-06 --end 2024-03-07 (or run anyway with --allow-gaps)\n"
    )
    assert not out_csv.exists()


def test_a_range_a_load_is_still_filling_fails_until_it_is_done(capsys, data_dir):
    # A load fetches the newest sessions first: midway, the oldest are not there yet.
    store_bars(data_dir, drop=slice(0, 390 * 3))
    code, _, err = backtest(capsys, data_dir)
    assert code == 1
    fetch = "ktrdr-tui load AAPL --timeframe 1m --start 2024-03-04 --end 2024-03-06"
    assert f"fetch the rest with: {fetch}" in err
    store_bars(data_dir)  # the load has finished
    assert backtest(capsys, data_dir)[0] == 0


def test_allow_gaps_runs_and_lists_the_gaps(capsys, data_dir):
    stored = store_bars(data_dir, drop=HOLE)
    code, out, err = backtest(capsys, data_dir, "--allow-gaps", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["missing_sessions"] == ["2024-03-06", "2024-03-07"]
    assert report["bars_processed"] == stored == 3900 - 780
    assert "warning: AAPL 1m has no bars in 2 sessions: 2024-03-06, 2024-03-07" in err
    code, out, _ = backtest(capsys, data_dir, "--allow-gaps")
    assert code == 0
    assert out.splitlines()[0].endswith("; no bars in 2 sessions: 2024-03-06, 2024-03-07")
    # Without a gap the report says so too: an empty list.
    store_bars(data_dir)
    assert (
        json.loads(backtest(capsys, data_dir, "--allow-gaps", "--json")[1])["missing_sessions"]
        == []
    )


def test_allow_gaps_still_refuses_a_range_with_no_bar_at_all(capsys, data_dir):
    store_bars(data_dir)
    code, _, err = backtest(capsys, data_dir, "--allow-gaps", start="2024-03-18", end="2024-03-20")
    assert code == 1
    assert "fetch the rest with: ktrdr-tui load AAPL --timeframe 1m --start 2024-03-18" in err
    assert "--allow-gaps" not in err


def test_counts_of_one_are_singular(capsys, data_dir, tmp_path):
    store_bars(data_dir)
    out_csv = tmp_path / "signals.csv"
    # One session of rsi at 25/75: exactly one signal (checked below).
    code, out, err = backtest(
        capsys,
        data_dir,
        "--signals-out",
        str(out_csv),
        end=FIRST,
        strategies=("--strategy", "rsi:period=14,oversold=25,overbought=75"),
    )
    assert code == 0, err
    rows = out_csv.read_text().splitlines()[1:]
    assert len(rows) == 1
    assert "390 bars, 1 signal (" in out and "1 signals" not in out
    assert f"1 signal written to {out_csv} (times in UTC)" in err


# -- results: the trading rules, the statistics, the trades and equity CSVs --------------------

RULE_FLAGS = (
    "--cash",
    "50000",
    "--size",
    "10%",
    "--max-position",
    "1000",
    "--commission",
    "0.005",
    "--min-commission",
    "1",
    "--slippage",
    "2bp",
    "--short",
)
RULES = TradingRules.from_text(
    {
        "cash": "50000",
        "size": "10%",
        "max_position": "1000",
        "commission": "0.005",
        "min_commission": "1",
        "slippage": "2bp",
        "short": True,
    }
)


def engine_results(data_dir: Path, rules: TradingRules) -> SessionResults:
    """What the engine gives for the CLI's default run under `rules`."""
    calendar = calendar_for()
    bars = read_session_bars(
        BarStore(data_dir, calendar),
        calendar,
        "AAPL",
        "1m",
        pd.Timestamp(FIRST),
        pd.Timestamp(LAST),
    )
    pipeline = Pipeline(bars, [StrategySpec.parse(STRATEGIES[1]), StrategySpec.parse("rsi")], rules)
    pipeline.advance_to(pipeline.end)
    return pipeline.results()


def test_the_trading_rules_flags_play_the_run_and_json_carries_every_statistic(
    capsys, data_dir, tmp_path
):
    store_bars(data_dir)
    trades_csv_path, equity_csv_path = tmp_path / "out" / "trades.csv", tmp_path / "equity.csv"
    code, out, err = backtest(
        capsys,
        data_dir,
        *RULE_FLAGS,
        "--json",
        "--trades-out",
        str(trades_csv_path),
        "--equity-out",
        str(equity_csv_path),
    )
    assert code == 0, err
    report = json.loads(out)
    expected = engine_results(data_dir, RULES)
    assert report["rules"] == RULES.texts()
    assert report["rules"]["size"] == "10%" and report["rules"]["short"] == "true"
    # Every statistic of DESIGN.md, in its order after the run's counts, null where undefined.
    names = [name for name, _, _ in STATISTICS]
    assert list(report)[-len(names) :] == names
    assert {k: report[k] for k in names} == json.loads(json.dumps(expected.statistics.to_json()))
    assert report["trades"] == len(expected.trades) > 0  # round trips; the fills apart
    assert report["fills"] >= report["trades"] and report["commissions"] > 0
    assert -1 in expected.trades.side  # --short took
    # The CSVs are the engine's, written atomically.
    assert trades_csv_path.read_text() == trades_csv(expected.trades)
    assert equity_csv_path.read_text() == equity_csv(expected.curve)
    rows = list(csv.DictReader(io.StringIO(equity_csv_path.read_text())))
    assert len(rows) == report["bars_processed"] == 3900
    assert float(rows[-1]["equity"]) == pytest.approx(report["final_equity"], abs=1e-4)
    assert f"{report['trades']:,} trades written to {trades_csv_path}" in err
    assert f"the equity at 3,900 bars written to {equity_csv_path}" in err


def test_the_report_table_follows_the_summary_line(capsys, data_dir):
    store_bars(data_dir)
    code, out, err = backtest(capsys, data_dir)
    assert code == 0, err
    expected = engine_results(data_dir, TradingRules())
    summary, *table = out.splitlines()
    assert f"{len(expected.trades)} trades, equity" in summary
    assert len(table) == (len(STATISTICS) + 1) // 2
    stats = expected.statistics
    shown = " ".join(table)
    for name, label, kind in STATISTICS:
        assert label in shown and statistic(getattr(stats, name), kind) in shown, label
    # Down the left half first, in DESIGN.md's order.
    assert table[0].split()[0] == "Return" and table[1].startswith("Buy & hold return")
    assert "Trades" in table[0] and "Peak equity" in table[-1]
    assert backtest(capsys, data_dir, "--no-report")[1] == summary + "\n"


def test_config_toml_sets_the_rules_and_a_flag_wins(capsys, data_dir, tmp_path, monkeypatch):
    store_bars(data_dir)
    config = tmp_path / "config.toml"
    config.write_text('cash = 50000\nsize = "10%"\nmax_position = 1000\ncommission = 0.005\n')
    monkeypatch.setenv("KTRDR_CONFIG", str(config))
    code, out, err = backtest(capsys, data_dir, "--json", "--min-commission", "1", "--short")
    assert code == 0, err
    assert json.loads(out)["rules"] == RULES.texts() | {"slippage": "0"}
    config.write_text('slippage = "0.01%"\n')
    code, out, err = backtest(capsys, data_dir)
    assert (code, out) == (2, "")
    assert err == (
        f"ktrdr-tui: {config}: slippage: expected price units like 0.01 or basis points below "
        "10000 like 2bp, got '0.01%'\n"
    )


@pytest.mark.parametrize(
    ("flag", "value", "complaint"),
    [
        ("--cash", "0", "--cash: expected an amount above 0 like 100000, got 0"),
        ("--size", "ten", "--size: expected shares like 100 or a percent of equity up to 100%"),
        ("--size", "0%", "--size: expected shares like 100 or a percent of equity up to 100%"),
        ("--max-position", "-3", "--max-position: expected a whole number of shares"),
        ("--min-confidence", "2", "--min-confidence: expected a number from 0 to 1 like 0.5"),
        ("--min-quality", "x", "--min-quality: expected a percent from 0 to 100 like 95, got 'x'"),
        ("--commission", "0.1bp", "--commission: expected a rate per share like 0.005"),
        ("--min-commission", "one", "--min-commission: expected an amount like 1.0, 0 or more"),
        ("--slippage", "-1", "--slippage: expected price units like 0.01 or basis points"),
    ],
)
def test_a_bad_rule_is_one_line_naming_the_flag_and_writes_nothing(
    capsys, data_dir, tmp_path, flag, value, complaint
):
    store_bars(data_dir)
    out_csv = tmp_path / "trades.csv"
    code, out, err = backtest(capsys, data_dir, flag, value, "--trades-out", str(out_csv))
    assert (code, out) == (2, "")
    assert err.startswith(f"ktrdr-tui: {complaint}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out_csv.exists()


def test_an_unwritable_trades_file_fails_in_one_line(capsys, data_dir, tmp_path):
    store_bars(data_dir)
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = backtest(capsys, data_dir, "--trades-out", str(blocker / "trades.csv"))
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(f"ktrdr-tui: cannot write {blocker}")
