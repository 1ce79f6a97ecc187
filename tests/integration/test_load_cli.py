"""`load`, `resume`, `jobs`, `data` and `import` through the command line (DESIGN.md, CLI
contract and on-disk formats): in-process through `main`, and as real processes for crashes
and Ctrl-C. The service itself is tested in test_loading.py."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from tests.support.child_cli import child_env
from tests.support.cli_run import run

CALENDAR = calendar_for()
FOUR_DAYS = ("2024-01-02", "2024-01-05")  # 4 sessions: 4 requests of 1 D, 1,560 minutes
EIGHT_DAYS = ("2024-01-02", "2024-01-11")  # 8 sessions
JOB_KEYS = {
    "job_id",
    "symbol",
    "timeframe",
    "mode",
    "state",
    "bars_fetched",
    "bars_total",
    "requests",
    "segments_total",
    "segments_done",
    "segments_failed",
    "elapsed_s",
}
# The crash and Ctrl-C tests need a load slow enough to be caught between two segments: the
# child runs the real CLI with the in-process simulated gateway answering after this latency
# (the gateway's own fault injection), so eight segments take more than a second.
SLOW_MS = 150
RESUME_LIMIT_S = 60  # a guard against a hang, not a speed test
_SLOW_CLI = """\
import dataclasses, sys
from engine.ib import sim_gateway

_init = sim_gateway.SimulatedGateway.__init__

def _slow(self, settings=None):
    settings = settings or sim_gateway.GatewaySettings()
    faults = dataclasses.replace(settings.faults, latency_ms=float(sys.argv[1]))
    _init(self, dataclasses.replace(settings, faults=faults))

sim_gateway.SimulatedGateway.__init__ = _slow
from ktrdr_tui.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)  # the whole of stdout: one JSON object and nothing else


def load_argv(*symbols: str, days=FOUR_DAYS, source: str = "sim") -> list[str]:
    start, end = days
    return ["load", *symbols, "--timeframe", "1m", "--start", start, "--end", end,
            "--source", source]  # fmt: skip


def expected_minutes(days: tuple[str, str]) -> int:
    sessions = CALENDAR.sessions_for_dates(pd.Timestamp(days[0]), pd.Timestamp(days[1]))
    return len(CALENDAR.bar_starts(sessions, 60))


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ktrdr_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ktrdr-tui")]


def datasets(capsys) -> dict[tuple[str, str], dict]:
    report = run_json(capsys, "data")
    return {(d["symbol"], d["timeframe"]): d for d in report["datasets"]}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("KTRDR_DATA_DIR", str(folder))
    return folder


# -- load, jobs, data in process -------------------------------------------------------------


def test_load_prints_one_json_object_and_a_second_load_sends_nothing(capsys, data_dir) -> None:
    code, out, err = run(capsys, *load_argv("AAPL"), "--json")
    assert code == 0, err
    (job,) = json.loads(out)["jobs"]
    assert job.keys() >= JOB_KEYS
    assert (job["symbol"], job["timeframe"], job["mode"], job["state"]) == (
        "AAPL",
        "1m",
        "full",
        "done",
    )
    assert job["requests"] == job["segments_total"] == job["segments_done"] == 4
    assert job["bars_fetched"] == job["bars_total"] == 1560 == expected_minutes(FOUR_DAYS)
    assert job["segments_failed"] == 0
    assert job["elapsed_s"] >= 0
    # progress and the summary go to stderr, never into the JSON on stdout
    assert "source: simulated IB Gateway" in err
    assert "done: 4/4 segments, 1,560 bars, 4 requests" in err
    assert "source:" not in out and "segments," not in out

    again = run_json(capsys, *load_argv("AAPL"))["jobs"][0]
    assert (again["state"], again["requests"], again["bars_fetched"]) == ("done", 0, 0)
    assert again["job_id"] != job["job_id"]

    aapl = datasets(capsys)[("AAPL", "1m")]
    assert (aapl["bars"], aapl["expected"], aapl["missing"], aapl["quality_pct"]) == (
        1560,
        1560,
        0,
        100.0,
    )
    assert aapl["first"] == "2024-01-02T14:30:00+00:00"
    assert aapl["last"] == "2024-01-05T20:59:00+00:00"

    listed = {j["job_id"]: j for j in run_json(capsys, "jobs")["jobs"]}
    assert listed.keys() == {job["job_id"], again["job_id"]}
    assert {j["state"] for j in listed.values()} == {"done"}
    assert listed[job["job_id"]]["requests"] == 4
    assert listed[job["job_id"]].keys() >= JOB_KEYS


