"""The local executor (engine/sweep/executors.py): until its workers are up the parent runs the
backtests itself, and stops once they are; what it runs equals what a worker runs, is kept as
it finishes, stops at a cancel and prints where the workers print; a worker that cannot start
fails the sweep in one line. And a sweep's backtest leaves no garbage for the cyclic collector,
which it pauses."""

from __future__ import annotations

import gc
import json
import platform
import subprocess
import sys
import threading
from multiprocessing.connection import Pipe, wait
from pathlib import Path
from typing import ClassVar

import pytest

import engine.sweep.executors as executors
import engine.sweep.journal as journal_module
from engine.core.cancellation import CancelToken
from engine.core.jobs import JobState
from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.session.pipeline import Pipeline
from engine.strategy import Signals, Strategy
from engine.strategy.catalog import load_catalog
from engine.strategy.spec import StrategySpec
from engine.sweep.executors import LocalExecutor, WorkerLost, worker_output_file, worker_setup
from engine.sweep.job import RUNNING, SweepJob, new_journal, plan_sweep
from engine.sweep.journal import SweepRequest, SweepStore
from engine.sweep.processes import keep_freed_memory, local_context
from engine.sweep.run import run_backtest
from engine.sweep.shared import SharedBars
from tests.support.bar_fixtures import FIRST, LAST, store_bars
from tests.support.sweeps import join_worker_starters

CALENDAR = calendar_for()
GRID = "sma_crossover:fast=5|10|15|20,slow=30|40|50"  # 12 backtests: batches of one
TALK = '''
from engine.strategy import Signals, Strategy


class Talk(Strategy):
    """Signals nothing; says so."""

    name = "talk"
    every: int = 1

    def on_chunk(self, bars, start):
        print("talk ran")
        return Signals.none()
'''


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("sweep-local") / "data"
    store_bars(data)
    return data


def new_job(data_dir: Path, executor, strategies=(GRID,), named=()) -> SweepJob:
    request = SweepRequest(("AAPL",), "1m", FIRST, LAST, strategies, (("min_confidence", "0"),))
    catalog = load_catalog(named=list(named))
    plan = plan_sweep(request, BarStore(data_dir, CALENDAR), CALENDAR, catalog)
    store = SweepStore(data_dir / "jobs")
    setup = worker_setup(named=list(named))
    return SweepJob(store, new_journal(request, plan, store), plan, executor, setup)


@pytest.fixture(scope="module")
def on_a_worker(data_dir, tmp_path_factory) -> dict[int, dict]:
    """Every backtest's result as a local worker answers it: a worker driven by hand, as the
    executor drives one."""
    plan = new_job(data_dir, LocalExecutor(1)).plan
    shared = SharedBars(plan.bars[0])
    ours, theirs = Pipe()
    output = tmp_path_factory.mktemp("worker") / "sweep-workers.log"
    worker = local_context().Process(target=executors._local_worker, args=(theirs, str(output)))
    worker.start()
    theirs.close()
    try:
        ours.send_bytes(worker_setup().encode())
        assert ours.recv_bytes() == b""  # set up
        ours.send_bytes(json.dumps([shared.layout]).encode())
        assert ours.recv_bytes() == b""  # ready
        ours.send_bytes(json.dumps([plan.task(i) for i in range(plan.runs)]).encode())
        results = {result["index"]: result for result in json.loads(ours.recv_bytes())}
    finally:
        ours.close()  # it stops
        worker.join()
        shared.close()
    assert worker.exitcode == 0
    assert output.read_text() == ""  # it stopped cleanly: its bars unmapped without a word
    return results


class HeldStarts:
    """Local workers whose start waits until the test lets them go on (the worker server
    busy importing the engine, for as long as the test needs)."""

    def __init__(self, monkeypatch):
        self.go_on = threading.Event()
        real = executors.local_context
        go_on = self.go_on

        class Held:
            def __init__(self, process):
                self.process = process

            def start(self) -> None:
                go_on.wait()
                self.process.start()

            def join(self) -> None:
                self.process.join()

        class Context:
            def Process(self, **kwargs):  # as a multiprocessing context names it
                return Held(real().Process(**kwargs))

        monkeypatch.setattr(executors, "local_context", Context)

    def release(self) -> None:
        """Let the starts go on and the starter end (its workers, told nothing, stop)."""
        self.go_on.set()
        join_worker_starters()


def parent_runs(monkeypatch, executor: LocalExecutor) -> list[tuple[int, int]]:
    """The backtests the parent runs (workers run their own copy of the module): each one's
    index and how many workers were ready then."""
    ran: list[tuple[int, int]] = []
    real = executors.run_one

    def recorded(bars, task, catalog, base):
        ran.append((task["index"], executor.ready))
        return real(bars, task, catalog, base)

    monkeypatch.setattr(executors, "run_one", recorded)
    return ran


def statistics_of(results: dict[int, dict]) -> dict[int, dict]:
    return {index: result["statistics"] for index, result in results.items()}


