"""Parameter sweeps against their peers, on the same bars and the same grid, in one run.

    python -m bench.bench_sweep [--years N] [--skip-peers]

Bars: a year (default) of deterministic 1m AAPL bars (~97,000) from the simulated gateway's
generator, in memory. Grid: the SMA crossover, fast 5..20/5 x slow 30..70/10 = 20 backtests,
every crossover traded (confidence gate 0, as the peers trade), 100 shares, long only, no costs.
Prints, for each: backtests per second, bar-evaluations per second (backtests x bars / s):

  1. this sweep (`engine.sweep`, the local executor) with 1 worker and with one per core:
     "cold" as `ktrdr-tui sweep` runs it once its modules are imported (its worker server
     started first, the workers started and loading the strategies while the bars are read
     and the grid planned, a journal, the bars put in shared memory, every result kept),
     the median of 3 fresh processes (bench/sweep_cold.py); and "warm" on workers already
     started; and the scaling from 1 worker to all;
  2. backtesting.py's `Backtest.optimize` over the same grid (its own process pool), once;
  3. vectorbt's one-call grid (moving averages of every window at once, their crossings, one
     `Portfolio.from_signals` over all 20 columns, Sharpe and return of each), warm (its numba
     functions compiled by a first call): median of 3. On a tz-naive index: with a tz-aware one
     vectorbt converts timestamps one by one and is several times slower.
Goals: at least 50x backtesting.py's backtests per second; faster than vectorbt (both judged on
the cold sweep with every worker). The peers are not dependencies: `pip install backtesting
vectorbt` (the `bench` extra) to include them.

Measured on a 2-core machine, quiet (other work on it moves every figure by a fifth or more):
cold 141-144 backtests/s with 2 workers (94-95 with 1), warm 258-313 with 2 (160-166 with 1);
backtesting.py 2.4-2.7/s (7.5-8.2 s), so 53-59x cold, 105-117x warm: met; vectorbt 42/s, so
3.4x cold, 6-7.5x warm: met. A cold sweep of these 20 takes ~0.14 s: ~50 ms to load the
strategies, read and check the bars, plan and write the journal and share the bars (the
workers starting meanwhile), then ~5.5 ms a backtest on each worker (~15 ms the first, a fresh
process's memory), then the workers stopped. The CLI's worker server starts as the command's
own imports do and is up about when they are; the child here also generates and stores its
bars meanwhile (~0.3 s), so its server is up a little earlier than the CLI's can be.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import minute_bars, peer_frame, verdict
from engine.core.cancellation import CancelToken
from engine.core.jobs import JobState
from engine.market.calendar import calendar_for
from engine.market.schema import bars_frame
from engine.market.store import BarStore
from engine.session.bars import SessionBars
from engine.strategy.catalog import load_catalog
from engine.sweep.executors import LocalExecutor, worker_setup
from engine.sweep.grid import expand, parse_grid
from engine.sweep.job import SweepJob, SweepPlan, new_journal, plan_sweep, task_batches
from engine.sweep.journal import SweepRequest, SweepStore

FASTS, SLOWS = range(5, 21, 5), range(30, 71, 10)
PAIRS = [(fast, slow) for fast in FASTS for slow in SLOWS]  # vectorbt's columns, in order
GRID = "sma_crossover:fast=5..20/5,slow=30..70/10"
RULE_TEXTS = (("min_confidence", "0"),)  # every crossover traded, as the peers trade
SHARES = 100
CASH = 100_000
RUNS = 3
BACKTESTING_GOAL = 50


@dataclass(frozen=True)
class Rate:
    backtests: int
    seconds: float
    bars: int

    @property
    def per_s(self) -> float:
        return self.backtests / self.seconds

    def line(self, name: str) -> str:
        return (
            f"  {name:<34} {self.per_s:>9,.1f} backtests/s  "
            f"{self.per_s * self.bars:>14,.0f} bar-evaluations/s  ({self.seconds:.2f} s)"
        )


# -- 1. this sweep ----------------------------------------------------------------------------


def plan_of(bars: SessionBars) -> SweepPlan:
    expansion = expand([parse_grid(GRID)], {o: (t,) for o, t in RULE_TEXTS})
    days = (bars.sessions[0].date, bars.sessions[-1].date)
    return SweepPlan(
        (bars.symbol,),
        bars.timeframe,
        *days,
        (parse_grid(GRID),),
        expansion.candidates,
        expansion.refused,
        (bars,),
        ((),),
    )


def store_bars(bars: SessionBars, data_dir: Path) -> None:
    frame = bars_frame(
        pd.DatetimeIndex(bars.timestamps, tz="UTC"),
        {name: getattr(bars, name) for name in ("open", "high", "low", "close", "volume")},
    )
    BarStore(data_dir, calendar_for()).merge(bars.symbol, bars.timeframe, frame)


def cold(bars: SessionBars, workers: int, data_dir: Path) -> dict[int, dict]:
    """What `ktrdr-tui sweep` does once its modules are imported and its worker server started
    (`main` starts it first, as the CLI does before it imports the engine): the workers
    started (they load the strategies) while the bars are read from the store and the grid
    expanded, a journal, the bars shared (the parent running backtests until a worker is up),
    every result kept, the workers stopped. Run in a fresh process (`cold_in_child`)."""
    setup = worker_setup()
    executor = LocalExecutor(workers)
    executor.start(setup)
    first, last = (f"{bars.sessions[i].date:%Y-%m-%d}" for i in (0, -1))
    request = SweepRequest((bars.symbol,), bars.timeframe, first, last, (GRID,), RULE_TEXTS)
    plan = plan_sweep(request, BarStore(data_dir, calendar_for()), calendar_for(), load_catalog())
    store = SweepStore(data_dir / "jobs")
    journal = new_journal(request, plan, store)
    job = SweepJob(store, journal, plan, executor, setup)
    job.record_state(JobState.RUNNING, None)
    job.run(CancelToken())
    job.record_state(JobState.DONE, None)
    assert len(job.results) == plan.runs
    return job.results


def cold_child(years: int, workers: int) -> None:
    """One cold sweep, timed from after its bars are stored (bench/sweep_cold.py runs it)."""
    bars = minute_bars(years)
    with tempfile.TemporaryDirectory() as folder:
        store_bars(bars, Path(folder))
        calendar_for()  # the CLI has it before it plans, as it checks the dates
        started = time.perf_counter()
        results = cold(bars, workers, Path(folder))
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "bars": len(bars), "results": results}))


def cold_in_child(years: int, workers: int) -> tuple[Rate, dict[int, dict]]:
    """The median of RUNS cold sweeps, each in a fresh process."""
    script = str(Path(__file__).with_name("sweep_cold.py"))
    runs = []
    for _ in range(RUNS):
        argv = [sys.executable, script, str(years), str(workers)]
        result = subprocess.run(argv, capture_output=True, text=True, check=True)
        runs.append(json.loads(result.stdout))
    figures = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    results = {int(i): r for i, r in figures["results"].items()}
    return Rate(len(results), figures["seconds"], figures["bars"]), results


def warm(plan: SweepPlan, workers: int) -> Rate:
    """The same backtests on workers already started (median of RUNS)."""
    executor = LocalExecutor(workers)
    executor.start(worker_setup())
    executor.open(plan.bars)
    try:
        todo = list(range(plan.runs))
        while executor.ready < workers:  # the parent stands in until every worker is up
            for _ in executor.run(task_batches(plan, todo, workers), CancelToken()):
                pass
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            done = sum(
                len(json.loads(answer))
                for answer in executor.run(task_batches(plan, todo, workers), CancelToken())
            )
            times.append(time.perf_counter() - started)
            assert done == plan.runs
    finally:
        executor.close()
    return Rate(plan.runs, statistics.median(times), len(plan.bars[0]))


# -- 2. backtesting.py ------------------------------------------------------------------------


def backtesting_optimize(frame: pd.DataFrame) -> tuple[Rate, tuple[int, int]]:
    os.environ.setdefault("TQDM_DISABLE", "1")  # its progress bars, on stderr, in the figures
    from backtesting import Backtest

    from bench.backtesting_sma import SmaCross

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backtest = Backtest(frame, SmaCross, cash=CASH, commission=0.0)
        started = time.perf_counter()
        stats = backtest.optimize(fast=list(FASTS), slow=list(SLOWS), maximize="Sharpe Ratio")
        seconds = time.perf_counter() - started
    best = (stats._strategy.fast, stats._strategy.slow)
    return Rate(len(FASTS) * len(SLOWS), seconds, len(frame)), best


# -- 3. vectorbt ------------------------------------------------------------------------------


def vectorbt_grid(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Every pair's signals at once, filled at the next bar's open; Sharpe and return each."""
    import vectorbt as vbt

    close, open_ = frame["Close"], frame["Open"]
    fast = vbt.MA.run(close, window=[f for f, _ in PAIRS], short_name="fast")
    slow = vbt.MA.run(close, window=[s for _, s in PAIRS], short_name="slow")
    entries = fast.ma_crossed_above(slow.ma.values)
    exits = fast.ma_crossed_below(slow.ma.values)
    portfolio = vbt.Portfolio.from_signals(
        close,
        entries.shift(1, fill_value=False),  # a signal at a bar's close fills at the next open
        exits.shift(1, fill_value=False),
        price=open_,
        size=SHARES,
        init_cash=CASH,
        freq="1min",
    )
    return portfolio.sharpe_ratio(), portfolio.total_return()