def test_the_summary_line_names_the_job_whatever_its_id(capsys, data_dir, monkeypatch) -> None:
    # An id starting with a letter looks like a Rich markup tag: it must still be shown.
    fixed = uuid.UUID("abcdef01-2345-4678-9abc-def012345678")
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    code, out, err = run(capsys, *load_argv("AAPL", days=("2024-01-02", "2024-01-02")), "--json")
    assert code == 0, err
    assert json.loads(out)["jobs"][0]["job_id"] == "abcdef012345"
    assert "AAPL 1m [abcdef012345]: done" in err


def test_two_symbols_make_two_jobs_and_two_complete_datasets(capsys, data_dir) -> None:
    days = ("2024-01-02", "2024-01-03")
    jobs = run_json(capsys, *load_argv("AAPL", "msft", days=days))["jobs"]
    assert sorted(j["symbol"] for j in jobs) == ["AAPL", "MSFT"]
    assert len({j["job_id"] for j in jobs}) == 2
    for job in jobs:
        assert (job["state"], job["requests"], job["bars_fetched"]) == ("done", 2, 780)
    stored = datasets(capsys)
    assert stored.keys() == {("AAPL", "1m"), ("MSFT", "1m")}
    for dataset in stored.values():
        assert (dataset["bars"], dataset["missing"], dataset["quality_pct"]) == (780, 0, 100.0)


def test_local_mode_on_an_empty_store_needs_no_gateway(capsys, data_dir) -> None:
    gateway = f"127.0.0.1:{closed_port()}"  # nothing listens: any traffic would fail the load
    argv = [*load_argv("AAPL", source="ib"), "--gateway", gateway, "--mode", "local"]
    report = run_json(capsys, *argv)
    assert report["jobs"] == []
    (aapl,) = report["store"]
    assert (aapl["sessions"], aapl["missing_sessions"], aapl["stored_bars"]) == (4, 4, 0)
    assert aapl["fetch"] == "ktrdr-tui load AAPL --timeframe 1m --start 2024-01-02 --end 2024-01-05"
    assert files_under(data_dir) == []


def test_local_mode_reports_on_the_store_and_writes_no_journal(capsys, data_dir) -> None:
    # Before: a `local` job ran like a load and left a journal that `jobs` listed, "done".
    assert run(capsys, *load_argv("AAPL", days=("2024-01-04", "2024-01-05")))[0] == 0
    journals = files_under(data_dir / "jobs")
    code, out, err = run(capsys, *load_argv("AAPL", "MSFT"), "--mode", "local")
    assert code == 0, err
    assert out.splitlines() == [
        "AAPL 1m 2024-01-02..2024-01-05: 780 of 1,560 bars stored (50.00%); 2 of 4 sessions "
        "missing (2024-01-02 → 2024-01-03); fetch them with: ktrdr-tui load AAPL --timeframe 1m "
        "--start 2024-01-02 --end 2024-01-03",
        "MSFT 1m 2024-01-02..2024-01-05: 0 of 1,560 bars stored (0.00%); 4 of 4 sessions "
        "missing (2024-01-02 → 2024-01-05); fetch them with: ktrdr-tui "
        "load MSFT --timeframe 1m --start 2024-01-02 --end 2024-01-05",
    ]
    assert "source:" not in err  # no gateway chosen, none started
    code, out, _ = run(capsys, *load_argv("AAPL", days=("2024-01-04", "2024-01-05")), "--mode",
                       "local")  # fmt: skip
    assert (
        out
        == "AAPL 1m 2024-01-04..2024-01-05: 780 of 780 bars stored (100.00%); no session missing\n"
    )
    assert files_under(data_dir / "jobs") == journals


# -- bad input: one line, the right code, nothing written --------------------------------------