def test_while_no_worker_is_up_the_parent_runs_every_backtest_as_a_worker_would(
    data_dir, monkeypatch, on_a_worker
):
    held = HeldStarts(monkeypatch)
    job = new_job(data_dir, LocalExecutor(2))
    ran = parent_runs(monkeypatch, job.executor)
    try:
        job.record_state(JobState.RUNNING, None)
        job.run(CancelToken())
        job.record_state(JobState.DONE, None)
    finally:
        held.release()
    assert sorted(index for index, _ in ran) == list(range(job.plan.runs))
    assert statistics_of(job.results) == statistics_of(on_a_worker)
    assert job.store.results(job.id) == job.results  # each kept as it finished
    assert job.progress.snapshot().items_done == job.plan.runs


def test_the_parent_stands_in_only_while_a_worker_is_not_ready(data_dir, monkeypatch, on_a_worker):
    job = new_job(data_dir, LocalExecutor(2))
    ran = parent_runs(monkeypatch, job.executor)
    job.run(CancelToken())
    assert all(ready < 2 for _, ready in ran)  # each batch one backtest: none finished late
    assert job.executor.ready == 0  # closed
    assert statistics_of(job.results) == statistics_of(on_a_worker)


def test_the_parent_does_not_stand_in_for_workers_that_have_loaded_the_strategies(
    data_dir, monkeypatch, on_a_worker
):
    executor = LocalExecutor(2)
    job = new_job(data_dir, executor)
    executor.start(job._setup)  # as the CLI does, before it reads the bars
    for worker in executor._starts.workers:
        assert wait([worker.conn], timeout=60), "a worker not set up in 60 s"  # it says so
    ran = parent_runs(monkeypatch, executor)
    job.run(CancelToken())
    assert ran == []
    assert statistics_of(job.results) == statistics_of(on_a_worker)


def test_a_cancel_while_the_parent_stands_in_keeps_what_it_ran_and_the_rest_resumes(
    data_dir, monkeypatch, on_a_worker
):
    held = HeldStarts(monkeypatch)
    token = CancelToken()
    job = new_job(data_dir, LocalExecutor(1))
    ran = parent_runs(monkeypatch, job.executor)
    job.progress.subscribe(
        lambda snapshot: (
            token.cancel() if snapshot.stage == RUNNING and snapshot.items_done == 3 else None
        )
    )
    try:
        job.record_state(JobState.RUNNING, None)
        job.run(token)
        job.record_state(JobState.CANCELLED, None)
    finally:
        held.release()
    assert len(ran) == 3  # it stopped at the cancel, between two backtests
    kept = job.store.results(job.id)
    assert sorted(kept) == sorted(index for index, _ in ran)

    resumed = SweepJob(job.store, job.journal, job.plan, LocalExecutor(1), worker_setup())
    resumed.run(CancelToken())
    assert resumed.ran == job.plan.runs - 3
    assert statistics_of(job.store.results(job.id)) == statistics_of(on_a_worker)


def test_what_a_strategy_prints_in_the_parent_goes_to_the_workers_file(
    data_dir, tmp_path, monkeypatch, capfd
):
    strategy = tmp_path / "talk.py"
    strategy.write_text(TALK, encoding="utf-8")
    held = HeldStarts(monkeypatch)
    job = new_job(data_dir, LocalExecutor(1), ("talk:every=1|2",), named=[strategy])
    ran = parent_runs(monkeypatch, job.executor)
    try:
        job.run(CancelToken())
    finally:
        held.release()
    assert len(ran) == len(job.results) == 2
    captured = capfd.readouterr()
    assert "talk ran" not in captured.out + captured.err
    assert worker_output_file().read_text(encoding="utf-8").count("talk ran") == 2
    assert not isinstance(sys.stdout, executors._ThreadOutput)  # put back


def test_only_the_standing_in_thread_writes_to_the_workers_file(tmp_path, capsys):
    """While the parent runs a backtest, the progress line and the app still write where
    they did."""
    log = tmp_path / "workers.log"
    with open(log, "w", encoding="utf-8") as file, executors._output_of_this_thread_to(file):
        print("from the backtest")
        other = threading.Thread(target=print, args=("from the progress line",))
        other.start()
        other.join()
        assert sys.stdout.isatty() == sys.__stdout__.isatty()
    assert log.read_text() == "from the backtest\n"
    assert capsys.readouterr().out == "from the progress line\n"
    print("after")
    assert capsys.readouterr().out == "after\n"


def test_a_worker_that_cannot_start_fails_the_sweep_in_one_line_keeping_what_ran(
    data_dir, monkeypatch
):
    first_done = threading.Event()

    class NoProcesses:
        def Process(self, **kwargs):  # the start fails once the parent has run a backtest
            first_done.wait()
            raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(executors, "local_context", NoProcesses)
    job = new_job(data_dir, LocalExecutor(1))
    real = executors.run_one

    def then_the_start_fails(bars, task, catalog, base):
        result = real(bars, task, catalog, base)
        first_done.set()
        join_worker_starters()
        return result

    monkeypatch.setattr(executors, "run_one", then_the_start_fails)
    with pytest.raises(WorkerLost, match=r"^cannot start a local worker: Resource temporarily"):
        job.run(CancelToken())
    assert len(job.store.results(job.id)) == 1  # the parent's first backtest is kept


