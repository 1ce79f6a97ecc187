"""The job runner: the state machine, events, cancellation, bounded concurrency, shutdown."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest

from engine.core.cancellation import CancelToken
from engine.core.jobs import InvalidTransition, Job, JobEvent, JobRunner, JobState

# Upper bound on waits for things that should happen promptly; never what a test measures.
SAFETY_TIMEOUT = 5.0

Q, R, CING, CED, F, D, INT = (
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.CANCELLING,
    JobState.CANCELLED,
    JobState.FAILED,
    JobState.DONE,
    JobState.INTERRUPTED,
)


class EventLog:
    """A runner listener that keeps every event and lets the test wait for one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[JobEvent] = []

    def __call__(self, event: JobEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, job: Job) -> list[JobEvent]:
        with self._cond:
            return [e for e in self.events if e.job_id == job.id]

    def states(self, job: Job) -> list[tuple[JobState, JobState]]:
        return [(e.previous, e.state) for e in self.of(job)]

    def wait_for(self, job: Job, state: JobState, count: int = 1) -> None:
        """Listeners run after `job.wait()` is released, so tests wait for the event itself."""

        def seen() -> bool:
            return sum(e.job_id == job.id and e.state is state for e in self.events) >= count

        with self._cond:
            assert self._cond.wait_for(seen, SAFETY_TIMEOUT), f"no {state} event for {job}"


@pytest.fixture
def make_runner() -> Iterator[Callable[..., JobRunner]]:
    """Runners that are always shut down, and whose worker threads are checked to be gone."""
    before = set(threading.enumerate())
    runners: list[JobRunner] = []

    def make(max_running: int = 2) -> JobRunner:
        runner = JobRunner(max_running=max_running)
        runners.append(runner)
        return runner

    yield make

    for runner in runners:
        runner.shutdown(timeout=SAFETY_TIMEOUT)
    for thread in set(threading.enumerate()) - before:
        if thread.name.startswith("ktrdr-job"):
            thread.join(SAFETY_TIMEOUT)
            assert not thread.is_alive(), f"{thread.name} leaked"


@pytest.fixture
def runner(make_runner: Callable[..., JobRunner]) -> JobRunner:
    return make_runner()


@pytest.fixture
def log(runner: JobRunner) -> EventLog:
    events = EventLog()
    runner.subscribe(events)
    return events


def block_until_cancelled(started: threading.Event) -> Callable[[CancelToken], object]:
    """Work that signals it started, then waits on its token (never on a clock)."""

    def work(token: CancelToken) -> object:
        started.set()
        token.wait(None)
        token.raise_if_cancelled()
        return "not reached"

    return work


def gated(gate: threading.Event, started: threading.Event | None = None):
    """Work that blocks until `gate` is set; a cancel or shutdown opens the gate too."""

    def work(token: CancelToken) -> object:
        token.on_cancel(gate.set)
        if started is not None:
            started.set()
        gate.wait(SAFETY_TIMEOUT)
        token.raise_if_cancelled()
        return "gate passed"

    return work


# --- outcomes -------------------------------------------------------------------------------


def test_job_runs_and_ends_done_with_its_result(runner: JobRunner, log: EventLog) -> None:
    job = runner.submit(lambda token: {"bars": 390}, name="load AAPL")
    assert job.wait(SAFETY_TIMEOUT)
    assert job.state is D
    assert job.result == {"bars": 390}
    assert job.error is None
    log.wait_for(job, D)
    assert log.states(job) == [(Q, R), (R, D)]
    assert {e.name for e in log.of(job)} == {"load AAPL"}
    assert runner.get(job.id) is job
    assert job in runner.jobs()


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (ValueError("bad symbol XYZ\n  at line 2\n  at line 3"), "bad symbol XYZ"),
        (RuntimeError("\n\n  gateway closed\nmore"), "gateway closed"),
        (KeyError(), "KeyError"),
    ],
    ids=["multi-line", "leading-blank-lines", "no-message"],
)
def test_exception_ends_failed_with_a_one_line_error(
    runner: JobRunner,
    log: EventLog,
    caplog: pytest.LogCaptureFixture,
    exc: Exception,
    error: str,
) -> None:
    def work(token: CancelToken) -> object:
        raise exc

    with caplog.at_level(logging.ERROR, logger="engine.core.jobs"):
        job = runner.submit(work, name="doomed")
        assert job.wait(SAFETY_TIMEOUT)
        log.wait_for(job, F)

    assert job.state is F
    assert job.error == error
    assert "\n" not in job.error
    assert job.result is None
    assert log.states(job) == [(Q, R), (R, F)]
    assert log.of(job)[-1].error == error
    assert any(r.exc_info is not None and r.exc_info[1] is exc for r in caplog.records)


