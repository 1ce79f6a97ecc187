"""The loading service: what the CLI and the app hold to start, watch, cancel and resume load
jobs. It owns the store, the journals, the shared IB connection and the shared pacing limiter,
and (with the simulated source) the in-process gateway.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from pathlib import Path

import pandas as pd

from engine.config import Config, GatewayAddress
from engine.core.cancellation import CancelToken
from engine.core.eta import EtaHistory
from engine.core.jobs import JobEvent, JobRunner, JobState
from engine.ib.adapter import IBAdapter
from engine.ib.errors import IBError
from engine.ib.pacing import PACING_MODES, REAL_PACING, PacingRules
from engine.ib.sim_gateway import GatewaySettings, SimulatedGateway
from engine.loading.connection import RetryPolicy, SharedConnection
from engine.loading.journal import JournalError, JournalStore, LoadJournal, now_iso
from engine.loading.limiter import PacingLimiter
from engine.loading.load_job import LoadFailed, LoadJob, LoadStatus
from engine.loading.planner import LoadMode
from engine.loading.request import LoadRequest
from engine.market.calendar import TradingCalendar, calendar_for
from engine.market.store import BarStore
from engine.source import SourceChoice, choose_source

SIM_PACING = "fast"  # the in-process gateway paces like IB, with windows 60 times shorter


class LoadService:
    def __init__(
        self,
        data_dir: Path,
        *,
        source: str,
        address: GatewayAddress,
        client_id: int,
        pacing: PacingRules | None,
        retry: RetryPolicy | None = None,
        calendar: TradingCalendar | None = None,
        eta_history: EtaHistory | None = None,
        max_running: int = 4,
        library: str | None = None,
    ):
        self.source = source
        self.address = address
        self.calendar = calendar or calendar_for()
        self.store = BarStore(data_dir, self.calendar)
        self.journals = JournalStore(data_dir / "jobs")
        self.limiter = PacingLimiter(pacing)
        self.retry = retry or RetryPolicy()
        self._adapter_args = (address, client_id, library)
        self._connection: SharedConnection | None = None
        self._eta_history = eta_history
        self._runner = JobRunner(max_running)
        self._runner.subscribe(self._on_event)
        self._lock = threading.Lock()
        self._jobs: dict[str, LoadJob] = {}
        self._gateway: SimulatedGateway | None = None
        self.recovered = self.journals.recover_interrupted()

    @classmethod
    def for_config(
        cls, config: Config, choice: SourceChoice | None = None, **options
    ) -> LoadService:
        """The service for the configured source; with `sim`, a simulated gateway starts on a
        free loopback port (stopped by `close`)."""
        choice = choice or choose_source(config)
        options.setdefault("eta_history", EtaHistory())  # rates of earlier loads, for the ETA
        if choice.source == "sim":
            gateway = SimulatedGateway(GatewaySettings(pacing=SIM_PACING, now=config.now))
            address = gateway.start_in_thread()
            service = cls(
                config.data_dir,
                source="sim",
                address=address,
                client_id=config.client_id,
                pacing=PACING_MODES[SIM_PACING],
                **options,
            )
            service._gateway = gateway
            return service
        return cls(
            config.data_dir,
            source="ib",
            address=choice.gateway,
            client_id=config.client_id,
            pacing=REAL_PACING,
            **options,
        )

    # -- the shared connection --------------------------------------------------------------

    def connect(self) -> None:
        """Connect now, failing at once with one line if no gateway answers: the CLI calls
        this before starting jobs, so an unreachable gateway writes nothing."""
        try:
            self._shared_connection().connect(CancelToken())
        except IBError as exc:
            raise LoadFailed(str(exc)) from None

    def _shared_connection(self) -> SharedConnection:
        with self._lock:
            if self._connection is None:
                address, client_id, library = self._adapter_args
                self._connection = SharedConnection(
                    IBAdapter(address, client_id, library=library), self.retry
                )
            return self._connection

    # -- jobs -------------------------------------------------------------------------------

    def start(self, request: LoadRequest) -> list[LoadJob]:
        """One job per symbol; they run side by side and share the pacing limiter."""
        jobs = []
        for symbol in request.symbols:
            created = now_iso()
            journal = LoadJournal(
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
            jobs.append(self._submit(journal))
        return jobs

    def resume(self, job_id: str) -> LoadJob:
        """Continue a cancelled, failed or interrupted job from its journal."""
        with self._lock:
            live = self._jobs.get(job_id)
        if live is not None and not live.journal.state.ended:
            raise LoadFailed(f"job {job_id} is {live.journal.state}: nothing to resume")
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
        journal = replace(journal, state=JobState.QUEUED, error="", updated_at=now_iso())
        return self._submit(journal)

    def _submit(self, journal: LoadJournal) -> LoadJob:
        job = LoadJob(
            journal,
            store=self.store,
            journals=self.journals,
            connection=None if journal.mode is LoadMode.LOCAL else self._shared_connection(),
            limiter=self.limiter,
            calendar=self.calendar,
            eta_history=self._eta_history,
        )
        with self._lock:
            self._jobs[job.id] = job
        job.record_state(JobState.QUEUED, None)
        self._runner.submit(
            job.run, f"{journal.symbol} {journal.timeframe}", job.progress, job_id=job.id
        )
        return job

    def _on_event(self, event: JobEvent) -> None:
        with self._lock:
            job = self._jobs.get(event.job_id)
        if job is not None:
            job.record_state(event.state, event.error)

    def cancel(self, job_id: str) -> None:
        self._runner.cancel(self._runner.get(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        return self._runner.get(job_id).wait(timeout)

    def remove(self, job_id: str) -> None:
        """Forget an ended job (its bars stay in the store)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and not job.journal.state.ended:
                raise LoadFailed(f"job {job_id} is {job.journal.state}: cancel it first")
            self._jobs.pop(job_id, None)
        self.journals.delete(job_id)

    def statuses(self, persisted: bool = True) -> list[LoadStatus]:
        """Every job this process runs plus, with `persisted`, every job a journal holds
        (read from disk: too slow for a 10 Hz poll), oldest first."""
        with self._lock:
            live = {job_id: job.status() for job_id, job in self._jobs.items()}
        if not persisted:
            return list(live.values())
        persisted_only = [journal_status(j) for j in self.journals.all() if j.job_id not in live]
        return sorted([*persisted_only, *live.values()], key=lambda s: s.job_id in live)

    def close(self, timeout: float | None = 10) -> None:
        """Stop: running jobs end as interrupted (resumable); the connection and the
        in-process gateway close."""
        self._runner.shutdown(timeout)
        if self._connection is not None:
            self._connection.adapter.close()
        if self._gateway is not None:
            self._gateway.stop()


def journal_status(journal: LoadJournal) -> LoadStatus:
    """The status of a job no process here runs: what its journal says."""
    if journal.segments:
        percent = 100.0 * journal.segments_done / len(journal.segments)
    else:
        percent = 100.0 if journal.state is JobState.DONE else 0.0
    elapsed = pd.Timestamp(journal.updated_at) - pd.Timestamp(journal.created_at)
    return LoadStatus.of(journal, percent=percent, elapsed_s=elapsed.total_seconds())