def vectorbt_rate(frame: pd.DataFrame) -> tuple[Rate, tuple[int, int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vectorbt_grid(frame)  # compiles its numba functions
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            sharpe, _ = vectorbt_grid(frame)
            times.append(time.perf_counter() - started)
    return Rate(len(sharpe), statistics.median(times), len(frame)), PAIRS[np.nanargmax(sharpe)]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# -- main -------------------------------------------------------------------------------------


def best_of(plan: SweepPlan, results: dict[int, dict]) -> tuple[int, int]:
    index = max(results, key=lambda i: results[i]["statistics"]["sharpe"] or -np.inf)
    params = dict(plan.backtest(index)[1].specs[0].params)
    return params["fast"], params["slow"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=1, help="years of 1m bars (default 1)")
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    bars = minute_bars(args.years)
    plan = plan_of(bars)
    cores = os.cpu_count() or 1
    print(f"{len(bars):,} 1m bars, {plan.runs} backtests ({GRID}), {cores} cores\n")
    print("1. this sweep (local executor)")
    rates = {}
    for workers in sorted({1, cores}):
        rates["cold", workers], results = cold_in_child(args.years, workers)
        print(rates["cold", workers].line(f"cold, {workers} worker(s)"))
        rates["warm", workers] = warm(plan, workers)
        print(rates["warm", workers].line(f"warm, {workers} worker(s)"))
    ours_best = best_of(plan, results)
    for kind in ("cold", "warm"):
        scaling = rates[kind, cores].per_s / rates[kind, 1].per_s
        print(f"  scaling 1 -> {cores} workers ({kind}): {scaling:.2f}x")
    print(f"  best Sharpe: fast={ours_best[0]}, slow={ours_best[1]}")
    ours = rates["cold", cores]
    if args.skip_peers:
        return
    frame = peer_frame(bars)
    print("\n2. backtesting.py optimize (its process pool)")
    if installed("backtesting"):
        peer, best = backtesting_optimize(frame)
        print(peer.line("optimize"))
        print(f"  best Sharpe: fast={best[0]}, slow={best[1]}")
        ratio, warm_ratio = ours.per_s / peer.per_s, rates["warm", cores].per_s / peer.per_s
        print(
            f"  goal: the sweep >= {BACKTESTING_GOAL}x its backtests/s: {ratio:,.1f}x "
            f"({verdict(ratio >= BACKTESTING_GOAL)}; warm {warm_ratio:,.1f}x)"
        )
    else:
        print("  not installed (pip install backtesting)")
    print("\n3. vectorbt one-call grid, warm")
    if installed("vectorbt"):
        peer, best = vectorbt_rate(frame)
        print(peer.line("one call, 20 columns"))
        print(f"  best Sharpe: fast={best[0]}, slow={best[1]}")
        ratio, warm_ratio = ours.per_s / peer.per_s, rates["warm", cores].per_s / peer.per_s
        print(
            f"  goal: the sweep faster than vectorbt: {ratio:.2f}x "
            f"({verdict(ratio > 1)}; warm {warm_ratio:.2f}x)"
        )
    else:
        print("  not installed (pip install vectorbt)")


if __name__ == "__main__":
    main()