def test_wait_times_out_while_the_job_runs(runner: JobRunner) -> None:
    gate, started = threading.Event(), threading.Event()
    job = runner.submit(gated(gate, started), name="slow")
    assert started.wait(SAFETY_TIMEOUT)
    assert job.wait(0.01) is False
    assert job.state is R
    gate.set()
    assert job.wait(SAFETY_TIMEOUT) is True
    assert (job.state, job.result) == (D, "gate passed")


# --- cancel ---------------------------------------------------------------------------------


def test_cancel_running_job_goes_through_cancelling(runner: JobRunner, log: EventLog) -> None:
    started, woken, proceed = threading.Event(), threading.Event(), threading.Event()
    seen: list[str] = []

    def work(token: CancelToken) -> object:
        started.set()
        token.wait(None)
        seen.append(token.reason)
        woken.set()
        proceed.wait(SAFETY_TIMEOUT)
        token.raise_if_cancelled()
        return "not reached"

    job = runner.submit(work, name="cancel me")
    assert started.wait(SAFETY_TIMEOUT)
    assert job.state is R

    runner.cancel(job)
    assert woken.wait(SAFETY_TIMEOUT), "cancel did not wake the work"
    # The work has seen the cancel but not yet stopped: the job is still winding down.
    assert job.state is CING
    assert job.wait(0) is False

    proceed.set()
    assert job.wait(SAFETY_TIMEOUT)
    log.wait_for(job, CED)
    assert job.state is CED
    assert job.result is None
    assert job.error is None
    assert seen == ["cancelled by the user"]
    assert log.states(job) == [(Q, R), (R, CING), (CING, CED)]


def test_work_that_swallows_the_cancel_still_ends_cancelled(runner: JobRunner) -> None:
    started = threading.Event()

    def work(token: CancelToken) -> object:
        started.set()
        token.wait(None)
        return "partial result"

    job = runner.submit(work, name="stubborn")
    assert started.wait(SAFETY_TIMEOUT)
    runner.cancel(job)
    assert job.wait(SAFETY_TIMEOUT)
    assert job.state is CED


def test_error_raised_while_stopping_ends_cancelled_not_failed(runner: JobRunner) -> None:
    started = threading.Event()

    def work(token: CancelToken) -> object:
        started.set()
        token.wait(None)
        raise ConnectionError("socket closed by the cancel")

    job = runner.submit(work, name="noisy stop")
    assert started.wait(SAFETY_TIMEOUT)
    runner.cancel(job)
    assert job.wait(SAFETY_TIMEOUT)
    assert job.state is CED
    assert job.error is None


def test_cancel_queued_job_never_runs_it(make_runner) -> None:
    runner = make_runner(max_running=1)
    events = EventLog()
    runner.subscribe(events)
    gate, started = threading.Event(), threading.Event()
    first = runner.submit(gated(gate, started), name="first")
    assert started.wait(SAFETY_TIMEOUT)

    ran: list[str] = []
    second = runner.submit(lambda token: ran.append("second"), name="second")
    assert second.state is Q
    runner.cancel(second)
    assert second.state is CED
    assert second.wait(0) is True
    assert events.states(second) == [(Q, CED)]

    gate.set()
    assert first.wait(SAFETY_TIMEOUT)
    # One worker, first in first out: once this sentinel ran, the cancelled job's turn is over.
    sentinel = runner.submit(lambda token: "sentinel", name="sentinel")
    assert sentinel.wait(SAFETY_TIMEOUT)
    assert sentinel.result == "sentinel"
    events.wait_for(sentinel, D)
    assert ran == []
    assert second.state is CED
    assert events.states(second) == [(Q, CED)]


