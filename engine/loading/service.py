"""The loading service: what the CLI and the app hold to start, watch, cancel and resume load
jobs. It owns the store, the journals, the bar source (`engine.loading.bar_source`) with its
shared connection, and the shared pacing limiter.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pandas as pd

from engine.config import Config
from engine.core.cancellation import CancelToken
from engine.core.eta import EtaHistory
from engine.core.jobs import JobEvent, JobListener, JobRunner, JobState, merge_statuses
from engine.core.processes import pid_alive
from engine.core.stamps import folder_stamp, settled
from engine.loading.bar_source import BarSource, open_source
from engine.loading.connection import GatewayStatus, RetryPolicy, SharedConnection
from engine.loading.journal import JournalError, JournalStore, LoadJournal, now_iso
from engine.loading.limiter import PacingLimiter
from engine.loading.load_job import LoadFailed, LoadJob, LoadStatus
from engine.loading.locks import DatasetBusy, DatasetLock, lock_dataset
from engine.loading.planner import LoadMode
from engine.loading.request import LoadRequest
from engine.market.calendar import TradingCalendar, calendar_for
from engine.market.store import BarStore
from engine.source import SourceChoice, choose_source

log = logging.getLogger(__name__)


class LoadService:
    def __init__(
        self,
        data_dir: Path,
        *,
        source: BarSource,  # closed by `close`
        retry: RetryPolicy | None = None,
        calendar: TradingCalendar | None = None,
        eta_history: EtaHistory | None = None,
        max_running: int = 4,
        clock: Callable[[], float] = time.monotonic,  # for countdowns and rates
        store: BarStore | None = None,  # the app's one store of `data_dir`, if it has one
    ):
        self.bar_source = source
        self.source = source.name  # what the journals of its jobs say they loaded from
        self.calendar = calendar or calendar_for()
        self.store = store if store is not None else BarStore(data_dir, self.calendar)
        self.journals = JournalStore(data_dir / "jobs")
        self._locks_dir = data_dir / "locks"
        self.limiter = PacingLimiter(source.pacing)
        self.retry = retry or RetryPolicy()
        self._connection: SharedConnection | None = None
        self._clock = clock
        self._closing = CancelToken()  # stops the background connection keeper
        self._keeper: threading.Thread | None = None
        self._eta_history = eta_history
        self._runner = JobRunner(max_running)
        self._runner.subscribe(self._on_event)
        self._lock = threading.Lock()
        self._jobs: dict[str, LoadJob] = {}
        # Ids a `resume` or `remove` works on, taken under `_lock` before either reads or
        # deletes the journal: a fast double `r` must not start two jobs on one journal.
        self._reserved: set[str] = set()
        self._held: dict[str, DatasetLock] = {}  # by job id, until the job ends
        # Journals as last read, by job id, with their file's (mtime, size) once settled.
        self._journals_read: dict[str, tuple[tuple[int, int] | None, LoadJournal]] = {}
        self.recovered = self.journals.recover_interrupted()

    @classmethod
    def for_config(
        cls, config: Config, choice: SourceChoice | None = None, **options
    ) -> LoadService:
        """The service for the configured source, opened by name (`bar_source.SOURCES`); the
        `sim` source starts a simulated gateway on a free loopback port (stopped by `close`)."""
        choice = choice or choose_source(config)
        options.setdefault("eta_history", EtaHistory())  # rates of earlier loads, for the ETA
        source = open_source(choice.source, config, address=choice.gateway)
        try:
            return cls(config.data_dir, source=source, **options)
        except BaseException:
            source.close()  # the simulated gateway it may have started, the client's thread
            raise

    # -- the shared connection --------------------------------------------------------------

    def connect(self) -> None:
        """Connect now, failing at once with one line if no gateway answers (a benchmark
        times the load without the connect). Jobs connect by themselves, waiting for the
        gateway as long as it takes."""
        connection = self._shared_connection()
        try:
            connection.connect(CancelToken())
        except Exception as exc:
            if connection.source.recovery(exc) is None:
                raise
            raise LoadFailed(str(exc)) from None

    def keep_connected(self) -> None:
        """Connect in the background and reconnect whenever the connection drops, until
        `close`: the app calls this so that its header shows the gateway's state (and why it
        cannot connect) before any job needs the gateway."""
        if self._keeper is None:
            self._keeper = threading.Thread(
                target=self._shared_connection().keep_alive,
                args=(self._closing,),
                name="ktrdr-gateway",
                daemon=True,
            )
            self._keeper.start()

    def gateway_status(self) -> GatewayStatus | None:
        """The source's connection state; None until something has used it."""
        connection = self._connection
        return None if connection is None else connection.status()

    def _shared_connection(self) -> SharedConnection:
        with self._lock:
            if self._connection is None:
                self._connection = SharedConnection(self.bar_source, self.retry, self._clock)
            return self._connection

    # -- jobs -------------------------------------------------------------------------------

    def start(self, request: LoadRequest) -> list[LoadJob]:
        """One job per symbol; they run side by side and share the pacing limiter. A symbol
        already loading in this timeframe (here or in another process) refuses the whole
        request, before anything starts."""
        created = now_iso()
        journals = [
            LoadJournal(
                job_id=uuid.uuid4().hex[:12],
                symbol=symbol,
                timeframe=request.timeframe,
                mode=request.mode,
                start=request.start,
                end=request.end,
                source=self.source,
                state=JobState.QUEUED,
                created_at=created,
                updated_at=created,
            )
            for symbol in request.symbols
        ]
        locks: list[DatasetLock | None] = []
        try:
            for journal in journals:
                locks.append(self._lock_dataset(journal))
        except LoadFailed:
            for lock in locks:
                if lock is not None:
                    lock.release()
            raise
        return [self._submit(j, lock) for j, lock in zip(journals, locks, strict=True)]

    def resume(self, job_id: str) -> LoadJob:
        """Continue a cancelled, failed or interrupted job from its journal."""
        with self._reserve(job_id) as live:
            if live is not None and not live.journal.state.ended:
                raise LoadFailed(f"job {job_id} is {live.journal.state}: nothing to resume")
            return self._resume(job_id)

    def _resume(self, job_id: str) -> LoadJob:
        try:
            journal = self.journals.load(job_id)
        except JournalError as exc:
            raise LoadFailed(str(exc)) from None
        if journal.state is JobState.DONE:
            raise LoadFailed(f"job {job_id} is done: nothing to resume")
        if not journal.state.resumable:
            raise LoadFailed(
                f"job {job_id} is {journal.state} in process {journal.pid}: it cannot be "
                "resumed while that process works on it"
            )
        if journal.source != self.source:
            raise LoadFailed(
                f"job {job_id} loaded from the {journal.source} source; resume it with "
                f"--source {journal.source}"
            )
        # This process works on it now: another one's `jobs` must not take it for a job
        # whose process died.
        journal = replace(
            journal, state=JobState.QUEUED, error="", updated_at=now_iso(), pid=os.getpid()
        )
        return self._submit(journal, self._lock_dataset(journal))

    def _lock_dataset(self, journal: LoadJournal) -> DatasetLock | None:
        """The dataset's lock for the job; none for a local report, which writes no bars."""
        if journal.mode is LoadMode.LOCAL:
            return None
        try:
            return lock_dataset(self._locks_dir, journal.symbol, journal.timeframe, journal.job_id)
        except DatasetBusy as exc:
            raise LoadFailed(str(exc)) from None

    def _submit(self, journal: LoadJournal, lock: DatasetLock | None) -> LoadJob:
        job = LoadJob(
            journal,
            store=self.store,
            journals=self.journals,
            connection=None if journal.mode is LoadMode.LOCAL else self._shared_connection(),
            limiter=self.limiter,
            calendar=self.calendar,
            eta_history=self._eta_history,
            clock=self._clock,
        )
        with self._lock:
            self._jobs[job.id] = job
            if lock is not None:
                self._held[job.id] = lock
        try:
            self._runner.submit(
                job.run,
                f"{journal.symbol} {journal.timeframe}",
                job.progress,
                job_id=job.id,
                record=job,  # the job's state lives in its journal, and only there
            )
        except RuntimeError:  # the service is closing
            self._release(job.id)
            raise
        return job

    def _on_event(self, event: JobEvent) -> None:
        # The runner wrote the end into the journal before this event: the dataset's next
        # holder reads it ended.
        if event.state.ended:
            self._release(event.job_id)

    def _release(self, job_id: str) -> None:
        with self._lock:
            lock = self._held.pop(job_id, None)
        if lock is not None:
            lock.release()

    def cancel(self, job_id: str) -> None:
        self._runner.cancel(self._runner.get(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        return self._runner.get(job_id).wait(timeout)

    def remove(self, job_id: str) -> None:
        """Forget an ended job (its bars stay in the store)."""
        with self._reserve(job_id) as job:
            if job is not None and not job.journal.state.ended:
                raise LoadFailed(f"job {job_id} is {job.journal.state}: cancel it first")
            with self._lock:
                self._jobs.pop(job_id, None)
            self.journals.delete(job_id)

    @contextmanager
    def _reserve(self, job_id: str) -> Iterator[LoadJob | None]:
        """Hold `job_id` for one resume or remove (refusing a second meanwhile); yields the
        job this process runs under that id, if any."""
        with self._lock:
            if job_id in self._reserved:
                raise LoadFailed(f"job {job_id} is being resumed or removed already")
            self._reserved.add(job_id)
            live = self._jobs.get(job_id)
        try:
            yield live
        finally:
            with self._lock:
                self._reserved.discard(job_id)

    def subscribe(self, listener: JobListener) -> Callable[[], None]:
        """Be told of every state change of this process's jobs, on the job's thread, once
        the job's journal holds it. Returns the call that unsubscribes."""
        return self._runner.subscribe(listener)

    def journals_stamp(self) -> int | None:
        """Changes whenever a journal is written, removed or added (by any process); None
        while there is no folder (`engine.core.stamps.folder_stamp`)."""
        return folder_stamp(self.journals.directory)

    def statuses(self, persisted: bool = True) -> list[LoadStatus]:
        """Every job this process runs plus, with `persisted`, every job a journal holds
        (read from disk: too slow for a 10 Hz poll), oldest first."""
        with self._lock:
            live = {job_id: job.status() for job_id, job in self._jobs.items()}
        if not persisted:
            return list(live.values())
        persisted_only = [journal_status(j) for j in self._journals_not_running_here(live)]
        return merge_statuses(persisted_only, live.values())

    def _journals_not_running_here(self, live: Container[str]) -> list[LoadJournal]:
        """The journals of the jobs this process does not run, oldest first. A file is read
        again only once it changed: the Jobs pane asks each time the folder changes, every
        second while a load (here or in another process) writes its journal."""
        directory = self.journals.directory
        read: dict[str, tuple[tuple[int, int] | None, LoadJournal]] = {}
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else ():
            if path.stem in live:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed meanwhile
                continue
            version = (stat.st_mtime_ns, stat.st_size) if settled(stat.st_mtime_ns) else None
            known = self._journals_read.get(path.stem)
            if known is None or version is None or known[0] != version:
                try:
                    known = (version, self.journals.load(path.stem))
                except JournalError as exc:  # quarantined; the message says where
                    log.warning("%s", exc)
                    continue
            journal = known[1]
            if (
                not journal.state.ended
                and journal.pid != os.getpid()
                and not pid_alive(journal.pid)
            ):
                # Another process's job whose process was killed: resumable from now on, as
                # after a restart (a job of this process is in `live` or not begun).
                known = (None, self.journals.mark_interrupted(journal))
            read[path.stem] = known
        self._journals_read = read
        return sorted((journal for _, journal in read.values()), key=lambda j: j.created_at)

    def close(self, timeout: float | None = 10) -> None:
        """Stop: running jobs end as interrupted (resumable); the source closes (and with it
        an in-process gateway)."""
        self._closing.cancel("the load service is closing")
        self._runner.shutdown(timeout)
        if self._keeper is not None:
            self._keeper.join(timeout)
        self.bar_source.close()


def journal_status(journal: LoadJournal) -> LoadStatus:
    """The status of a job no process here runs: what its journal says."""
    elapsed = pd.Timestamp(journal.updated_at) - pd.Timestamp(journal.created_at)
    # Still active: another process (the app, another terminal) works on it.
    detail = None if journal.state.ended else f"loading in process {journal.pid}"
    return LoadStatus.of(journal, detail=detail, elapsed_s=elapsed.total_seconds())
