"""A sweep as a job: planned from its request (the grids expanded, the bars read once), run on
an executor, each result kept as it comes, its state in its journal (engine/core/jobs.py: the
runner writes it through `record_state`), so that a cancelled, failed or interrupted sweep is
resumed from the results it has: `resume` plans it again and runs only the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

import pandas as pd

from engine.core.cancellation import CancelToken
from engine.core.eta import EtaEstimator, EtaHistory
from engine.core.jobs import JobState
from engine.core.progress import ProgressTracker, Stage
from engine.market.calendar import TradingCalendar
from engine.market.store import BarStore
from engine.market.timeframes import check_readable
from engine.session.bars import SessionBars
from engine.session.request import BacktestInputError, backtest_request, read_market
from engine.strategy.catalog import Catalog
from engine.sweep.executors import Executor
from engine.sweep.grid import (
    Candidate,
    GridError,
    StrategyGrid,
    expand,
    parse_grid,
    parse_rule_values,
    refusal,
)
from engine.sweep.journal import SweepJournal, SweepRequest, SweepStore
from engine.sweep.run import task_of
from engine.sweep.shared import fingerprint
from engine.trading_rules import RuleError, TradingRules

log = logging.getLogger(__name__)

STARTING, RUNNING = "start workers", "backtests"
_STAGES = (Stage(STARTING, weight=0.0), Stage(RUNNING))
_BATCHES_PER_WORKER = 8  # enough batches to even out the workers' ends
# Backtests per batch at most: results come back (and are kept) often, and a cancel waits
# for the batches running (a year of 1m bars takes ~30 ms a backtest).
_MAX_BATCH = 16
# Results are written as they come (a process that dies loses none) and reach the disk at
# least this often and at the end of a run: an fsync per result costs more than some
# backtests, and a crash of the machine loses at most these seconds of them (they run again).
_SYNC_EVERY_S = 0.5


class SweepInputError(ValueError):
    """A sweep that cannot be planned; one line. `usage` is False when the input is well
    formed but the store lacks what it names (a failure, not a usage error)."""

    def __init__(self, message: str, usage: bool = True):
        super().__init__(message)
        self.usage = usage


class SweepFailed(Exception):
    """A backtest of the sweep raised (not a strategy: the session itself); one line."""


@dataclass(frozen=True)
class SweepPlan:
    """The backtests of a sweep: every symbol times every candidate, symbol by symbol."""

    symbols: tuple[str, ...]
    timeframe: str
    first: pd.Timestamp  # the first session date
    last: pd.Timestamp
    grids: tuple[StrategyGrid, ...]
    candidates: tuple[Candidate, ...]
    refused: int  # candidates refused (each would have run on every symbol)
    bars: tuple[SessionBars, ...]  # one per symbol, in order
    missing: tuple[tuple[pd.Timestamp, ...], ...]  # per symbol: sessions without bars

    @property
    def runs(self) -> int:
        return len(self.symbols) * len(self.candidates)

    @property
    def skipped(self) -> int:
        return len(self.symbols) * self.refused

    def backtest(self, index: int) -> tuple[str, Candidate]:
        symbol, candidate = divmod(index, len(self.candidates))
        return self.symbols[symbol], self.candidates[candidate]

    def task(self, index: int) -> dict[str, object]:
        return task_of(index, *self.backtest(index))

    @cached_property
    def digest(self) -> str:
        """The same for the same backtests: what `resume` checks before it goes on."""
        tasks = json.dumps([self.task(i) for i in range(self.runs)]).encode()
        return hashlib.sha256(tasks).hexdigest()

    @cached_property
    def bar_digests(self) -> tuple[tuple[str, str], ...]:
        return tuple((b.symbol, fingerprint(b)) for b in self.bars)

    @property
    def bars_per_run(self) -> int:
        """Bars a backtest of the plan goes through, on average: the ETA's unit."""
        return sum(len(b) for b in self.bars) // max(len(self.bars), 1)


