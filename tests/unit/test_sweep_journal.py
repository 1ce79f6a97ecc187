"""A sweep's journal and its results file (`<data-dir>/jobs/sweeps/`): read back exactly, a bad
journal quarantined in one line, a torn results line dropped, and the load journals beside them
never disturbed."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from engine.core.jobs import JobState
from engine.loading.journal import JournalStore
from engine.sweep.journal import (
    METRICS,
    SweepJournal,
    SweepJournalError,
    SweepRequest,
    SweepStore,
)

REQUEST = SweepRequest(
    symbols=("AAPL", "MSFT"),
    timeframe="1m",
    start="2024-03-04",
    end="2024-03-15",
    strategies=("sma_crossover:fast=5..20/5,slow=30|50",),
    rules=(("commission", "0.005|0.01"),),
    base_rules=(("cash", "100000"),),
    strategy_files=("/somewhere/mine.py",),
    out="/tmp/results.csv",
    workers=3,
)
DEAD_PID = 2**22 + 7  # above Linux's pid_max default ceiling: no process has it


def journal(job_id: str = "abc123", **changes) -> SweepJournal:
    made = SweepJournal(job_id, REQUEST, 16, 4, "digest", (("AAPL", "f1"), ("MSFT", "f2")))
    return replace(made, **changes)


def result(index: int, sharpe: float | None = 1.5) -> dict:
    stats = dict.fromkeys(METRICS, 0.0) | {"sharpe": sharpe, "trades": 3}
    return {"index": index, "statistics": stats, "failures": [], "seconds": 0.01}


@pytest.fixture
def store(tmp_path: Path) -> SweepStore:
    return SweepStore(tmp_path / "jobs")


def test_a_journal_reads_back_as_saved(store):
    saved = store.save(journal(state=JobState.CANCELLED, error="cancelled", elapsed_s=2.5))
    assert store.load("abc123") == saved
    assert saved.request == REQUEST
    assert store.path("abc123").parent == store.directory == store.directory.parent / "sweeps"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d.pop("runs"), "no field 'runs'"),
        (lambda d: d.update(extra=1), "unknown field 'extra'"),
        (lambda d: d["request"].update(metric="luck"), "request.metric: expected one of"),
        (lambda d: d["request"].update(symbols=["../etc"]), "request.symbols: bad symbol"),
        (lambda d: d["request"].pop("timeframe"), "request: no field 'timeframe'"),
        (lambda d: d.update(state="sleeping"), "state: 'sleeping' is not a valid JobState"),
        (lambda d: d.update(pid="1"), "pid: expected a process id"),
        (lambda d: d.update(runs=-1), "runs: expected a whole number"),
        (lambda d: d.update(bars=[["AAPL"]]), "bars: expected a list of [name, text] pairs"),
        (lambda d: d.update(version=2), "not a version 1 sweep journal"),
    ],
)
def test_a_bad_journal_is_quarantined_with_one_line_naming_the_field(store, change, named):
    store.save(journal())
    data = json.loads(store.path("abc123").read_text())
    change(data)
    store.path("abc123").write_text(json.dumps(data))
    with pytest.raises(SweepJournalError) as raised:
        store.load("abc123")
    assert named in str(raised.value) and "\n" not in str(raised.value)
    assert not store.path("abc123").exists()
    [moved] = store.quarantined
    assert moved.moved_to.parent == store.directory.parent.parent / "quarantine" / "jobs" / "sweeps"
    assert store.all() == []


def test_results_are_kept_by_index_and_a_torn_last_line_is_cut_off_by_the_next_append(store):
    store.append_results("abc123", [result(0), result(3, None)])
    path = store.results_path("abc123")
    with open(path, "ab") as file:  # a crash in the middle of the next append
        file.write(json.dumps(result(5)).encode()[:30])
    torn = path.read_bytes()
    kept = store.results("abc123")
    assert sorted(kept) == [0, 3]
    assert kept[3]["statistics"]["sharpe"] is None
    # A reader never writes: the part may be another process's append in progress.
    assert path.read_bytes() == torn
    store.append_results("abc123", [result(5)])  # the runner: it cuts the crash's part first
    assert sorted(store.results("abc123")) == [0, 3, 5]
    assert path.read_bytes().count(b"\n") == 3


def test_reading_while_another_process_appends_loses_none_of_its_lines(store):
    store.append_results("abc123", [result(0)])
    path = store.results_path("abc123")
    line = (json.dumps(result(1)) + "\n").encode()
    with open(path, "ab") as writer:
        writer.write(line[:20])  # half of an append the other process is making
        writer.flush()
        assert sorted(store.results("abc123")) == [0]
        writer.write(line[20:])
    assert sorted(store.results("abc123")) == [0, 1]


def test_an_unreadable_results_line_is_skipped_and_its_backtest_counts_as_not_run(store):
    store.append_results("abc123", [result(0)])
    with open(store.results_path("abc123"), "ab") as file:
        file.write(b'{"index": 1, "statistics": {"sharpe": "high"}}\n[1, 2]\nnot json\n')
    store.append_results("abc123", [result(2), result(2, 9.0)])  # a repeat: the first stays
    kept = store.results("abc123")
    assert sorted(kept) == [0, 2]
    assert kept[2]["statistics"]["sharpe"] == 1.5


def test_a_sweep_left_running_by_a_dead_process_becomes_resumable(store):
    store.save(journal(state=JobState.RUNNING, pid=DEAD_PID))
    store.save(journal("live1", state=JobState.RUNNING, pid=os.getppid()))
    states = {j.job_id: j.state for j in store.all()}
    assert states == {"abc123": JobState.INTERRUPTED, "live1": JobState.RUNNING}
    assert store.load("abc123").state.resumable


def test_the_load_journals_beside_never_see_a_sweeps_files(store, tmp_path):
    store.save(journal())
    store.append_results("abc123", [result(0)])
    loads = JournalStore(tmp_path / "jobs")
    assert loads.all() == []
    assert loads.quarantined == []
    assert store.path("abc123").exists() and store.results_path("abc123").exists()
