"""One load job: the nine stages of KTRDR's DataManager, on the core progress tracker.

validate symbol → head timestamp → load local data → gap analysis → segmentation → fetch
segments → merge → save → complete. Each segment's bars are merged into the store before the
journal marks the segment done, so a crash loses at most the request in flight; a resumed job
takes its plan from the journal and fetches only what is not done.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import pandas as pd

from engine.core.cancellation import CancelToken, OperationCancelled
from engine.core.eta import EtaEstimator, EtaHistory
from engine.core.jobs import JobState
from engine.core.pacing import PacingWait
from engine.core.progress import ProgressTracker, Stage
from engine.core.retry import Recovery
from engine.loading.bar_source import BarSource
from engine.loading.connection import SharedConnection
from engine.loading.journal import (
    JournalStore,
    LoadJournal,
    SegmentRecord,
    SegmentStatus,
    now_iso,
)
from engine.loading.limiter import PacingLimiter
from engine.loading.planner import LoadMode, RequestLimits, Segment, plan_load
from engine.market.bar_files import bar_problems
from engine.market.calendar import Session, TradingCalendar
from engine.market.store import BarStore
from engine.market.timeframes import TIMEFRAME_SECONDS

log = logging.getLogger(__name__)
T = TypeVar("T")

FETCH = "fetch segments"
# The tracker gives the stage and its detail line; a load's percentage is its journal's share
# of segments done (`load_percent`), so that it reads the same live and after a restart.
STAGES = tuple(
    Stage(name)
    for name in (
        "validate symbol",
        "head timestamp",
        "load local data",
        "gap analysis",
        "segmentation",
        FETCH,
        "merge",
        "save",
        "complete",
    )
)
_UNFINISHED = frozenset({SegmentStatus.WAITING, SegmentStatus.FETCHING})


class LoadFailed(Exception):
    """The job cannot go on; the message is the one line the user sees."""


@dataclass
class _Tries:
    """The failed tries of one request so far, by what they called for."""

    transient: int = 0
    pacing: int = 0


def load_percent(journal: LoadJournal) -> float:
    """How far a load is: the one figure the app, `load` and `jobs` show, live or read back
    after a restart. The share of its planned segments done; a failed job shows what it got,
    and only a done one shows 100."""
    if journal.state is JobState.DONE:
        return 100.0
    if not journal.segments:
        return 0.0
    return 100.0 * journal.segments_done / len(journal.segments)


@dataclass(frozen=True)
class _Wait:
    """A timed wait (pacing, a retry's backoff) that the status line counts down."""

    before: str  # the text before the seconds left
    until: float  # on the job's clock
    after: str = ""

    def line(self, now: float) -> str:
        return f"{self.before}{math.ceil(max(self.until - now, 0.0))} s{self.after}"


@dataclass(frozen=True)
class LoadStatus:
    """Everything the Jobs pane and the CLI show about a job, read in one go."""

    job_id: str
    symbol: str
    timeframe: str
    mode: LoadMode
    start: str
    end: str
    state: JobState
    stage: str
    percent: float
    detail: str  # the line of what it does now; once ended, why (its error, "" when done)
    segments_total: int
    segments_done: int
    segments_failed: int
    bars_fetched: int
    bars_total: int
    requests: int
    rate_bars_s: float | None  # this run's bars per second; None until there is one, or not running
    eta_s: float | None  # None until meaningful
    pacing_wait_s: float  # > 0 while the job waits for pacing
    elapsed_s: float
    error: str
    segments: tuple[SegmentRecord, ...]
    persisted: bool  # a journal exists: a job that failed before its plan has none

    @property
    def resumable(self) -> bool:
        # A job that failed before it had a plan failed on what it was asked (an unknown
        # symbol, a range before the source's data): its journal keeps it listed, not resumable.
        planless_failure = self.state is JobState.FAILED and not self.segments
        return self.persisted and self.state.resumable and not planless_failure

    @classmethod
    def of(
        cls,
        journal: LoadJournal,
        *,
        stage: str = "",
        detail: str | None = None,
        rate_bars_s: float | None = None,
        eta_s: float | None = None,
        pacing_wait_s: float = 0.0,
        elapsed_s: float = 0.0,
        persisted: bool = True,
    ) -> LoadStatus:
        """The journal's view plus what only a running job knows (its progress and rates)."""
        return cls(
            job_id=journal.job_id,
            symbol=journal.symbol,
            timeframe=journal.timeframe,
            mode=journal.mode,
            start=journal.start,
            end=journal.end,
            state=journal.state,
            stage=stage,
            percent=load_percent(journal),
            detail=journal.error if detail is None else detail,
            segments_total=len(journal.segments),
            segments_done=journal.segments_done,
            segments_failed=journal.segments_failed,
            bars_fetched=journal.bars_fetched,
            bars_total=journal.bars_total,
            requests=journal.requests,
            rate_bars_s=rate_bars_s,
            eta_s=eta_s,
            pacing_wait_s=pacing_wait_s,
            elapsed_s=elapsed_s,
            error=journal.error,
            segments=journal.segments,
            persisted=persisted,
        )

    def to_json(self) -> dict[str, object]:
        """The per-job object of `load --json` and `jobs --json` (DESIGN.md, CLI contract)."""
        return {
            "job_id": self.job_id,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "mode": str(self.mode),
            "state": str(self.state),
            "bars_fetched": self.bars_fetched,
            "bars_total": self.bars_total,
            "requests": self.requests,
            "segments_total": self.segments_total,
            "segments_done": self.segments_done,
            "segments_failed": self.segments_failed,
            "elapsed_s": round(self.elapsed_s, 3),
            "start": self.start,
            "end": self.end,
            "error": self.error,
        }


class LoadJob:
    def __init__(
        self,
        journal: LoadJournal,
        *,
        store: BarStore,
        journals: JournalStore,
        connection: SharedConnection | None,  # None in local mode: no source at all
        limiter: PacingLimiter,
        calendar: TradingCalendar,
        eta_history: EtaHistory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.id = journal.job_id
        self.progress = ProgressTracker(STAGES, clock)
        self._store = store
        self._journals = journals
        self._connection = connection
        self._limiter = limiter
        self._calendar = calendar
        self._clock = clock
        self._eta = EtaEstimator(
            f"load:{journal.timeframe}:{journal.source}", eta_history, clock=clock
        )
        self._lock = threading.RLock()
        self._journal = journal
        # A journal reaches the disk once there is a plan, or when the job fails before it
        # (unknown symbol, a range the source has no data for): it then says why, and stays listed
        # after a restart. Resumed without a plan, a job plans afresh.
        self._persisted = bool(journal.segments)
        self._run_bars = 0
        self._fetch_started: float | None = None
        self._eta_s: float | None = None
        self._eta_at = 0.0
        self._pacing_until = 0.0
        self._wait: _Wait | None = None
        # While waiting for the gateway: what goes before the shared connection's own line.
        self._gateway_prefix: str | None = None
        # Time spent on fetched segments, pacing waits excluded: the ETA's cost per request.
        self._active_s = 0.0
        self._timed_segments = 0

    @property
    def journal(self) -> LoadJournal:
        return self._journal

    # -- read from any thread ---------------------------------------------------------------

    def status(self) -> LoadStatus:
        journal, snap, now = self._journal, self.progress.snapshot(), self._clock()
        rate = None
        if self._fetch_started is not None and now > self._fetch_started and self._run_bars:
            rate = self._run_bars / (now - self._fetch_started)
        eta = None if self._eta_s is None else max(self._eta_s - (now - self._eta_at), 0.0)
        detail: str | None = snap.detail
        if journal.state is JobState.RUNNING:
            detail = self._counting_down(now) or detail
        else:
            rate = eta = None  # the figures of a run in progress
        if journal.state.ended:
            detail = None  # why it ended (the journal's error), as after a restart
        return LoadStatus.of(
            journal,
            stage=snap.stage,
            detail=detail,
            rate_bars_s=rate,
            eta_s=eta,
            pacing_wait_s=max(self._pacing_until - now, 0.0),
            elapsed_s=snap.elapsed_s,
            persisted=self._persisted,
        )

    def _counting_down(self, now: float) -> str | None:
        """The line of the wait in progress, with the seconds left as of `now`."""
        prefix = self._gateway_prefix
        if prefix is not None and self._connection is not None:
            gateway = self._connection.status()
            if not gateway.connected:
                return prefix + gateway.waiting
        wait = self._wait
        if wait is not None and now < wait.until:
            return wait.line(now)
        return None

    # -- the job's state: its journal is the runner's `StateRecord` ------------------------

    @property
    def state(self) -> JobState:
        return self._journal.state

    def record_state(self, state: JobState, error: str | None) -> None:
        """The runner's one way to change the job's state (`engine.core.jobs.StateRecord`):
        into the journal, which `status()`, `jobs` and the Jobs pane read."""
        with self._lock:
            segments = self._journal.segments
            if state.ended:
                # The request in flight when the job stopped is simply still to do.
                segments = tuple(
                    replace(s, status=SegmentStatus.PENDING) if s.status in _UNFINISHED else s
                    for s in segments
                )
            self._update(state=state, error=error or "", segments=segments)
            self._persisted = self._persisted or state is JobState.FAILED
            if self._persisted:
                try:
                    self._journals.save(self._journal)
                except OSError:  # the state stands in memory; a restart finds it interrupted
                    log.exception("job %s: cannot save its journal (%s)", self.id, state)

    # -- the work, on a job thread ----------------------------------------------------------

    def run(self, token: CancelToken) -> LoadJournal:
        journal = self._journal
        progress = self.progress
        head = None
        if journal.mode is not LoadMode.LOCAL:
            label = self._source().label
            progress.start_stage(
                "validate symbol", detail=f"Checking {journal.symbol} with the {label}"
            )
            self._setup_call(token, lambda: self._source().check_symbol(journal.symbol, token))
            progress.start_stage(
                "head timestamp", detail=f"Asking the {label} where its data begins"
            )
            head = self._setup_call(
                token, lambda: self._source().head_timestamp(journal.symbol, token)
            )
        sessions = self._sessions(head)
        if self._persisted:
            done = journal.segments_done
            progress.start_stage(
                "segmentation",
                detail=f"Resuming from the journal: {done}/{len(journal.segments)} segments done",
            )
        else:
            self._plan(sessions, token)
        self._fetch_all(token)
        self._verify(sessions)
        progress.start_stage("save", detail="Saving the journal")
        with self._lock:
            if self._persisted:
                self._journals.save(self._journal)
        self._eta.finish()
        journal = self._journal
        failed = [s for s in journal.segments if s.status is SegmentStatus.FAILED]
        if failed:
            raise LoadFailed(
                f"{len(failed)} of {len(journal.segments)} segments failed "
                f"(first: {failed[0].label}: {failed[0].error})"
            )
        progress.start_stage("complete")
        progress.finish(f"Done: {journal.bars_fetched:,} bars in {journal.requests} requests")
        return journal

    def _source(self) -> BarSource:  # for the stages that talk to the source
        assert self._connection is not None
        return self._connection.source

    def _sessions(self, head: pd.Timestamp | None) -> list[Session]:
        journal = self._journal
        sessions = self._calendar.sessions_for_dates(
            pd.Timestamp(journal.start), pd.Timestamp(journal.end)
        )
        if head is None:
            return sessions
        available = [s for s in sessions if s.close > head]
        if not available:
            raise LoadFailed(
                f"the {self._source().label} has no {journal.symbol} data before "
                f"{head:%Y-%m-%d} (its head timestamp); the range ends {journal.end}"
            )
        return available

    def _plan(self, sessions: list[Session], token: CancelToken) -> None:
        journal, progress = self._journal, self.progress
        progress.start_stage("load local data", detail=f"Reading the stored {journal.symbol} bars")
        stored = self._store.timestamps(journal.symbol, journal.timeframe)
        token.raise_if_cancelled()
        progress.start_stage("gap analysis", detail=f"{len(stored):,} bars stored")
        limits = None
        if journal.mode is not LoadMode.LOCAL:
            limits = RequestLimits.of(self._source(), journal.timeframe)
        plan = plan_load(self._calendar, journal.timeframe, journal.mode, sessions, stored, limits)
        progress.start_stage(
            "segmentation",
            detail=f"{plan.missing_sessions} of {plan.sessions} sessions missing; "
            f"{len(plan.segments)} requests",
        )
        records = tuple(SegmentRecord(i, segment) for i, segment in enumerate(plan.segments, 1))
        with self._lock:
            self._update(segments=records)
            # A local report fetches nothing: there is nothing to resume, so no journal.
            self._persisted = journal.mode is not LoadMode.LOCAL
            if self._persisted:
                self._journals.save(self._journal)
        token.raise_if_cancelled()

    def _fetch_all(self, token: CancelToken) -> None:
        records = self._journal.segments
        total = len(records)
        todo = [r for r in records if r.status is not SegmentStatus.DONE]
        self.progress.start_stage(FETCH, total=total, detail="Nothing to fetch" if not todo else "")
        self.progress.set_items(total - len(todo), total)
        self._fetch_started = self._clock()
        for record in todo:
            token.raise_if_cancelled()
            self._fetch(record, total, token)
            self.progress.set_items(total - self._remaining(), total)
            self._update_eta()

    def _remaining(self) -> int:
        return sum(
            s.status not in (SegmentStatus.DONE, SegmentStatus.FAILED)
            for s in self._journal.segments
        )

    def _fetch(self, record: SegmentRecord, total: int, token: CancelToken) -> None:
        journal = self._journal
        segment = record.segment
        identity = (journal.symbol, journal.timeframe, segment.end, segment.duration)
        prefix = f"Segment {record.index}/{total}: {record.label} · "
        tries = _Tries()
        while True:
            self._set_segment(record := replace(record, status=SegmentStatus.WAITING))

            def on_wait(wait: PacingWait) -> None:
                now = self._clock()
                self._pacing_until = now + wait.seconds
                self._wait = _Wait(
                    f"{prefix}waiting ", self._pacing_until, f" for pacing ({wait.rule})"
                )
                self.progress.set_detail(self._wait.line(now))
                self._update_eta()

            self._limiter.acquire(identity, journal.symbol, token, on_wait)
            self._pacing_until, self._wait = 0.0, None
            self._set_segment(record := replace(record, status=SegmentStatus.FETCHING))
            self.progress.set_detail(f"{prefix}fetching")
            began = self._clock()
            with self._lock:
                self._update(requests=self._journal.requests + 1)
            try:
                answer = self._source().fetch(
                    journal.symbol, journal.timeframe, segment.end, segment.duration, token
                )
            except Exception as exc:
                recovery = self._recover(exc, token, prefix, tries)
                if recovery is Recovery.FAIL:
                    self._finish_segment(record, SegmentStatus.FAILED, error=str(exc))
                    return
                record = replace(record, retries=record.retries + 1)
                continue
            bars = _trim(answer, segment, journal.timeframe)
            problem = _answer_problem(
                self._source().label, answer, bars, segment, journal.timeframe, self._calendar
            )
            if problem:
                log.warning("job %s: segment %s: %s", self.id, record.label, problem)
                self._finish_segment(record, SegmentStatus.FAILED, error=problem)
                return
            self._store.merge(journal.symbol, journal.timeframe, bars)
            self._run_bars += len(bars)
            self.progress.set_detail(f"{prefix}{len(bars):,} bars")
            self._finish_segment(record, SegmentStatus.DONE, bars=len(bars))
            self._active_s += self._clock() - began
            self._timed_segments += 1
            return

    def _recover(self, exc: Exception, token: CancelToken, prefix: str, tries: _Tries) -> Recovery:
        """Act on the source's retry-policy table for `exc`, the same for every request: wait
        out pacing or a backoff, or reconnect, and return what was done; FAIL when the request
        is to fail (permanent, or transient too often). An unknown symbol fails the job, and an
        error the source does not know (a bug) goes up as it is."""
        assert self._connection is not None
        recovery = self._connection.source.recovery(exc)
        policy = self._connection.retry
        if recovery is None:
            raise exc
        if recovery is Recovery.FAIL_JOB:
            raise LoadFailed(str(exc)) from None
        if recovery is Recovery.PACING:
            tries.pacing += 1
            delay = self._limiter.violation_backoff_s(tries.pacing)
            source = self._connection.source.label
            self._pause(token, delay, f"{prefix}pacing violation from the {source}; retry in")
        elif recovery is Recovery.RECONNECT:
            log.warning("job %s: %s; reconnecting", self.id, exc)
            self._wait_for_gateway(token, prefix)
        elif recovery is Recovery.RETRY:
            tries.transient += 1
            attempts = policy.transient_attempts
            if tries.transient >= attempts:
                return Recovery.FAIL
            self._pause(
                token,
                policy.delay_s(tries.transient),
                f"{prefix}{exc} (try {tries.transient}/{attempts}); retry in",
            )
        return recovery

    def _finish_segment(
        self, record: SegmentRecord, status: SegmentStatus, bars: int = 0, error: str = ""
    ) -> None:
        """Only after the bars are in the store: the journal then says the segment is done."""
        with self._lock:
            self._update(bars_fetched=self._journal.bars_fetched + bars)
            self._set_segment(replace(record, status=status, bars=bars, error=error))
            self._journals.save(self._journal)

    def _set_segment(self, record: SegmentRecord) -> None:
        with self._lock:
            self._journal = self._journal.with_segment(record)

    def _update(self, **changes: object) -> None:
        with self._lock:
            self._journal = replace(self._journal, updated_at=now_iso(), **changes)

    def _pause(self, token: CancelToken, seconds: float, why: str) -> None:
        now = self._clock()
        self._wait = _Wait(f"{why} ", now + seconds)
        self.progress.set_detail(self._wait.line(now))
        log.info("job %s: %s %.1f s", self.id, why, seconds)
        try:
            if token.wait(seconds):
                raise OperationCancelled(token.reason)
        finally:
            self._wait = None

    def _wait_for_gateway(self, token: CancelToken, prefix: str = "") -> None:
        """Return once the shared connection is up, however long the gateway takes; until
        then the status line says so and counts down to the next try (`_counting_down`)."""
        connection = self._connection
        assert connection is not None
        gateway = connection.status()
        if gateway.connected:
            return
        resume_detail = self.progress.snapshot().detail
        self._gateway_prefix = prefix
        self.progress.set_detail(prefix + gateway.waiting)
        # Each failed try, whoever makes it, is news for the progress listeners.
        unsubscribe = connection.subscribe(
            lambda status: self.progress.set_detail(prefix + status.waiting)
        )
        try:
            connection.ensure_connected(token)
        finally:
            unsubscribe()
            self._gateway_prefix = None
        self.progress.set_detail(resume_detail)

    def _setup_call(self, token: CancelToken, call: Callable[[], T]) -> T:
        """A setup call to the source (check the symbol, head timestamp), retried like a
        segment; when it is to fail, the job fails."""
        tries = _Tries()
        while True:
            self._wait_for_gateway(token)
            try:
                return call()
            except Exception as exc:
                if self._recover(exc, token, "", tries) is Recovery.FAIL:
                    raise LoadFailed(str(exc)) from None

    def _update_eta(self) -> None:
        """Requests go one after another, but no faster than pacing lets them: the last one
        leaves after the pacing budget or after the others' fetch time, whichever is longer,
        and then takes its own. Until a segment has been timed, the estimator (history,
        observed rate, pacing floor) stands in."""
        journal = self._journal
        remaining = self._remaining()
        done = sum(
            s.expected_bars
            for s in journal.segments
            if s.status in (SegmentStatus.DONE, SegmentStatus.FAILED)
        )
        floor = self._limiter.budget_s(remaining, journal.symbol)
        estimate = self._eta.update(done, journal.bars_total, lower_bound_s=floor)
        seconds = estimate.seconds
        if self._timed_segments and remaining:
            per_request = self._active_s / self._timed_segments
            seconds = max(floor, (remaining - 1) * per_request) + per_request
        self._eta_s, self._eta_at = seconds, self._clock()

    def _verify(self, sessions: list[Session]) -> None:
        journal = self._journal
        self.progress.start_stage("merge", detail="Checking the merged bars against the calendar")
        if not sessions:
            return
        stored = self._store.timestamps(
            journal.symbol,
            journal.timeframe,
            sessions[0].open - pd.Timedelta(days=1),
            sessions[-1].close,
        )
        expected = self._calendar.bar_starts(sessions, TIMEFRAME_SECONDS[journal.timeframe])
        missing = len(expected) - int(expected.isin(stored).sum())
        self.progress.set_detail(
            f"{len(expected) - missing:,} of {len(expected):,} bars of the range stored"
            + (f"; {missing:,} missing" if missing else "")
        )


def _answer_problem(
    label: str,
    answer: pd.DataFrame,
    bars: pd.DataFrame,
    segment: Segment,
    timeframe: str,
    calendar: TradingCalendar,
) -> str | None:
    """Why the answer of the source (`label`) for `segment` (`bars`: the part in the segment)
    must not be stored; None when it may. Gaps inside an answer are the source's to have
    (halts, minutes without a trade) and show as missing bars; an answer that stops before the
    segment's last bar is cut short, and the segment fails rather than look done."""
    bad = bar_problems(answer, timeframe, calendar)
    if bad:
        when = answer["timestamp"].iloc[bad[0].line - 1]
        at = "" if pd.isna(when) else f" at {when:%Y-%m-%d %H:%M} UTC"
        return (
            f"the {label} sent {_bars(len(bad))} that fail the checks "
            f"(the first{at}: {bad[0].reason})"
        )
    if bars.empty:
        return f"the {label} answered {_bars(len(answer))}, none in the segment"
    seconds = TIMEFRAME_SECONDS[timeframe]
    last_session = calendar.session_for_date(segment.last_session)
    assert last_session is not None  # the planner cut the segment from calendar sessions
    last = calendar.bar_starts([last_session], seconds)[-1]
    if bars["timestamp"].iloc[-1] < last:
        return (
            f"the answer of the {label} stops short: {len(bars):,} of "
            f"{segment.expected_bars:,} bars, the last at "
            f"{bars['timestamp'].iloc[-1]:%Y-%m-%d %H:%M} UTC"
        )
    return None


def _bars(count: int) -> str:
    return f"{count:,} bar{'' if count == 1 else 's'}"


def _trim(bars: pd.DataFrame, segment: Segment, timeframe: str) -> pd.DataFrame:
    """Only the segment's sessions: the rounded-up duration reaches further back."""
    if TIMEFRAME_SECONDS[timeframe] == 0:
        low = segment.first_session.tz_localize("UTC")
        high = segment.last_session.tz_localize("UTC") + pd.Timedelta(1, "ns")
    else:
        low, high = segment.start, segment.end
    stamps = bars["timestamp"]
    return bars[(stamps >= low) & (stamps < high)].reset_index(drop=True)