def plan_sweep(
    request: SweepRequest,
    store: BarStore,
    calendar: TradingCalendar,
    catalog: Catalog,
    base_rules: TradingRules | None = None,
) -> SweepPlan:
    """The sweep `request` asks for, checked, its bars read from the store (each symbol's
    once, as `backtest` reads them). SweepInputError says what is wrong, in one line."""
    timeframe = request.timeframe
    grids = []
    for text in request.strategies:
        try:
            grid = parse_grid(text, catalog)
        except GridError as exc:
            raise SweepInputError(str(exc)) from None
        for own in grid.timeframes:
            for wanted in (own or timeframe, *grid.strategy.timeframes):
                check_readable(wanted, timeframe, grid.name, SweepInputError)
        if grid.strategy.history is not None:  # the workers get bars, not the store
            raise SweepInputError(
                f"{grid.name} reads the historical context, which sweeps do not provide yet "
                "(run it with backtest or in the app)"
            )
        grids.append(grid)
    rule_values = {}
    for option, text in request.rules:
        try:
            values = parse_rule_values(option, text)
            for value in values:
                TradingRules.from_text({option: value}, base_rules)
        except RuleError as exc:
            raise SweepInputError(exc.flag) from None
        except GridError as exc:
            raise SweepInputError(str(exc)) from None
        rule_values[option] = values
    try:
        expansion = expand(
            grids, rule_values, lambda texts: TradingRules.from_text(dict(texts), base_rules)
        )
    except GridError as exc:
        raise SweepInputError(str(exc)) from None
    if not expansion.candidates:
        reasons = (refusal(spec) for grid in grids for spec in grid.candidates())
        reason = next((r for r in reasons if r), "the trading rules do not go together")
        raise SweepInputError(f"every combination is refused ({reason})")
    first = [spec.label for spec in expansion.candidates[0].specs]
    symbols, bars, missing = [], [], []
    for symbol in request.symbols:
        try:
            asked = backtest_request(
                store,
                calendar,
                [symbol],
                timeframe,
                request.start,
                request.end,
                first,
                allow_gaps=request.allow_gaps,
                catalog=catalog,
            )
            (read,) = read_market(store, calendar, asked)
        except BacktestInputError as exc:
            raise SweepInputError(str(exc), exc.usage) from None
        if read.symbol in symbols:
            raise SweepInputError(f"{read.symbol} is given twice")
        symbols.append(read.symbol)
        bars.append(read)
        missing.append(asked.missing.get(read.symbol, ()))
        first_day, last_day = asked.first, asked.last
    return SweepPlan(
        tuple(symbols),
        timeframe,
        first_day,
        last_day,
        tuple(grids),
        expansion.candidates,
        expansion.refused,
        tuple(bars),
        tuple(missing),
    )


def new_journal(request: SweepRequest, plan: SweepPlan, store: SweepStore) -> SweepJournal:
    """The journal of a new sweep, saved (state queued)."""
    job_id = uuid.uuid4().hex[:12]
    while store.exists(job_id) or (store.directory.parent / f"{job_id}.json").exists():
        job_id = uuid.uuid4().hex[:12]  # an id of its own among sweeps and loads
    journal = SweepJournal(job_id, request, plan.runs, plan.skipped, plan.digest, plan.bar_digests)
    return store.save(journal)


def check_resumable(journal: SweepJournal, plan: SweepPlan) -> None:
    """SweepInputError (a failure) if `plan` is not the one the journal's results belong to."""
    if plan.digest != journal.plan:
        raise SweepInputError(
            f"sweep {journal.job_id} no longer plans the same backtests (a strategy or its "
            "defaults changed); start a new sweep",
            usage=False,
        )
    changed = [
        s for (s, d), (_, now) in zip(journal.bars, plan.bar_digests, strict=True) if d != now
    ]
    if changed:
        raise SweepInputError(
            f"the stored {changed[0]} bars changed since sweep {journal.job_id} started; "
            "start a new sweep",
            usage=False,
        )


@dataclass(frozen=True)
class SweepStatus:
    """What the CLI and the Jobs pane show about a sweep, read in one go."""

    job_id: str
    symbols: tuple[str, ...]
    timeframe: str
    state: JobState
    stage: str
    runs: int
    done: int
    skipped: int
    percent: float
    rate: float | None  # backtests per second in this run; None until there is one
    eta_s: float | None
    elapsed_s: float  # running time over every run of the job
    executor: str
    workers: int | None
    error: str
    strategies: tuple[str, ...]  # the GRID texts, as given
    start: str  # the range, as given
    end: str

    @property
    def resumable(self) -> bool:
        return self.state.resumable

    def to_json(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "kind": "sweep",
            "symbols": list(self.symbols),
            "timeframe": self.timeframe,
            "state": str(self.state),
            "runs": self.runs,
            "done": self.done,
            "skipped": self.skipped,
            "percent": round(self.percent, 2),
            "executor": self.executor,
            "workers": self.workers,
            "elapsed_s": round(self.elapsed_s, 3),
            "error": self.error,
        }


def journal_status(journal: SweepJournal, done: int) -> SweepStatus:
    """The status of a sweep no process here runs, `done` of its backtests kept."""
    request = journal.request
    return SweepStatus(
        journal.job_id,
        request.symbols,
        request.timeframe,
        journal.state,
        "",
        journal.runs,
        done,
        journal.skipped,
        100.0 if journal.state is JobState.DONE else 100.0 * done / max(journal.runs, 1),
        None,
        None,
        journal.elapsed_s,
        request.executor,
        request.workers,
        journal.error,
        request.strategies,
        request.start,
        request.end,
    )