def test_cancel_of_an_ended_job_changes_nothing(runner: JobRunner, log: EventLog) -> None:
    job = runner.submit(lambda token: 7, name="quick")
    assert job.wait(SAFETY_TIMEOUT)
    log.wait_for(job, D)
    runner.cancel(job)
    assert (job.state, job.result) == (D, 7)
    assert log.states(job) == [(Q, R), (R, D)]


# --- bounded concurrency --------------------------------------------------------------------


def test_never_more_than_max_running_at_once(make_runner) -> None:
    runner = make_runner(max_running=2)
    lock = threading.Lock()
    two_running = threading.Condition(lock)
    running = 0
    peak = 0
    release = threading.Event()

    def work(token: CancelToken) -> object:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            two_running.notify_all()
        try:
            release.wait(SAFETY_TIMEOUT)
        finally:
            with lock:
                running -= 1
        return "ok"

    jobs = [runner.submit(work, name=f"job {i}") for i in range(5)]
    with lock:
        assert two_running.wait_for(lambda: running == 2, SAFETY_TIMEOUT)
    # Both workers are blocked inside `work`, so nothing else can have started.
    states = sorted(job.state for job in jobs)
    assert states.count(R) == 2
    assert states.count(Q) == 3

    release.set()
    for job in jobs:
        assert job.wait(SAFETY_TIMEOUT)
    assert [job.state for job in jobs] == [D] * 5
    assert peak == 2
    assert running == 0


def test_max_running_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        JobRunner(max_running=0)


# --- resume ---------------------------------------------------------------------------------


def test_resume_cancelled_job_with_a_fresh_token(runner: JobRunner, log: EventLog) -> None:
    started = threading.Event()
    tokens: list[CancelToken] = []

    def work(token: CancelToken) -> object:
        tokens.append(token)
        if len(tokens) == 1:
            started.set()
            token.wait(None)
            token.raise_if_cancelled()
        return f"run {len(tokens)} cancelled={token.cancelled}"

    job = runner.submit(work, name="resumable")
    job_id = job.id
    assert started.wait(SAFETY_TIMEOUT)
    runner.cancel(job)
    assert job.wait(SAFETY_TIMEOUT)
    log.wait_for(job, CED)
    assert job.state is CED

    runner.resume(job)
    assert job.wait(SAFETY_TIMEOUT)
    log.wait_for(job, D)
    assert job.state is D
    assert job.result == "run 2 cancelled=False"
    assert job.id == job_id
    assert runner.get(job_id) is job
    assert len(tokens) == 2
    assert tokens[0] is not tokens[1]
    assert tokens[0].cancelled and not tokens[1].cancelled
    assert log.states(job) == [(Q, R), (R, CING), (CING, CED), (CED, Q), (Q, R), (R, D)]


def test_resume_failed_job_clears_the_error_and_may_take_new_work(
    runner: JobRunner, log: EventLog
) -> None:
    def broken(token: CancelToken) -> object:
        raise OSError("disk full")

    job = runner.submit(broken, name="save")
    assert job.wait(SAFETY_TIMEOUT)
    assert (job.state, job.error) == (F, "disk full")

    runner.resume(job, work=lambda token: "saved")
    assert job.wait(SAFETY_TIMEOUT)
    log.wait_for(job, D)
    assert (job.state, job.error, job.result) == (D, None, "saved")
    requeued = [e for e in log.of(job) if e.state is Q]
    assert [(e.previous, e.error) for e in requeued] == [(F, None)]


