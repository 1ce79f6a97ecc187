"""`ktrdr-tui sweep` through the command line (DESIGN.md, CLI contract and "Sweeps"): the table,
the JSON and CSV contracts, bad input, `jobs`, and Ctrl-C then `resume` in a real process."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.sweep.journal import METRICS
from tests.support.bar_fixtures import FIRST, LAST, store_bars
from tests.support.child_cli import child_env
from tests.support.cli_run import run
from tests.support.sweeps import join_worker_starters

GRID = "sma_crossover:fast=5..20/5,slow=10|30|50"  # 12 combinations, 3 refused (fast >= 10)
RUNS, SKIPPED = 9, 3
SWEEP_KEYS = {"runs", "skipped", "elapsed_s", "backtests_per_s", "executor", "workers", "results"}
# A strategy that signals nothing and takes `ms` per backtest: a sweep slow enough to be caught
# between two results, whatever the machine.
PAUSE = '''
import time

from engine.strategy import Signals, Strategy


class Pause(Strategy):
    """Signals nothing, after `ms` milliseconds."""

    name = "pause"
    ms: int = 100

    def on_chunk(self, bars, start):
        time.sleep(self.ms / 1000)
        return Signals.none()
'''


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("sweep-cli") / "data"
    store_bars(data)
    return data


def sweep(capsys, data_dir: Path, *extra: str, grid: str = GRID) -> tuple[int, str, str]:
    return run(
        capsys,
        "sweep", "AAPL", "--timeframe", "1m", "--start", FIRST, "--end", LAST,
        "--strategy", grid, "--data-dir", str(data_dir), *extra,
    )  # fmt: skip


def test_the_table_shows_the_top_rows_by_the_metric(capsys, data_dir):
    code, out, err = sweep(capsys, data_dir, "--top", "3", "--metric", "return_pct")
    assert code == 0, err
    assert "best by return_pct" in out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["1", "2", "3"]
    header = next(line for line in out.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.split("┃")[1:5]] == ["#", "fast", "slow", "return_pct"]
    assert f"{RUNS} backtests to run, {SKIPPED} combinations skipped (local executor)" in err
    assert "Traceback" not in err


def test_json_holds_every_result_best_first_with_its_params_and_every_statistic(capsys, data_dir):
    code, out, err = sweep(capsys, data_dir, "--json", "--workers", "2", "--commission", "0|0.01")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) >= SWEEP_KEYS
    assert (report["runs"], report["skipped"]) == (2 * RUNS, 2 * SKIPPED)
    assert (report["executor"], report["workers"]) == ("local", 2)
    assert report["elapsed_s"] > 0 and report["backtests_per_s"] > 0
    results = report["results"]
    assert len(results) == report["runs"]
    for row in results:
        assert set(row) >= {"params", *METRICS}
        params = row["params"]["sma_crossover"]
        assert set(params) == {"fast", "slow"} and params["fast"] < params["slow"]
        assert row["rules"]["commission"] in ("0", "0.01")
    sharpes = [row["sharpe"] for row in results if row["sharpe"] is not None]
    assert sharpes == sorted(sharpes, reverse=True)
    assert [row["sharpe"] for row in results[len(sharpes) :]] == [None] * (
        len(results) - len(sharpes)
    )
    # The commission costs: each pair of parameters does better without it.
    by_params = {}
    for row in results:
        key = tuple(row["params"]["sma_crossover"].values())
        by_params.setdefault(key, {})[row["rules"]["commission"]] = row
    for pair in by_params.values():
        if pair["0"]["trades"]:
            assert pair["0.01"]["commissions"] > 0
            assert pair["0.01"]["final_equity"] < pair["0"]["final_equity"]


def test_out_writes_one_csv_row_a_combination_parameters_and_every_statistic(
    capsys, data_dir, tmp_path
):
    path = tmp_path / "results.csv"
    code, out, err = sweep(capsys, data_dir, "--out", str(path), "--json")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(rows) == RUNS
    assert list(rows[0])[:3] == ["symbol", "sma_crossover.fast", "sma_crossover.slow"]
    assert list(rows[0])[3:] == list(METRICS)
    first = json.loads(out)["results"][0]
    assert rows[0]["sma_crossover.fast"] == str(first["params"]["sma_crossover"]["fast"])
    assert float(rows[0]["final_equity"]) == first["final_equity"]
    assert f"{RUNS} results written to {path}" in err


def test_each_symbol_runs_every_combination_as_it_would_alone(capsys, tmp_path):
    data = tmp_path / "data"
    store_bars(data)
    store_bars(data, symbol="MSFT")
    code, out, err = sweep(capsys, data, "--json")
    alone = json.loads(out)
    code, out, err = run(
        capsys,
        "sweep", "msft", "AAPL", "--timeframe", "1m", "--start", FIRST, "--end", LAST,
        "--strategy", GRID, "--data-dir", str(data), "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert (report["runs"], report["skipped"]) == (2 * RUNS, 2 * SKIPPED)
    msft = [row for row in report["results"] if row["symbol"] == "MSFT"]
    aapl = [row for row in report["results"] if row["symbol"] == "AAPL"]
    assert len(msft) == len(aapl) == RUNS
    assert aapl == alone["results"]  # as AAPL's alone, in the same order
    assert msft != [dict(row, symbol="MSFT") for row in aapl]  # other bars, other results
    code, out, err = run(
        capsys,
        "sweep", "AAPL", "MSFT", "--timeframe", "1m", "--start", FIRST, "--end", LAST,
        "--strategy", GRID, "--data-dir", str(data), "--top", "4",
    )  # fmt: skip
    header = next(line for line in out.splitlines() if line.startswith("┃"))
    assert [cell.strip() for cell in header.split("┃")[1:3]] == ["#", "symbol"]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (("--strategy", "sma_crossover:fast=5..x"), "sma_crossover: fast=5..x: 'x' is not"),
        (
            ("--strategy", "rsi:period=1|2,oversold=80,overbought=70"),
            "every combination is refused",
        ),
        (("--strategy", "sma_crossover", "--size", "10|ten"), "--size: expected shares like 100"),
        (
            ("--strategy", "sma_crossover:timeframe=1h|30s"),
            "timeframe 30s cannot be read from 1m bars",
        ),
        (("--strategy", "sma_crossover", "--address", "tcp://127.0.0.1:8786"), "--address is for"),
        (("--strategy", "sma_crossover", "--metric", "luck"), "invalid choice: 'luck'"),
    ],
)
def test_bad_input_is_exit_2_with_one_line_and_no_job(capsys, tmp_path, extra, line):
    data = tmp_path / "data"
    store_bars(data)
    code, out, err = run(
        capsys,
        "sweep", "AAPL", "--timeframe", "1m", "--start", FIRST, "--end", LAST, *extra,
        "--data-dir", str(data),
    )  # fmt: skip
    assert code == 2, err
    assert line in err
    assert out == "" and "Traceback" not in err
    assert not (data / "jobs").exists()
    # The workers started before the bars were read are stopped (those still starting as
    # they start).
    join_worker_starters()
    assert multiprocessing.active_children() == []


def test_without_dask_installed_the_dask_executor_says_how_to_get_it(capsys, data_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    code, _, err = sweep(capsys, data_dir, "--executor", "dask")
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "ktrdr-tui: the dask executor needs dask[distributed]: pip install 'ktrdr-tui[dask]'"
    )


def test_jobs_lists_sweeps_beside_loads(capsys, tmp_path):
    data = tmp_path / "data"
    store_bars(data)
    code, out, err = sweep(capsys, data, "--json")
    job_id = json.loads(out)["job_id"]
    code, out, err = run(capsys, "jobs", "--json", "--data-dir", str(data))
    assert code == 0, err
    listed = json.loads(out)
    assert listed["jobs"] == []  # the loads' list, as before
    [swept] = listed["sweeps"]
    assert (swept["job_id"], swept["state"], swept["done"], swept["runs"]) == (
        job_id, "done", RUNS, RUNS,
    )  # fmt: skip
    code, out, err = run(capsys, "jobs", "--data-dir", str(data))
    assert job_id in out and f"{RUNS}/{RUNS}" in out


def test_resuming_a_done_sweep_reports_it_and_starts_no_worker(capsys, tmp_path):
    data = tmp_path / "data"
    store_bars(data)
    code, out, _ = sweep(capsys, data, "--json")
    done = json.loads(out)
    join_worker_starters()  # the sweep's
    code, out, err = run(capsys, "resume", done["job_id"], "--json", "--data-dir", str(data))
    assert code == 0, err
    assert f"sweep {done['job_id']} is done already: nothing to resume" in err
    assert json.loads(out)["results"] == done["results"]
    assert not any(t.name == "sweep worker starter" for t in threading.enumerate())
    assert multiprocessing.active_children() == []


def wait_for_results(path: Path, process: subprocess.Popen, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if path.is_dir():
            for results in path.glob("*.results.jsonl"):
                if results.read_bytes().count(b"\n") >= count:
                    return
        time.sleep(0.01)
    raise AssertionError(f"no {count} results in 60 s")


@pytest.mark.slow
def test_ctrl_c_leaves_the_sweep_resumable_and_resume_runs_only_the_rest(capsys, tmp_path):
    data_dir = tmp_path / "data"  # no other sweep's results: the first line is this one's
    store_bars(data_dir)
    pause = tmp_path / "pause.py"
    pause.write_text(PAUSE)
    grid = "sma_crossover:fast=2..9,slow=20|30|40|50|60"  # 40 backtests of 0.1 s and more
    argv = [
        "sweep", "AAPL", "--timeframe", "1m", "--start", FIRST, "--end", LAST,
        "--strategy", "pause:ms=100", "--strategy", grid, "--strategy-file", str(pause),
        "--workers", "2",
    ]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "ktrdr_tui", *argv],
        env=child_env(tmp_path / "home", data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_results(data_dir / "jobs" / "sweeps", process, 1)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and out == ""
    job_id = err.rsplit("resume with: ktrdr-tui resume ", 1)[1].split()[0]
    results = data_dir / "jobs" / "sweeps" / f"{job_id}.results.jsonl"
    kept = results.read_bytes().count(b"\n")
    assert 1 <= kept < 40

    code, out, err = run(capsys, "resume", job_id, "--json", "--data-dir", str(data_dir))
    assert code == 0, err
    assert f"{40 - kept} backtests to run" in err
    resumed = json.loads(out)
    assert resumed["runs"] == 40
    indexes = [json.loads(line)["index"] for line in results.read_text().splitlines()]
    assert sorted(indexes) == list(range(40))  # each once: only the rest ran
    # The pause strategy signals nothing: each result is the SMA crossover's alone.
    code, out, err = sweep(capsys, data_dir, "--json", grid=grid)
    alone = {
        tuple(row["params"]["sma_crossover"].values()): row for row in json.loads(out)["results"]
    }
    for row in resumed["results"]:
        single = alone[tuple(row["params"]["sma_crossover"].values())]
        assert {name: row[name] for name in METRICS} == {name: single[name] for name in METRICS}