def task_batches(plan: SweepPlan, todo: list[int], workers: int) -> Iterator[str]:
    """The tasks of the backtests `todo`, in batches (JSON text each) sized to keep `workers`
    busy to the end while each result comes back soon."""
    size = max(1, min(_MAX_BATCH, len(todo) // (workers * _BATCHES_PER_WORKER)))
    for start in range(0, len(todo), size):
        yield json.dumps([plan.task(i) for i in todo[start : start + size]])


class SweepJob:
    """One run of a sweep: the backtests its results lack, on `executor`. The runner calls
    `run` on its thread and keeps the state through `record_state` (the journal)."""

    def __init__(
        self,
        store: SweepStore,
        journal: SweepJournal,
        plan: SweepPlan,
        executor: Executor,
        setup: str,
        history: EtaHistory | None = None,
    ):
        self.store = store
        self.plan = plan
        self.executor = executor
        self._setup = setup
        self._journal = journal
        self._lock = threading.Lock()
        self.results: dict[int, dict] = store.results(journal.job_id)  # kept so far
        self.ran = 0  # backtests run by this process
        self.progress = ProgressTracker(_STAGES)
        self._eta = EtaEstimator("sweep bars", history)  # units: bars through backtests
        self._running_since: float | None = None
        self._ran_for = 0.0  # seconds this process ran it
        self._synced_at = 0.0  # when the results file last reached the disk (monotonic)
        self._unsynced = False  # results written since

    @property
    def id(self) -> str:
        return self._journal.job_id

    @property
    def journal(self) -> SweepJournal:
        return self._journal

    # -- the state record ---------------------------------------------------------------

    @property
    def state(self) -> JobState:
        return self._journal.state

    def record_state(self, state: JobState, error: str | None) -> None:
        with self._lock:
            journal = self._journal
            elapsed = journal.elapsed_s
            now = time.monotonic()
            if self._running_since is not None and state is not JobState.CANCELLING:
                self._ran_for += now - self._running_since
                elapsed += now - self._running_since
                self._running_since = None
            if state is JobState.RUNNING:
                self._running_since = now
            journal = replace(
                journal, state=state, error=error or "", elapsed_s=elapsed, pid=os.getpid()
            )
            try:
                journal = self.store.save(journal)
            except OSError as exc:  # the state stays here; the file says the last one it could
                log.error("cannot save the journal of sweep %s: %s", journal.job_id, exc)
            self._journal = journal

    # -- the work -----------------------------------------------------------------------

    def run(self, token: CancelToken) -> None:
        todo = [i for i in range(self.plan.runs) if i not in self.results]
        self.progress.start_stage(STARTING, detail=f"{self.executor.name} executor")
        self._synced_at = time.monotonic()
        try:
            self.executor.start(self._setup)  # (the CLI starts it before it plans)
            self.executor.open(self.plan.bars)
            self.progress.start_stage(RUNNING, total=self.plan.runs)
            self._count()
            batches = task_batches(self.plan, todo, self.executor.workers)
            for answer in self.executor.run(batches, token):
                self._keep(json.loads(answer))
        finally:
            self.executor.close()
            if self._unsynced:  # durable before the journal says how the run ended
                self.store.sync_results(self.id)
                self._unsynced = False

    def _keep(self, results: list[dict]) -> None:
        kept = [result for result in results if "error" not in result]
        if kept:
            now = time.monotonic()
            durable = now - self._synced_at >= _SYNC_EVERY_S
            self.store.append_results(self.id, kept, durable)
            self._unsynced = not durable
            if durable:
                self._synced_at = now
        with self._lock:
            for result in kept:
                self.results[result["index"]] = result
            self.ran += len(kept)
        self._count()
        failed = next((result for result in results if "error" in result), None)
        if failed is not None:
            symbol, candidate = self.plan.backtest(failed["index"])
            specs = " ".join(spec.label for spec in candidate.specs)
            raise SweepFailed(f"the backtest of {symbol} {specs} failed: {failed['error']}")

    def kept(self) -> dict[int, dict]:
        """The results kept so far, by backtest index: a copy, safe to read on another thread
        while the job runs."""
        with self._lock:
            return dict(self.results)

    def _count(self) -> None:
        done = len(self.results)
        self.progress.set_items(done, detail=f"{done:,}/{self.plan.runs:,} backtests")

    # -- what the front ends show -------------------------------------------------------

    def _running_now(self) -> float:
        since = self._running_since
        return time.monotonic() - since if since is not None else 0.0

    def status(self) -> SweepStatus:
        snapshot = self.progress.snapshot()
        with self._lock:
            journal = self._journal
            done = len(self.results)
            seconds = self._ran_for + self._running_now()
            elapsed = journal.elapsed_s + self._running_now()
        rate = self.ran / seconds if self.ran and seconds > 0 else None
        eta = None
        if journal.state is JobState.RUNNING and snapshot.stage == RUNNING:
            unit = self.plan.bars_per_run
            eta = self._eta.update(done * unit, self.plan.runs * unit).seconds
        base = journal_status(journal, done)
        return replace(
            base,
            stage=snapshot.stage,
            rate=rate,
            eta_s=eta,
            elapsed_s=elapsed,
            workers=self.executor.workers,
        )

    def finish(self) -> None:
        """Record this run's rate for the next sweep's ETA."""
        self._eta.finish()