def test_resume_done_job_raises(runner: JobRunner) -> None:
    job = runner.submit(lambda token: 1, name="done")
    assert job.wait(SAFETY_TIMEOUT)
    with pytest.raises(InvalidTransition):
        runner.resume(job)
    assert (job.state, job.result) == (D, 1)


def test_resume_running_job_raises(runner: JobRunner) -> None:
    started = threading.Event()
    job = runner.submit(block_until_cancelled(started), name="busy")
    assert started.wait(SAFETY_TIMEOUT)
    with pytest.raises(InvalidTransition):
        runner.resume(job)
    assert job.state is R


def test_submit_with_an_active_job_id_is_refused(runner: JobRunner) -> None:
    started = threading.Event()
    job = runner.submit(block_until_cancelled(started), name="one", job_id="fixed")
    assert started.wait(SAFETY_TIMEOUT)
    with pytest.raises(ValueError, match="still active"):
        runner.submit(lambda token: None, name="two", job_id="fixed")
    runner.cancel(job)
    assert job.wait(SAFETY_TIMEOUT)
    again = runner.submit(lambda token: "again", name="two", job_id="fixed")
    assert again.wait(SAFETY_TIMEOUT)
    assert runner.get("fixed") is again
    assert again.result == "again"


# --- the state's one place ------------------------------------------------------------------


class Record:
    """A job's state kept outside the runner (as a load keeps it in its journal)."""

    def __init__(self, state: JobState) -> None:
        self.state = state
        self.writes: list[tuple[JobState, str | None]] = []

    def record_state(self, state: JobState, error: str | None) -> None:
        self.state = state
        self.writes.append((state, error))


def test_the_runner_keeps_a_jobs_state_in_its_record_before_it_tells_anyone(
    runner: JobRunner,
) -> None:
    # Before: the runner held the state itself and a listener copied it into the journal, so
    # the two disagreed until the listener ran (and for good when it failed).
    record = Record(F)  # read back from a failed run: the new one starts queued
    seen: list[tuple[JobState, JobState, JobState]] = []
    runner.subscribe(
        lambda event: seen.append((event.state, record.state, runner.get(event.job_id).state))
    )

    def work(token: CancelToken) -> object:
        assert (record.state, runner.get("load-1").state) == (R, R)
        raise ValueError("no bars")

    job = runner.submit(work, name="load", job_id="load-1", record=record)
    assert job.wait(SAFETY_TIMEOUT)
    assert job.state is record.state is F
    assert record.writes == [(Q, None), (R, None), (F, "no bars")]
    assert seen == [(R, R, R), (F, F, F)]  # every listener reads the record already changed


# --- shutdown -------------------------------------------------------------------------------


def test_shutdown_interrupts_running_and_queued_jobs(make_runner) -> None:
    runner = make_runner(max_running=1)
    events = EventLog()
    runner.subscribe(events)
    started = threading.Event()
    reasons: list[str] = []

    def work(token: CancelToken) -> object:
        started.set()
        token.wait(None)
        reasons.append(token.reason)
        token.raise_if_cancelled()
        return "not reached"

    running = runner.submit(work, name="running")
    assert started.wait(SAFETY_TIMEOUT)
    ran: list[str] = []
    queued = [runner.submit(lambda t, i=i: ran.append(i), name=f"queued {i}") for i in range(2)]
    assert [job.state for job in queued] == [Q, Q]

    runner.shutdown(timeout=SAFETY_TIMEOUT)

    for job in [running, *queued]:
        assert job.wait(0)
        assert job.state is INT
        assert job.state.resumable
    assert reasons == ["interrupted: the app is shutting down"]
    events.wait_for(running, INT)
    assert events.states(running) == [(Q, R), (R, INT)]
    for job in queued:
        assert events.states(job) == [(Q, INT)]
    assert ran == []

    with pytest.raises(RuntimeError, match="shut down"):
        runner.submit(lambda token: None, name="late")
    with pytest.raises(RuntimeError, match="shut down"):
        runner.resume(running)


