"""Sweeps on stored bars (DESIGN.md, "Sweeps"): every result equals a single backtest, on the
local executor and on a Dask cluster; a cancelled sweep resumes with only what is left and ends
as an uninterrupted one; the bars reach the workers whole."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from engine.core.cancellation import CancelToken
from engine.core.jobs import JobState
from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.session.request import backtest_request, open_session
from engine.strategy import HistoryNeeds, Strategy
from engine.strategy.catalog import Catalog, CatalogEntry, builtin_catalog, load_catalog
from engine.sweep.executors import DaskExecutor, LocalExecutor, worker_output_file, worker_setup
from engine.sweep.job import (
    RUNNING,
    SweepFailed,
    SweepInputError,
    SweepJob,
    SweepPlan,
    check_resumable,
    new_journal,
    plan_sweep,
)
from engine.sweep.journal import SweepRequest, SweepStore
from engine.sweep.report import csv_text, ranked, result_rows
from engine.sweep.shared import MappedBars, SharedBars, fingerprint, pack, unpack
from engine.trading_rules import TradingRules
from tests.support.bar_fixtures import FIRST, LAST, store_bars
from tests.support.cli_run import run
from tests.support.plugins import EXAMPLES

CALENDAR = calendar_for()
GRIDS = ("sma_crossover:fast=5|10,slow=20|40", "rsi:period=10|14,oversold=30|25")
RULES = (("commission", "0|0.005"), ("min_confidence", "0"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("sweep") / "data"
    store_bars(data)
    return data


def request(strategies=GRIDS, rules=RULES, **changes) -> SweepRequest:
    fields = dict(
        symbols=("aapl",),
        timeframe="1m",
        start=FIRST,
        end=LAST,
        strategies=strategies,
        rules=rules,
    )
    return SweepRequest(**(fields | changes))


def plan(data_dir: Path, asked: SweepRequest, catalog=None) -> SweepPlan:
    store = BarStore(data_dir, CALENDAR)
    return plan_sweep(asked, store, CALENDAR, catalog or load_catalog())


def run_job(
    data_dir: Path, asked: SweepRequest, executor, setup: str | None = None, token=None
) -> SweepJob:
    """A sweep run to its end (or `token`'s cancel), its state kept as the runner keeps it."""
    planned = plan(data_dir, asked)
    store = SweepStore(data_dir / "jobs")
    job = SweepJob(
        store, new_journal(asked, planned, store), planned, executor, setup or worker_setup()
    )
    job.record_state(JobState.RUNNING, None)
    job.run(token or CancelToken())
    job.record_state(JobState.CANCELLED if token and token.cancelled else JobState.DONE, None)
    return job


@pytest.fixture(scope="module")
def uninterrupted(data_dir) -> SweepJob:
    return run_job(data_dir, request(), LocalExecutor(2))


def single_backtest(data_dir: Path, planned: SweepPlan, index: int) -> dict:
    """The statistics `backtest` reports for one backtest of the plan: its session played at
    speed 0 on the bars read as `backtest` reads them."""
    symbol, candidate = planned.backtest(index)
    store = BarStore(data_dir, CALENDAR)
    labels = [spec.label for spec in candidate.specs]
    asked = backtest_request(store, CALENDAR, [symbol], "1m", FIRST, LAST, labels)
    session = open_session(store, CALENDAR, asked, TradingRules.from_text(dict(candidate.rules)))
    session.start(playing=True)
    session.wait()
    try:
        return session.results().statistics.to_json()
    finally:
        session.stop()


def test_bars_reach_a_worker_as_one_buffer_equal_and_read_only(data_dir):
    bars = plan(data_dir, request()).bars[0]
    layout, buffer = pack(bars)
    json.dumps(layout)  # plain data: what crosses besides the bytes
    # The digest a journal keeps is of the packed bytes, however it is computed.
    digest = hashlib.blake2b(buffer.tobytes(), digest_size=16).hexdigest()
    assert fingerprint(bars) == layout["fingerprint"] == digest
    shared = SharedBars(bars)
    try:
        mapped = MappedBars(json.loads(json.dumps(shared.layout)))
        for back in (unpack(layout, buffer), mapped.bars):
            assert back.sessions == bars.sessions
            assert (back.symbol, back.timeframe, back.ignored) == ("AAPL", "1m", bars.ignored)
            for name in ("timestamps", "open", "high", "low", "close", "volume", "session", "end"):
                column = getattr(back, name)
                assert np.array_equal(column, getattr(bars, name)), name
                assert column.dtype == getattr(bars, name).dtype
                assert not column.flags.writeable
        del back, column, mapped  # the views go before the block is unmapped
    finally:
        shared.close()


def test_every_result_equals_a_single_backtest_with_the_same_parameters(
    data_dir, uninterrupted, capsys
):
    planned = uninterrupted.plan
    assert planned.runs == len(uninterrupted.results) == 2 * 2 * 2 * 2 * 2  # fast x slow x ...
    assert uninterrupted.journal.state is JobState.DONE
    for index, result in uninterrupted.results.items():
        assert result["statistics"] == single_backtest(data_dir, planned, index), index
        assert result["failures"] == []
    # And through the CLI, for two of them: `backtest --json` carries every statistic.
    for index in (0, planned.runs - 1):
        _, candidate = planned.backtest(index)
        flags = [f"--{option.replace('_', '-')}={text}" for option, text in candidate.rules]
        specs = [arg for spec in candidate.specs for arg in ("--strategy", spec.label)]
        code, out, err = run(
            capsys,
            "backtest", "AAPL", "--timeframe", "1m", "--start", FIRST, "--end", LAST,
            *specs, *flags, "--data-dir", str(data_dir), "--json",
        )  # fmt: skip
        assert code == 0, err
        report = json.loads(out)
        statistics = uninterrupted.results[index]["statistics"]
        assert {name: report[name] for name in statistics} == statistics


def test_the_dask_executor_on_a_local_cluster_gives_the_same_results(data_dir, uninterrupted):
    pytest.importorskip("distributed")
    job = run_job(data_dir, request(), DaskExecutor(workers=2, processes=False))
    assert job.executor.workers == 2
    assert job.results.keys() == uninterrupted.results.keys()
    for index, result in job.results.items():
        assert result["statistics"] == uninterrupted.results[index]["statistics"]


class Counting:
    """An executor that says which backtests it was given."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.workers = inner.name, inner.workers
        self.given: list[int] = []

    def start(self, setup):
        self.inner.start(setup)

    def open(self, bars):
        self.inner.open(bars)

    def run(self, batches, token):
        def counted():
            for batch in batches:
                self.given += [task["index"] for task in json.loads(batch)]
                yield batch

        return self.inner.run(counted(), token)

    def close(self):
        self.inner.close()


def test_a_cancelled_sweep_resumes_with_only_the_rest_and_ends_as_an_uninterrupted_one(
    data_dir, uninterrupted
):
    token = CancelToken()
    asked = request()
    planned = plan(data_dir, asked)
    store = SweepStore(data_dir / "jobs")
    job = SweepJob(
        store, new_journal(asked, planned, store), planned, LocalExecutor(1), worker_setup()
    )
    # Cancelled as the first results are kept: later batches are never taken.
    job.progress.subscribe(
        lambda snapshot: (
            token.cancel() if snapshot.stage == RUNNING and snapshot.items_done else None
        )
    )
    job.record_state(JobState.RUNNING, None)
    job.run(token)
    job.record_state(JobState.CANCELLED, "cancelled by the user")
    kept = store.results(job.id)
    assert 0 < len(kept) < planned.runs
    journal = store.load(job.id)
    assert journal.state is JobState.CANCELLED and journal.state.resumable

    again = plan(data_dir, journal.request)  # as `resume` does: planned again, checked
    check_resumable(journal, again)
    executor = Counting(LocalExecutor(2))
    resumed = SweepJob(store, journal, again, executor, worker_setup())
    resumed.record_state(JobState.QUEUED, None)
    resumed.record_state(JobState.RUNNING, None)
    resumed.run(CancelToken())
    resumed.record_state(JobState.DONE, None)
    assert sorted(executor.given) == sorted(set(range(planned.runs)) - set(kept))
    final = store.results(job.id)
    assert final.keys() == uninterrupted.results.keys()
    for index, result in final.items():
        assert result["statistics"] == uninterrupted.results[index]["statistics"]
    assert store.load(job.id).state is JobState.DONE


def test_a_resume_refuses_other_backtests_or_other_bars(data_dir, tmp_path, uninterrupted):
    journal = uninterrupted.journal
    other = plan(data_dir, request(strategies=("sma_crossover:fast=5|10,slow=20|41", GRIDS[1])))
    with pytest.raises(SweepInputError, match="no longer plans the same backtests"):
        check_resumable(journal, other)
    moved = tmp_path / "moved"
    store_bars(moved, drop=slice(100, 101))  # the same range, one bar fewer
    with pytest.raises(SweepInputError, match="the stored AAPL bars changed"):
        check_resumable(journal, plan(moved, journal.request))


def test_a_backtest_that_cannot_run_fails_the_sweep_and_keeps_what_finished(data_dir):
    catalog = load_catalog(named=[EXAMPLES / "volume_breakout.py"])
    asked = request(strategies=("volume_breakout:lookback=5|10",), rules=())
    planned = plan(data_dir, asked, catalog)
    store = SweepStore(data_dir / "jobs")
    # The workers are not told of the strategy file: they cannot build the strategy.
    job = SweepJob(
        store, new_journal(asked, planned, store), planned, LocalExecutor(1), worker_setup()
    )
    with pytest.raises(SweepFailed) as raised:
        job.run(CancelToken())
    message = str(raised.value)
    assert message.startswith("the backtest of AAPL volume_breakout:lookback=5,")
    assert message.endswith("failed: StrategySpecError: unknown strategy 'volume_breakout' "
                            "(choose from sma_crossover, rsi)")  # fmt: skip
    assert job.results == {}


def test_rows_rank_best_first_undefined_last_and_the_csv_holds_every_statistic(uninterrupted):
    planned, results = uninterrupted.plan, dict(uninterrupted.results)
    results[0] = json.loads(json.dumps(results[0]))
    results[0]["statistics"]["sharpe"] = None  # undefined: ranked last
    rows = ranked(result_rows(planned, results), "sharpe")
    sharpes = [row["sharpe"] for row in rows]
    assert sharpes[-1] is None and sharpes[:-1] == sorted(sharpes[:-1], reverse=True)
    assert rows[-1]["params"] == {
        "sma_crossover": {"fast": 5, "slow": 20},
        "rsi": {"period": 10, "oversold": 30.0, "overbought": 70.0},
    }
    assert rows[-1]["rules"] == {"commission": "0", "min_confidence": "0"}
    durations = [
        row["max_drawdown_duration_days"] for row in ranked(rows, "max_drawdown_duration_days")
    ]
    defined = [d for d in durations if d is not None]
    assert defined == sorted(defined)  # less is better
    lines = csv_text(rows, planned).splitlines()
    header = lines[0].split(",")
    assert header[:7] == [
        "symbol", "sma_crossover.fast", "sma_crossover.slow", "rsi.period", "rsi.oversold",
        "rsi.overbought", "rules.commission",
    ]  # fmt: skip
    assert header[8:] == list(rows[0])[4:-1]  # every statistic, in DESIGN's order
    assert len(lines) == 1 + planned.runs
    assert lines[-1].split(",")[header.index("sharpe")] == ""


NOISY = '''
from engine.strategy import Strategy


class Noisy(Strategy):
    """Prints at every bar, as a user's strategy being debugged does."""

    name = "noisy"
    every: int = 1

    def on_bar(self, bars) -> None:
        print("noise from a worker", len(bars))
'''


def test_local_workers_print_to_their_log_file_not_the_terminal(data_dir, tmp_path, capfd):
    strategy = tmp_path / "noisy.py"
    strategy.write_text(NOISY, encoding="utf-8")
    asked = request(strategies=("noisy:every=1|2",), rules=())
    planned = plan(data_dir, asked, load_catalog(named=[strategy]))
    store = SweepStore(data_dir / "jobs")
    setup = worker_setup(named=[strategy])
    job = SweepJob(store, new_journal(asked, planned, store), planned, LocalExecutor(1), setup)
    job.run(CancelToken())
    assert len(job.results) == 2
    captured = capfd.readouterr()
    assert "noise from a worker" not in captured.out + captured.err
    assert "noise from a worker" in worker_output_file().read_text(encoding="utf-8")


def test_a_strategy_reading_historical_context_is_refused_before_the_sweep_starts(data_dir):
    class Context(Strategy):
        """Reads the day's context."""

        name = "context"
        history: ClassVar[HistoryNeeds] = HistoryNeeds(days=3)
        fast: int = 5

        def on_bar(self, bars) -> None:
            pass

    catalog = Catalog((*builtin_catalog().entries, CatalogEntry(Context, "test")))
    with pytest.raises(SweepInputError, match="context reads the historical context") as caught:
        plan(data_dir, request(strategies=("context:fast=5|6",)), catalog)
    assert caught.value.usage
