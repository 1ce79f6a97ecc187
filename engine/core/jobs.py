"""Jobs on worker threads: a state machine, events on every change, and a bound on how many
run at once. Loads and backtests are submitted here; the app and the CLI only listen.

A job's state lives in one place, its `StateRecord`: the runner reads it there and writes it
there (through `record_state`) before it announces the change, so whoever reads the record (a
load's journal, the Jobs pane through it) never disagrees with the runner."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from engine.core.cancellation import CancelToken, OperationCancelled
from engine.core.errors import first_line
from engine.core.progress import ProgressTracker

log = logging.getLogger(__name__)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"
    FAILED = "failed"
    DONE = "done"
    INTERRUPTED = "interrupted"  # the process stopped (or died) while it was queued or running

    @property
    def ended(self) -> bool:
        return self in _ENDED

    @property
    def resumable(self) -> bool:
        return JobState.QUEUED in _TRANSITIONS[self]

    def can_become(self, new: JobState) -> bool:
        return new in _TRANSITIONS[self]


_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.INTERRUPTED}),
    JobState.RUNNING: frozenset(
        {
            JobState.CANCELLING,
            JobState.CANCELLED,
            JobState.FAILED,
            JobState.DONE,
            JobState.INTERRUPTED,
        }
    ),
    JobState.CANCELLING: frozenset(
        {JobState.CANCELLED, JobState.FAILED, JobState.DONE, JobState.INTERRUPTED}
    ),
    JobState.CANCELLED: frozenset({JobState.QUEUED}),
    JobState.FAILED: frozenset({JobState.QUEUED}),
    JobState.INTERRUPTED: frozenset({JobState.QUEUED}),
    JobState.DONE: frozenset(),
}
_ENDED = frozenset({JobState.CANCELLED, JobState.FAILED, JobState.DONE, JobState.INTERRUPTED})


class InvalidTransition(RuntimeError):
    pass


@dataclass(frozen=True)
class JobEvent:
    job_id: str
    name: str
    state: JobState
    previous: JobState
    error: str | None


JobWork = Callable[[CancelToken], object]
JobListener = Callable[[JobEvent], None]


class JobStatus(Protocol):
    """What the front ends list of a job (a load's status, a sweep's)."""

    @property
    def job_id(self) -> str: ...


S = TypeVar("S", bound=JobStatus)


def merge_statuses(stored: Iterable[S], live: Iterable[S]) -> list[S]:
    """The jobs journals hold and the jobs this process runs, one row each: a live status wins
    over its journal's; the stored ones first, each part in its own order."""
    running = {status.job_id: status for status in live}
    return [*(s for s in stored if s.job_id not in running), *running.values()]


class StateRecord(Protocol):
    """Where a job's state lives (a load keeps it in its journal). Only the runner writes it,
    under its lock; `record_state` must keep the state even where it cannot persist it."""

    @property
    def state(self) -> JobState: ...

    def record_state(self, state: JobState, error: str | None) -> None: ...


class _HeldState:
    """The record of a job whose state lives nowhere else."""

    def __init__(self) -> None:
        self.state = JobState.QUEUED

    def record_state(self, state: JobState, error: str | None) -> None:
        self.state = state


