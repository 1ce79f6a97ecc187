"""The sweeps of a front end that stays up (the app): start one from a request, watch it,
cancel, resume and remove it, read its results and open one of its backtests as a session.

Its jobs run on its own job runner as the CLI runs its one (engine/core/jobs.py), one at a time
(each takes the workers it is given: by default every core), their state in their journals.
Every call that plans a sweep reads its bars: call it from a worker thread, never from a UI's
event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from engine.config import Config
from engine.core.eta import EtaHistory
from engine.core.jobs import JobListener, JobRunner, JobState
from engine.core.stamps import folder_stamp
from engine.market.calendar import TradingCalendar
from engine.market.store import BarStore
from engine.session.playback import PlaybackSession
from engine.session.request import BacktestRequest, backtest_request, open_session
from engine.strategy.catalog import Catalog, CatalogError, load_catalog
from engine.sweep.executors import make_executor, worker_setup
from engine.sweep.job import (
    SweepInputError,
    SweepJob,
    SweepPlan,
    SweepStatus,
    check_resumable,
    journal_status,
    new_journal,
    plan_sweep,
)
from engine.sweep.journal import SweepJournal, SweepRequest, SweepStore, base_rules
from engine.sweep.report import result_rows
from engine.trading_rules import TradingRules


class SweepRefused(RuntimeError):
    """What cannot be done to a sweep now (it runs, it is done, it is not there): one line."""


@dataclass(frozen=True)
class SweepResults:
    """A sweep's results so far: `rows` as `report.result_rows` makes them (plan order)."""

    journal: SweepJournal
    plan: SweepPlan
    rows: tuple[dict, ...]