def test_interrupted_job_can_be_submitted_again_under_its_id(make_runner) -> None:
    first = make_runner()
    started = threading.Event()
    job = first.submit(block_until_cancelled(started), name="load", job_id="load-1")
    assert started.wait(SAFETY_TIMEOUT)
    first.shutdown(timeout=SAFETY_TIMEOUT)
    assert job.state is INT and job.state.resumable

    second = make_runner()
    again = second.submit(lambda token: "resumed", name="load", job_id=job.id)
    assert again.wait(SAFETY_TIMEOUT)
    assert (again.id, again.state, again.result) == ("load-1", D, "resumed")


# --- listeners ------------------------------------------------------------------------------


def test_raising_listener_does_not_break_the_job(
    runner: JobRunner, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: JobEvent) -> None:
        raise RuntimeError("listener exploded")

    runner.subscribe(broken)
    after = EventLog()
    runner.subscribe(after)

    with caplog.at_level(logging.ERROR, logger="engine.core.jobs"):
        job = runner.submit(lambda token: "fine", name="listened")
        assert job.wait(SAFETY_TIMEOUT)
        # Listeners run in order, so once `after` has the last event `broken` has failed twice.
        after.wait_for(job, D)

    assert (job.state, job.result) == (D, "fine")
    assert after.states(job) == [(Q, R), (R, D)]
    failures = [
        r
        for r in caplog.records
        if r.exc_info is not None and "listener exploded" in str(r.exc_info[1])
    ]
    assert len(failures) == 2


def test_unsubscribed_listener_gets_no_more_events(runner: JobRunner) -> None:
    gone, kept = EventLog(), EventLog()
    unsubscribe = runner.subscribe(gone)
    runner.subscribe(kept)
    first = runner.submit(lambda token: 1, name="first")
    assert first.wait(SAFETY_TIMEOUT)
    kept.wait_for(first, D)
    unsubscribe()
    second = runner.submit(lambda token: 2, name="second")
    assert second.wait(SAFETY_TIMEOUT)
    kept.wait_for(second, D)
    assert gone.states(first) == [(Q, R), (R, D)]
    assert gone.of(second) == []


# --- the state machine ----------------------------------------------------------------------

# Written out from the documented machine, not derived from the engine's table.
ALLOWED: dict[JobState, set[JobState]] = {
    Q: {R, CED, INT},
    R: {CING, CED, F, D, INT},
    CING: {CED, F, D, INT},
    CED: {Q},
    F: {Q},
    INT: {Q},
    D: set(),
}
ENDED = {CED, F, D, INT}


def test_every_state_is_covered() -> None:
    assert set(ALLOWED) == set(JobState)


@pytest.mark.parametrize("new", list(JobState), ids=str)
@pytest.mark.parametrize("old", list(JobState), ids=str)
def test_transition_table(old: JobState, new: JobState) -> None:
    assert old.can_become(new) is (new in ALLOWED[old])


@pytest.mark.parametrize("state", list(JobState), ids=str)
def test_ended_and_resumable(state: JobState) -> None:
    assert state.ended is (state in ENDED)
    assert state.resumable is (state in {CED, F, INT})
    # Every state that has ended, except done, can go back to the queue; nothing else can.
    assert state.resumable is (state.ended and state is not D)


def test_a_listener_that_unsubscribes_itself_does_not_hide_the_event(runner: JobRunner) -> None:
    unsubscribe_once: Callable[[], None] | None = None

    def one_shot(event: JobEvent) -> None:
        assert unsubscribe_once is not None
        unsubscribe_once()

    unsubscribe_once = runner.subscribe(one_shot)
    after = EventLog()
    runner.subscribe(after)
    job = runner.submit(lambda token: None, name="watched")
    assert job.wait(SAFETY_TIMEOUT)
    after.wait_for(job, D)
    assert after.states(job) == [(Q, R), (R, D)]