class Job:
    """A handle on submitted work. Read it from any thread; change it through the runner."""

    def __init__(
        self,
        job_id: str,
        name: str,
        work: JobWork,
        progress: ProgressTracker | None,
        record: StateRecord | None = None,
    ):
        self.id = job_id
        self.name = name
        self.progress = progress
        self._work = work
        self._record: StateRecord = record if record is not None else _HeldState()
        self._error: str | None = None
        self._result: object = None
        self._token = CancelToken()
        self._stop_as = JobState.CANCELLED  # what a stop through the token ends as
        self._ended = threading.Event()

    @property
    def state(self) -> JobState:
        return self._record.state

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def result(self) -> object:
        return self._result

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends; True if it did within `timeout`."""
        return self._ended.wait(timeout)

    def __repr__(self) -> str:
        return f"Job({self.id!r}, {self.name!r}, {self.state.value})"


class JobRunner:
    def __init__(self, max_running: int = 2):
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._listeners: list[JobListener] = []
        self._executor = ThreadPoolExecutor(max_running, thread_name_prefix="ktrdr-job")
        self._closed = False

    def subscribe(self, listener: JobListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def get(self, job_id: str) -> Job:
        with self._lock:
            return self._jobs[job_id]

    def submit(
        self,
        work: JobWork,
        name: str,
        progress: ProgressTracker | None = None,
        job_id: str | None = None,
        record: StateRecord | None = None,
    ) -> Job:
        """Queue `work`; its state is kept in `record` (in the job itself without one)."""
        job = Job(job_id or uuid.uuid4().hex[:12], name, work, progress, record)
        with self._lock:
            if self._closed:
                raise RuntimeError("the job runner is shut down")
            if job.id in self._jobs and not self._jobs[job.id].state.ended:
                raise ValueError(f"job {job.id} is still active")
            # A record may hold an ended state (a journal read back to resume): it starts
            # queued, announced to no one (nothing changed that a listener saw).
            job._record.record_state(JobState.QUEUED, None)
            self._jobs[job.id] = job
            # Under the lock, so that a shutdown cannot slip in between.
            self._executor.submit(self._run, job)
        return job

    def resume(self, job: Job, work: JobWork | None = None) -> None:
        """Queue an ended job again (cancelled, failed or interrupted), with a fresh token."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the job runner is shut down")
            if not job.state.resumable:
                raise InvalidTransition(f"job {job.id} is {job.state}: it cannot be resumed")
            job._token = CancelToken()
            job._stop_as = JobState.CANCELLED
            job._ended.clear()
            job._error = None
            if work is not None:
                job._work = work
            event = self._set_state(job, JobState.QUEUED, None)
            self._executor.submit(self._run, job)
        assert event is not None
        self._announce(job, event)

    def cancel(self, job: Job) -> None:
        self._stop(job, JobState.CANCELLED, "cancelled by the user")

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop everything: queued and running jobs end as interrupted (and stay resumable)."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            self._stop(job, JobState.INTERRUPTED, "interrupted: the app is shutting down")
        for job in jobs:
            job.wait(timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _stop(self, job: Job, end_state: JobState, reason: str) -> None:
        with self._lock:
            if job.state.ended:
                return
            job._stop_as = end_state
        if self._transition(job, end_state, only_from=JobState.QUEUED):
            return
        if end_state is JobState.CANCELLED:
            self._transition(job, JobState.CANCELLING, only_from=JobState.RUNNING)
        job._token.cancel(reason)

    def _run(self, job: Job) -> None:
        if not self._transition(job, JobState.RUNNING, only_from=JobState.QUEUED):
            return  # cancelled or interrupted while it waited in the queue
        try:
            job._result = job._work(job._token)
        except OperationCancelled as exc:
            if not job._token.cancelled:  # another token's cancel: a bug, not a user's cancel
                job._error = f"cancelled by an unrelated token: {exc}"
                self._transition(job, JobState.FAILED)
                return
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.name)
            if not job._token.cancelled:
                job._error = first_line(exc)
                self._transition(job, JobState.FAILED)
                return
        if job._token.cancelled:
            self._transition(job, job._stop_as)
        else:
            self._transition(job, JobState.DONE)

    def _transition(self, job: Job, new: JobState, *, only_from: JobState | None = None) -> bool:
        with self._lock:
            event = self._set_state(job, new, only_from)
        if event is None:
            return False
        self._announce(job, event)
        return True

    def _set_state(self, job: Job, new: JobState, only_from: JobState | None) -> JobEvent | None:
        """Change the state in the job's record; the caller holds the lock and announces the
        returned event. (The record may write a file: a few writes per job, under the lock so
        that no transition of the job slips between the check and the write.)"""
        previous = job.state
        if only_from is not None and previous is not only_from:
            return None
        if not previous.can_become(new):
            raise InvalidTransition(f"job {job.id}: {previous} -> {new}")
        job._record.record_state(new, job._error)
        return JobEvent(job.id, job.name, new, previous, job._error)

    def _announce(self, job: Job, event: JobEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("job listener %r failed", listener)
        if event.state.ended:
            # After the listeners: whoever waits for the end has seen every event by then.
            job._ended.set()