class SweepService:
    """The sweeps of this process and those the journals in `<data-dir>/jobs/sweeps/` hold.
    `bars` is the front end's one BarStore of the data dir; the trading rules a request's
    texts change are `config.trading` (config.toml's), unless the request names its own."""

    def __init__(
        self,
        config: Config,
        calendar: TradingCalendar,
        bars: BarStore,
        eta_history: EtaHistory | None = None,
        max_running: int = 1,
    ):
        self.config = config
        self.calendar = calendar
        self.bars = bars
        self.store = SweepStore(Path(config.data_dir) / "jobs")
        self._eta_history = eta_history
        self._runner = JobRunner(max_running)
        self._lock = threading.Lock()
        self._jobs: dict[str, SweepJob] = {}
        # Ids a resume or remove works on: a fast double `r` must not start two jobs on one
        # journal (as LoadService does).
        self._reserved: set[str] = set()
        self._elsewhere = False  # a sweep of another process was active at the last read

    # -- starting, stopping -------------------------------------------------------------------

    def start(self, request: SweepRequest) -> SweepJob:
        """Plan `request` (its bars are read: slow) and queue it. SweepInputError (one line;
        `usage` False when the store lacks the bars) for a sweep that cannot be planned."""
        if not request.base_rules:
            request = replace(request, base_rules=tuple(self.config.trading.texts().items()))
        plan = self._plan(request)
        return self._submit(new_journal(request, plan, self.store), plan)

    def resume(self, job_id: str) -> SweepJob:
        """Run what a cancelled, failed or interrupted sweep has left. One that ran here goes
        on with the bars its results came from; one of an earlier run is planned again and
        must plan the same backtests on the same bars (SweepInputError otherwise)."""
        with self._reserve(job_id) as live:
            if live is not None:
                journal, plan = live.journal, live.plan
            else:
                journal, plan = self._journal(job_id), None
            if journal.state is JobState.DONE:
                raise SweepRefused(f"sweep {job_id} is done: nothing to resume")
            if not journal.state.resumable:
                where = "here" if live is not None else f"in process {journal.pid}"
                raise SweepRefused(f"sweep {job_id} is {journal.state} {where}: nothing to resume")
            if plan is None:
                plan = self._plan(journal.request)
                check_resumable(journal, plan)
            return self._submit(journal, plan)

    def cancel(self, job_id: str) -> None:
        """Stop a sweep of this process (KeyError for another's): the results so far stay."""
        self._runner.cancel(self._runner.get(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        return self._runner.get(job_id).wait(timeout)

    def remove(self, job_id: str) -> None:
        """Forget an ended sweep: its journal and its results."""
        with self._reserve(job_id) as live:
            state = live.state if live is not None else self._journal(job_id).state
            if not state.ended:
                raise SweepRefused(f"sweep {job_id} is {state}: cancel it first")
            with self._lock:
                self._jobs.pop(job_id, None)
            self.store.delete(job_id)

    def subscribe(self, listener: JobListener) -> Callable[[], None]:
        """Be told of every state change of this process's sweeps, on the job's thread, once
        its journal holds it. Returns the call that unsubscribes."""
        return self._runner.subscribe(listener)

    def close(self, timeout: float | None = 60) -> None:
        """Stop: running sweeps end as interrupted (resumable) once their batches in flight
        are back."""
        self._runner.shutdown(timeout)

    def _submit(self, journal: SweepJournal, plan: SweepPlan) -> SweepJob:
        request = journal.request
        executor = make_executor(request.executor, request.workers, request.address)
        named = [Path(path) for path in request.strategy_files]
        setup = worker_setup(self.config.strategy_files, named, base_rules(request))
        job = SweepJob(self.store, journal, plan, executor, setup, self._eta_history)
        with self._lock:
            self._jobs[job.id] = job

        def work(token) -> None:
            job.run(token)
            job.finish()  # this run's rate, for the next sweep's ETA

        # The job fails with the one line of what it raised (SweepFailed, ExecutorUnavailable).
        self._runner.submit(work, f"sweep {job.id}", job.progress, job_id=job.id, record=job)
        return job

    @contextmanager
    def _reserve(self, job_id: str) -> Iterator[SweepJob | None]:
        """Hold `job_id` for one resume or remove; yields the job this process runs under that
        id, if any."""
        with self._lock:
            if job_id in self._reserved:
                raise SweepRefused(f"sweep {job_id} is being resumed or removed already")
            self._reserved.add(job_id)
            live = self._jobs.get(job_id)
        try:
            yield live
        finally:
            with self._lock:
                self._reserved.discard(job_id)

    # -- what the front end shows -------------------------------------------------------------

    def statuses(self, persisted: bool = True) -> list[SweepStatus]:
        """The sweeps of this process (in memory: cheap) and, with `persisted`, first those
        only a journal holds (read from disk with their results: slow), oldest first."""
        with self._lock:
            live = list(self._jobs.values())
        running = [job.status() for job in live]
        return [*self.stored_statuses(), *running] if persisted else running

    def stored_statuses(self) -> list[SweepStatus]:
        """The sweeps only a journal holds (of earlier runs, of other processes), oldest
        first: read from disk with their results (slow)."""
        with self._lock:
            running = set(self._jobs)
        stored = [
            journal_status(journal, len(self.store.results(journal.job_id)))
            for journal in self.store.all(running)
        ]
        self._elsewhere = any(not status.state.ended for status in stored)
        return stored

    def journals_stamp(self) -> int | None:
        """Changes whenever a sweep journal is written, removed or added, and on every call
        while a sweep of another process was running at the last read (its results grow in
        a file whose writes the folder's time does not show)."""
        if self._elsewhere:
            return time.time_ns()
        return folder_stamp(self.store.directory)

    def results(self, job_id: str) -> SweepResults:
        """A sweep's results so far, as rows. One that ran here gives its plan; another is
        planned again (its bars are read) and must still plan the same backtests."""
        with self._lock:
            live = self._jobs.get(job_id)
        if live is not None:
            return SweepResults(live.journal, live.plan, tuple(result_rows(live.plan, live.kept())))
        journal = self._journal(job_id)
        plan = self._plan(journal.request)
        if plan.digest != journal.plan:
            raise SweepRefused(
                f"sweep {job_id} no longer plans the same backtests (a strategy or its "
                "defaults changed): its results cannot be matched to their parameters"
            )
        return SweepResults(journal, plan, tuple(result_rows(plan, self.store.results(job_id))))

    def open_backtest(
        self, results: SweepResults, row: Mapping, speed: float = 0.0
    ) -> tuple[PlaybackSession, BacktestRequest]:
        """The backtest of one row as a session (set up, not started), made as `backtest`
        and the app's open-session dialog make one: the request checked against the store,
        its bars read, the row's rule texts over the sweep's base rules."""
        request = results.journal.request
        asked = backtest_request(
            self.bars,
            self.calendar,
            [row["symbol"]],
            request.timeframe,
            request.start,
            request.end,
            list(row["strategies"]),
            speed,
            allow_gaps=request.allow_gaps,
            catalog=self._catalog(request),
        )
        rules = TradingRules.from_text(dict(row["rules"]), base_rules(request))
        return open_session(self.bars, self.calendar, asked, rules), asked

    # -- helpers ------------------------------------------------------------------------------

    def _journal(self, job_id: str) -> SweepJournal:
        """The journal of a sweep this process does not run, marked interrupted if the
        process that ran it died."""
        with self._lock:
            running = set(self._jobs)
        journal = next((j for j in self.store.all(running) if j.job_id == job_id), None)
        if journal is None:
            raise SweepRefused(f"no sweep {job_id!r} in {self.store.directory}")
        return journal

    def _catalog(self, request: SweepRequest) -> Catalog:
        try:
            return load_catalog(
                self.config.strategy_files, [Path(p) for p in request.strategy_files]
            )
        except CatalogError as exc:
            raise SweepInputError(str(exc)) from None

    def _plan(self, request: SweepRequest) -> SweepPlan:
        return plan_sweep(
            request, self.bars, self.calendar, self._catalog(request), base_rules(request)
        )