def _bad_loads() -> list:
    def load(start: str, end: str | None = None, symbol: str = "AAPL", tf: str = "1m"):
        return lambda: ["load", symbol, "--timeframe", tf, "--start", start, "--source", "sim",
                        *(["--end", end] if end else [])]  # fmt: skip

    return [
        pytest.param(load("2024-01-05", "2024-01-02"), 2, "is before start", id="end-before-start"),
        pytest.param(load("2099-01-02"), 2, "in the future", id="future-start"),
        pytest.param(load("2024-01-02", "2099-01-02"), 2, "in the future", id="future-end"),
        pytest.param(load("2024-1-2"), 2, "is not a date", id="malformed-date"),
        pytest.param(load("2024-02-30"), 2, "is not a date", id="impossible-date"),
        pytest.param(load("2024-01-02", tf="2m"), 2, "invalid choice: '2m'", id="timeframe-2m"),
        pytest.param(load("2024-01-06", "2024-01-07"), 2, "no trading session", id="weekend"),
        pytest.param(
            load("2024-01-02", "2024-01-03", symbol="ZZZZ"), 1, "unknown symbol", id="unknown-sym"
        ),
        pytest.param(
            load("2010-01-04", "2010-01-05", symbol="META"), 1, "head timestamp", id="before-head"
        ),
        pytest.param(
            lambda: ["resume", "abc123def456", "--source", "sim"], 1, "no load job", id="resume-x"
        ),
    ]


@pytest.mark.parametrize(("argv", "code", "complaint"), _bad_loads())
def test_bad_input_fails_in_one_line_and_writes_nothing(
    capsys, data_dir, argv: Callable[[], list[str]], code: int, complaint: str
) -> None:
    got, out, err = run(capsys, *argv())
    assert got == code, err
    assert out == ""
    (line,) = ktrdr_lines(err)
    assert complaint in line
    assert "Traceback" not in err
    written = files_under(data_dir)
    if code == 1 and written:
        # A job that failed before its plan keeps a journal, and `jobs` lists it, with why.
        (journal,) = written
        assert journal.parent == data_dir / "jobs"
        (job,) = run_json(capsys, "jobs")["jobs"]
        assert job["state"] == "failed" and complaint in job["error"]
    else:
        assert written == []


# -- crash, resume and Ctrl-C in real processes ---------------------------------------------------
# (kills at each atomic write, deterministic, are in test_crash_resume.py)