def test_results_are_written_as_they_come_and_reach_the_disk_by_the_end_of_the_run(
    data_dir, monkeypatch
):
    """An fsync per result would cost more than a backtest: written at once (a process that
    dies loses none), they are synced now and then and once the run is over."""
    events: list[str] = []
    real_fsync, real_append = journal_module.os.fsync, SweepStore.append_results

    def fsync(fd: int) -> None:
        events.append("sync")
        real_fsync(fd)

    def append(store, job_id, results, durable=True):
        events.append("append")
        real_append(store, job_id, results, durable)

    monkeypatch.setattr(journal_module.os, "fsync", fsync)
    monkeypatch.setattr(SweepStore, "append_results", append)
    job = new_job(data_dir, LocalExecutor(1))
    events.clear()  # the journal's own saves so far
    job.run(CancelToken())
    assert events.count("append") == len(job.store.results(job.id)) == job.plan.runs
    assert events.count("sync") < job.plan.runs
    assert events[-1] == "sync"  # after the last append


def cycles_left_by_a_backtest(data_dir: str) -> int:
    """What the cyclic collector finds after one backtest run with it paused."""
    plan = new_job(Path(data_dir), LocalExecutor(1)).plan
    _, candidate = plan.backtest(0)
    gc.collect()
    gc.disable()
    run_backtest(plan.bars[0], candidate.specs)
    assert not gc.isenabled()  # left as it was
    return gc.collect()


def test_a_backtest_leaves_no_garbage_cycles_and_the_collector_on(data_dir):
    # In a process of its own: another test's threads (a Dask cluster's loop) make garbage.
    code = (
        "from tests.integration.test_sweep_local import cycles_left_by_a_backtest as left; "
        f"print(left({str(data_dir)!r}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.split() == ["0"]  # reference counting frees it all: the pause loses nothing
    plan = new_job(data_dir, LocalExecutor(1)).plan
    run_backtest(plan.bars[0], [StrategySpec(CollectorWatch, ())])
    assert CollectorWatch.seen == [False]  # paused while the backtest ran
    assert gc.isenabled()  # and on again


class CollectorWatch(Strategy):
    """Signals nothing; notes whether the cyclic collector runs while it is called."""

    name = "collector_watch"
    seen: ClassVar[list[bool]] = []

    def on_chunk(self, bars, start):
        CollectorWatch.seen.append(gc.isenabled())
        return Signals.none()


def page_faults_of_array_churn(tuned: bool) -> int:
    """The page faults of making and dropping a backtest's kind of temporaries (columns of
    100,000 floats) 50 times, after `keep_freed_memory` or not: run in a fresh process, as a
    worker starts."""
    import resource

    import numpy as np

    if tuned:
        keep_freed_memory()
    values = np.random.default_rng(0).random(100_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        scaled = values * 100.0
        rounded = np.rint(scaled)
        total = np.cumsum(rounded) + np.abs(scaled - rounded)
        del scaled, rounded, total
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's allocator only")
def test_a_worker_keeps_the_memory_a_backtest_frees_instead_of_faulting_it_in_again():
    def faults(tuned: bool) -> int:
        code = (
            "from tests.integration.test_sweep_local import page_faults_of_array_churn as f; "
            f"print(f({tuned}))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        return int(done.stdout)

    untuned, tuned = faults(False), faults(True)
    # Untuned, each temporary is mapped afresh: 200 pages of 4 KB a column, 50 times over.
    assert untuned > 10_000
    assert tuned < untuned / 5


def test_a_backtest_run_for_its_statistics_keeps_no_signal_log_and_derives_what_it_reads(
    data_dir,
):
    """The app's session (a chart, a log), `backtest`'s (a log) and a sweep's run (neither):
    the same statistics and signals; the log kept where asked, the chart's timeframes derived
    only for the app."""
    plan = new_job(data_dir, LocalExecutor(1), strategies=("sma_crossover:timeframe=5m",)).plan
    specs = plan.candidates[0].specs
    pipelines = {}
    for chart, log in ((True, True), (False, True), (False, False)):
        pipeline = Pipeline(plan.bars[0], specs, chart=chart, log=log)
        pipeline.advance_to(pipeline.end)
        pipelines[chart, log] = pipeline
    app, backtest, sweep = pipelines[True, True], pipelines[False, True], pipelines[False, False]
    for other in (backtest, sweep):
        assert other.results().statistics == app.results().statistics
        assert (other.stats.signals, other.stats.approved) == (
            app.stats.signals,
            app.stats.approved,
        )
    assert run_backtest(plan.bars[0], specs).statistics == app.results().statistics
    assert app.stats.signals > 0 and len(app.signals) == app.stats.signals
    assert backtest.signals[:] == app.signals[:]
    assert len(sweep.signals) == 0
    assert set(backtest.markets[0].series) == set(sweep.markets[0].series) == {"1m", "5m"}
    assert set(app.markets[0].series) > {"1m", "5m", "1h"}