def cli(env: dict[str, str], *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ktrdr_tui", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def resume_in_child(env: dict[str, str], job_id: str) -> dict:
    """`resume JOB_ID --json` in a fresh process."""
    try:
        result = cli(env, "resume", job_id, "--source", "sim", "--json", timeout=RESUME_LIMIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"resume {job_id} took more than {RESUME_LIMIT_S} s")
    assert result.returncode == 0, result.stderr
    (job,) = json.loads(result.stdout)["jobs"]
    return job


def slow_load(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _SLOW_CLI, str(SLOW_MS), *load_argv("AAPL", days=EIGHT_DAYS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_journal(data: Path, process: subprocess.Popen, done: int) -> dict:
    """Poll the job's journal until at least `done` segments are done."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        for path in (data / "jobs").glob("*.json"):
            try:
                journal = json.loads(path.read_text())
            except (OSError, ValueError):  # never torn (atomic writes), but be safe
                continue
            if sum(s["status"] == "done" for s in journal["segments"]) >= done:
                return journal
        time.sleep(0.005)
    raise AssertionError(f"no journal with {done} segments done in 30 s")


def parquet_files(data: Path) -> dict[str, bytes]:
    root = data / "bars"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.parquet")}


def test_ctrl_c_cancels_and_leaves_the_load_resumable(capsys, tmp_path, data_dir) -> None:
    env = child_env(tmp_path / "home", data_dir)
    process = slow_load(env)
    try:
        journal = wait_for_journal(data_dir, process, 1)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    job_id = journal["job_id"]
    assert process.returncode == 130, err
    assert f"resume with: ktrdr-tui resume {job_id}" in err
    assert "Traceback" not in err
    on_disk = json.loads((data_dir / "jobs" / f"{job_id}.json").read_text())
    assert on_disk["state"] == "cancelled"
    assert 1 <= sum(s["status"] == "done" for s in on_disk["segments"]) < 8
    assert {s["status"] for s in on_disk["segments"]} <= {"done", "pending"}

    resumed = resume_in_child(env, job_id)
    assert (resumed["state"], resumed["segments_done"]) == ("done", 8)
    stored = datasets(capsys)[("AAPL", "1m")]
    assert (stored["bars"], stored["missing"]) == (expected_minutes(EIGHT_DAYS), 0)


def read_until(stream, text: str) -> str:
    """The first line of `stream` that contains `text` ("" if the stream ends first)."""
    for line in stream:
        if text in line:
            return line.rstrip("\n")
    return ""


def test_with_no_gateway_load_says_it_waits_and_ctrl_c_ends_it(tmp_path, data_dir) -> None:
    port = closed_port()
    gateway = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "ktrdr_tui", *load_argv("AAPL", source="ib"), "--gateway", gateway],
        env=child_env(tmp_path / "home", data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(60, process.kill)  # a hang fails the test instead of the suite
    guard.start()
    try:
        line = read_until(process.stderr, "waiting for gateway")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        guard.cancel()
        process.kill()
    # The app's row says the same; the reason follows.
    assert line.startswith(f"waiting for gateway at 127.0.0.1:{port}, retry in 1 s: no IB Gateway")
    assert process.returncode == 130, err
    assert "Traceback" not in err and out == ""
    assert files_under(data_dir) == []


def test_a_second_load_of_a_dataset_loading_in_another_process_is_refused(
    capsys, tmp_path, data_dir
) -> None:
    env = child_env(tmp_path / "home", data_dir)
    process = slow_load(env)
    try:
        journal = wait_for_journal(data_dir, process, 1)
        code, out, err = run(capsys, *load_argv("AAPL", days=FOUR_DAYS))
        assert process.poll() is None  # still loading
    finally:
        process.kill()
        process.communicate()
    assert code == 1 and out == ""
    (line,) = ktrdr_lines(err)
    assert line == (
        f"ktrdr-tui: AAPL 1m is already being loaded by job {journal['job_id']} (process "
        f"{process.pid}): wait for it or cancel it"
    )
    assert len(list((data_dir / "jobs").glob("*.json"))) == 1  # no second job


# -- import ---------------------------------------------------------------------------------------


def write_csv(path: Path, days: tuple[str, str]) -> int:
    """Synthetic 1m bars of the sessions in `days` as CSV, with two bad rows; returns the number
    of good rows."""
    start, end = pd.Timestamp(days[0], tz="UTC"), pd.Timestamp(days[1], tz="UTC")
    bars = SyntheticMarket(CALENDAR, 1).bars("AAPL", 60, start, end + pd.Timedelta(days=1))
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(bars.start, unit="s", utc=True).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
        }
    )
    saturday = {"timestamp": "2024-01-06T15:00:00Z", "open": 1.0, "high": 2.0, "low": 0.5,
                "close": 1.5, "volume": 10.0}  # fmt: skip
    frame = pd.concat([frame, pd.DataFrame([saturday])], ignore_index=True)
    frame.loc[100, ["high", "low"]] = frame.loc[100, ["low", "high"]].to_numpy()  # high < low
    frame.to_csv(path, index=False)
    return len(bars) - 1


def test_import_reports_bad_rows_by_line_and_stores_the_good_ones(
    capsys, tmp_path, data_dir
) -> None:
    days = ("2024-01-02", "2024-01-04")
    csv = tmp_path / "aapl.csv"
    good = write_csv(csv, days)
    saturday_line = good + 1 + 1 + 1  # header, good rows, the corrupted row, then Saturday
    code, out, err = run(capsys, "import", str(csv), "--symbol", "AAPL", "--timeframe", "1m")
    assert code == 0, err
    assert out == ""
    assert "line 102" in err  # row 100 (0-based) sits on line 102, after the header
    assert f"line {saturday_line}" in err
    assert "2 bad rows skipped" in err
    assert f"imported {good:,} bars" in err
    stored = datasets(capsys)[("AAPL", "1m")]
    assert (stored["bars"], stored["expected"], stored["missing"]) == (
        good,
        expected_minutes(days),
        1,
    )


@pytest.mark.parametrize(
    ("symbol", "file_exists", "complaint"),
    [("AAPL", False, "missing.csv"), ("../x", True, "x")],
    ids=["missing-file", "bad-symbol"],
)
def test_import_failures_are_one_line_and_write_nothing(
    capsys, tmp_path, data_dir, symbol: str, file_exists: bool, complaint: str
) -> None:
    csv = tmp_path / "missing.csv"
    if file_exists:
        write_csv(csv, ("2024-01-02", "2024-01-02"))
    code, out, err = run(capsys, "import", str(csv), "--symbol", symbol, "--timeframe", "1m")
    assert code in ((1,) if not file_exists else (1, 2)), err
    assert out == ""
    assert len(err.splitlines()) == 1
    (line,) = ktrdr_lines(err)
    assert complaint in line
    assert files_under(data_dir) == []
    assert not (tmp_path / "x").exists()


def minute_bars_csv(path: Path, days: tuple[str, str]) -> pd.DataFrame:
    """Synthetic 1m bars of the sessions in `days` as a clean CSV (UTC, ISO 8601)."""
    start, end = pd.Timestamp(days[0], tz="UTC"), pd.Timestamp(days[1], tz="UTC")
    bars = SyntheticMarket(CALENDAR, 1).bars("AAPL", 60, start, end + pd.Timedelta(days=1))
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(bars.start, unit="s", utc=True),
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": bars.volume,
        }
    )
    frame.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    return frame


def import_argv(csv: Path, *more: str) -> list[str]:
    return ["import", str(csv), "--symbol", "AAPL", "--timeframe", "1m", *more]


def test_import_refuses_to_overwrite_different_stored_bars_unless_told(
    capsys, tmp_path, data_dir
) -> None:
    csv = tmp_path / "aapl.csv"
    minute_bars_csv(csv, ("2024-01-02", "2024-01-02"))
    assert run(capsys, *import_argv(csv))[0] == 0

    # The same bars again, and a new session: the new bars are simply added.
    more = minute_bars_csv(csv, ("2024-01-02", "2024-01-03"))
    code, _, err = run(capsys, *import_argv(csv))
    assert code == 0, err
    assert "imported 780 bars into AAPL 1m (390 new; timestamps read as from file)" in err

    # Two stored bars with other prices or volume: refused, nothing written.
    stored = parquet_files(data_dir)
    changed = more.copy()
    changed.loc[[5, 400], "close"] = changed.loc[[5, 400], "low"]
    changed.loc[7, "volume"] += 1
    changed.to_csv(csv, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    code, out, err = run(capsys, *import_argv(csv))
    assert (code, out) == (1, "")
    assert ktrdr_lines(err) == [
        "ktrdr-tui: 3 stored AAPL 1m bars differ from the file's (the first at 2024-01-02 "
        "14:35 UTC); nothing written: import with --replace to overwrite them with the file's"
    ]
    assert parquet_files(data_dir) == stored

    # --replace: the file's bars win.
    code, _, err = run(capsys, *import_argv(csv, "--replace"))
    assert code == 0, err
    assert "(0 new; 3 replaced (the first at 2024-01-02 14:35 UTC); timestamps" in err
    with_replaced = pq.read_table(data_dir / "bars" / "AAPL" / "1m").to_pandas()
    pd.testing.assert_series_equal(with_replaced["close"], changed["close"], check_names=False)


def test_import_with_the_wrong_timeframe_fails_and_writes_nothing(
    capsys, tmp_path, data_dir
) -> None:
    # Before: a 1m file imported as 5m stored every fifth bar and exited 0.
    csv = tmp_path / "aapl.csv"
    minute_bars_csv(csv, ("2024-01-02", "2024-01-03"))
    code, out, err = run(capsys, "import", str(csv), "--symbol", "AAPL", "--timeframe", "5m")
    assert (code, out) == (1, "")
    (line,) = ktrdr_lines(err)
    assert line.endswith(
        "the bars are 1 minute apart (the most common step within a session), not 5m bars: "
        "import it with --timeframe 1m"
    )
    assert files_under(data_dir) == []
