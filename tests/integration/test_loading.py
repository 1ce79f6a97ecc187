"""Load jobs end to end: the service, a real IB client and the simulated gateway."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.core.jobs import JobState
from engine.core.pacing import PacingRules
from engine.ib.sim_gateway import GatewaySettings, SimulatedGateway
from engine.ib.universe import UNIVERSE
from engine.loading.connection import RetryPolicy
from engine.loading.journal import JournalStore, SegmentStatus
from engine.loading.load_job import STAGES, LoadJob, _answer_problem, _trim
from engine.loading.planner import LoadMode, RequestLimits, cut_segments
from engine.loading.request import load_request
from engine.loading.service import LoadService
from engine.market.calendar import calendar_for
from engine.market.schema import PRICE_COLUMNS, bars_frame
from engine.market.spans import Duration
from tests.support.sources import gateway_source

CALENDAR = calendar_for()
FAST_RETRY = RetryPolicy(first_delay_s=0.01, max_delay_s=0.05, transient_attempts=3)
NOW = pd.Timestamp("2024-06-01 12:00", tz="UTC")
_client_ids = itertools.count(100)


@pytest.fixture
def open_service(tmp_path: Path) -> Iterator[Callable[..., LoadService]]:
    services: list[LoadService] = []

    def open_one(
        gateway: SimulatedGateway,
        data_dir: Path | None = None,
        pacing: PacingRules | None = None,
        library: str | None = None,
    ) -> LoadService:
        source = gateway_source(gateway.address, next(_client_ids), pacing, library)
        service = LoadService(data_dir or tmp_path / "data", source=source, retry=FAST_RETRY)
        services.append(service)
        return service

    yield open_one
    for service in services:
        service.close()


def request(symbols=("AAPL",), timeframe="1m", start="2024-01-02", end="2024-01-09", mode="full"):
    return load_request(CALENDAR, list(symbols), timeframe, start, end, mode, now=NOW)


def run_to_end(service: LoadService, req) -> list[LoadJob]:
    jobs = service.start(req)
    for job in jobs:
        assert service.wait(job.id, timeout=60)
    return jobs


def expected_starts(start: str, end: str, bar_seconds: int = 60) -> pd.DatetimeIndex:
    sessions = CALENDAR.sessions_for_dates(pd.Timestamp(start), pd.Timestamp(end))
    return CALENDAR.bar_starts(sessions, bar_seconds)


def test_a_load_stores_exactly_the_session_minutes_one_request_per_session(
    start_gateway, open_service
) -> None:
    gateway = start_gateway()
    service = open_service(gateway)
    (job,) = run_to_end(service, request(start="2024-01-02", end="2024-01-12"))
    status = job.status()
    assert status.state is JobState.DONE, status.error
    stored = service.store.timestamps("AAPL", "1m")
    assert stored.equals(expected_starts("2024-01-02", "2024-01-12"))
    sessions = 9
    assert gateway.historical_requests == sessions == status.requests == status.segments_done
    assert status.bars_fetched == status.bars_total == len(stored)
    assert status.percent == 100.0

    (again,) = run_to_end(service, request(start="2024-01-02", end="2024-01-12"))
    assert again.status().state is JobState.DONE
    assert again.status().requests == 0
    assert gateway.historical_requests == sessions  # the second run sent nothing


def test_every_stage_runs_in_order_with_segment_details(start_gateway, open_service) -> None:
    service = open_service(start_gateway())
    seen_stages: list[str] = []
    details: list[str] = []
    jobs = service.start(request(end="2024-01-04"))
    job = jobs[0]

    def listen(snapshot) -> None:
        if not seen_stages or seen_stages[-1] != snapshot.stage:
            seen_stages.append(snapshot.stage)
        details.append(snapshot.detail)

    job.progress.subscribe(listen)
    assert service.wait(job.id, timeout=30)
    names = [stage.name for stage in STAGES]
    # The first stages may pass before we subscribe; those we saw come in order, to the end.
    assert seen_stages == names[names.index(seen_stages[0]) :]
    assert seen_stages[-1] == "complete"
    assert any(d.startswith("Segment 1/3: 2024-01-04") for d in details)
    assert any(d.startswith("Segment 3/3: 2024-01-02") for d in details)


def test_journal_records_every_segment(start_gateway, open_service, tmp_path: Path) -> None:
    service = open_service(start_gateway())
    (job,) = run_to_end(service, request(end="2024-01-05"))
    journal = JournalStore(tmp_path / "data" / "jobs").load(job.id)
    assert journal.state is JobState.DONE
    assert [s.status for s in journal.segments] == [SegmentStatus.DONE] * 4
    assert [s.label for s in journal.segments] == [
        "2024-01-05",
        "2024-01-04",
        "2024-01-03",
        "2024-01-02",
    ]
    assert all(s.bars == 390 and s.segment.duration == Duration(1, "D") for s in journal.segments)
    data = json.loads(JournalStore(tmp_path / "data" / "jobs").path(job.id).read_text())
    assert data["version"] == 1 and data["symbol"] == "AAPL"


@pytest.mark.parametrize(
    ("timeframe", "requests"), [("5m", 3), ("30m", 1), ("1h", 1), ("4h", 1), ("1d", 1)]
)
def test_longer_bars_take_fewer_requests(
    start_gateway, open_service, timeframe: str, requests: int
) -> None:
    from engine.market.timeframes import TIMEFRAME_SECONDS

    gateway = start_gateway()
    service = open_service(gateway)
    (job,) = run_to_end(service, request(timeframe=timeframe, start="2024-01-02", end="2024-01-19"))
    assert job.status().state is JobState.DONE
    assert gateway.historical_requests == requests
    stored = service.store.timestamps("AAPL", timeframe)
    assert stored.equals(expected_starts("2024-01-02", "2024-01-19", TIMEFRAME_SECONDS[timeframe]))


def test_unknown_symbol_fails_in_one_line_and_stays_listed(
    start_gateway, open_service, tmp_path: Path
) -> None:
    service = open_service(start_gateway())
    (job,) = run_to_end(service, request(symbols=["ZZZZ"]))
    status = job.status()
    assert status.state is JobState.FAILED
    assert "unknown symbol 'ZZZZ'" in status.error and "\n" not in status.error
    # Its journal (no plan, no bars) keeps it listed, with the reason, after a restart.
    (listed,) = JournalStore(tmp_path / "data" / "jobs").all()
    assert (listed.job_id, listed.state, listed.segments) == (job.id, JobState.FAILED, ())
    assert listed.error == status.error
    assert service.store.datasets() == []


def test_a_range_before_the_head_timestamp_fails(start_gateway, open_service) -> None:
    service = open_service(start_gateway())
    # META's synthetic history starts in 2012.
    (job,) = run_to_end(service, request(symbols=["META"], start="2005-01-03", end="2005-01-10"))
    assert job.status().state is JobState.FAILED
    assert "head timestamp" in job.status().error


def test_backfill_stops_at_the_head_timestamp(start_gateway, open_service) -> None:
    gateway = start_gateway()
    service = open_service(gateway)
    day = gateway.market.first_session(UNIVERSE["META"]).date
    start = (day - pd.Timedelta(days=10)).strftime("%Y-%m-%d")
    end = (day + pd.Timedelta(days=6)).strftime("%Y-%m-%d")
    (job,) = run_to_end(
        service, request(symbols=["META"], timeframe="1d", start=start, end=end, mode="backfill")
    )
    assert job.status().state is JobState.DONE, job.status().error
    stored = service.store.timestamps("META", "1d")
    assert stored[0] == day.tz_localize("UTC")


def test_cancel_with_a_request_in_flight_is_quick_and_resumable(
    start_gateway, open_service, tmp_path: Path
) -> None:
    gateway = start_gateway(latency_ms=2000)
    service = open_service(gateway)
    (job,) = service.start(request(end="2024-01-04"))
    fetching = threading.Event()
    job.progress.subscribe(lambda snapshot: "fetching" in snapshot.detail and fetching.set())
    assert fetching.wait(10)
    time.sleep(0.2)  # let the request reach the gateway, which holds it for 2 s
    started = time.monotonic()
    service.cancel(job.id)
    assert service.wait(job.id, timeout=5)
    assert time.monotonic() - started < 0.25
    journal = JournalStore(tmp_path / "data" / "jobs").load(job.id)
    assert journal.state is JobState.CANCELLED
    assert all(s.status is SegmentStatus.PENDING for s in journal.segments)

    fresh = start_gateway()
    resumed_service = open_service(fresh)
    resumed = resumed_service.resume(job.id)
    assert resumed_service.wait(job.id, timeout=30)
    assert resumed.status().state is JobState.DONE
    assert resumed_service.store.timestamps("AAPL", "1m").equals(
        expected_starts("2024-01-02", "2024-01-04")
    )


def test_a_dropped_connection_is_waited_out_and_ends_identical(
    start_gateway, open_service, tmp_path: Path
) -> None:
    reference = open_service(start_gateway(), data_dir=tmp_path / "reference")
    run_to_end(reference, request(end="2024-01-12"))

    gateway = start_gateway(drop_after=3)
    service = open_service(gateway)
    (job,) = run_to_end(service, request(end="2024-01-12"))
    status = job.status()
    assert status.state is JobState.DONE, status.error
    assert sum(s.retries for s in status.segments) >= 1
    assert_same_store(tmp_path / "reference", tmp_path / "data")


def test_transient_errors_and_pacing_violations_are_retried(start_gateway, open_service) -> None:
    gateway = start_gateway(transient_error_every=3, pacing_violation_every=5)
    service = open_service(gateway)
    (job,) = run_to_end(service, request(end="2024-01-12"))
    status = job.status()
    assert status.state is JobState.DONE, status.error
    assert status.requests == gateway.historical_requests > status.segments_total
    assert sum(s.retries for s in status.segments) == status.requests - status.segments_total


def test_no_data_fails_those_segments_and_resume_retries_them(start_gateway, open_service) -> None:
    service = open_service(start_gateway(no_data_every=4))
    (job,) = run_to_end(service, request(end="2024-01-12"))
    status = job.status()
    assert status.state is JobState.FAILED
    assert status.segments_failed == 2 and status.segments_done == 7
    assert "2 of 9 segments failed" in status.error and "no data" in status.error
    failed = [s for s in status.segments if s.status is SegmentStatus.FAILED]
    assert all("no data" in s.error for s in failed)

    healthy = open_service(start_gateway())
    resumed = healthy.resume(job.id)
    assert healthy.wait(job.id, timeout=30)
    assert resumed.status().state is JobState.DONE
    assert resumed.status().requests == status.requests + 2  # only the failed two again
    assert healthy.store.timestamps("AAPL", "1m").equals(
        expected_starts("2024-01-02", "2024-01-12")
    )


def test_symbols_load_side_by_side_sharing_the_pacing_limiter(start_gateway, open_service) -> None:
    rules = PacingRules(
        max_requests=8,
        window_s=1.0,
        identical_window_s=0.5,
        per_contract_max=5,
        per_contract_window_s=0.2,
    )
    gateway = start_gateway(pacing=rules)
    service = open_service(gateway, pacing=rules)
    jobs = run_to_end(service, request(symbols=["AAPL", "MSFT"], end="2024-01-12"))
    for job in jobs:
        status = job.status()
        assert status.state is JobState.DONE, status.error
        # The gateway enforces the same rules: a violation would have been retried.
        assert all(s.retries == 0 for s in status.segments)
    assert gateway.historical_requests == 18
    for symbol in ("AAPL", "MSFT"):
        assert service.store.timestamps(symbol, "1m").equals(
            expected_starts("2024-01-02", "2024-01-12")
        )


def test_tail_and_local_modes(start_gateway, open_service) -> None:
    gateway = start_gateway()
    service = open_service(gateway)
    run_to_end(service, request(end="2024-01-05"))
    before = gateway.historical_requests
    (tail,) = run_to_end(service, request(start="2024-01-02", end="2024-01-10", mode="tail"))
    assert tail.status().state is JobState.DONE
    assert gateway.historical_requests - before == 3  # Jan 8, 9, 10
    (local,) = run_to_end(service, request(start="2024-01-02", end="2024-01-31", mode="local"))
    assert local.status().state is JobState.DONE
    assert local.status().requests == 0 and local.journal.mode is LoadMode.LOCAL
    assert gateway.historical_requests - before == 3


def test_journals_of_a_dead_process_come_back_interrupted(tmp_path: Path) -> None:
    from engine.loading.journal import LoadJournal

    store = JournalStore(tmp_path / "jobs")
    dead = LoadJournal(
        job_id="abc123",
        symbol="AAPL",
        timeframe="1m",
        mode=LoadMode.FULL,
        start="2024-01-02",
        end="2024-01-05",
        source="sim",
        state=JobState.RUNNING,
        created_at="2024-06-01T00:00:00+00:00",
        updated_at="2024-06-01T00:00:00+00:00",
        pid=2**22 + 12345,  # beyond pid_max: no such process
    )
    alive = replace(dead, job_id="def456", pid=os.getppid())
    store.save(dead)
    store.save(alive)
    recovered = store.recover_interrupted()
    assert [j.job_id for j in recovered] == ["abc123"]
    assert store.load("abc123").state is JobState.INTERRUPTED
    assert store.load("def456").state is JobState.RUNNING  # another live process has it


def test_an_unreadable_journal_is_quarantined(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "jobs")
    store.directory.mkdir(parents=True)
    store.path("bad1").write_text("{not json")
    assert store.all() == []
    assert not store.path("bad1").exists()
    assert list((tmp_path / "quarantine" / "jobs").iterdir())


def assert_same_store(left: Path, right: Path) -> None:
    """Same files with the same bytes: what an uninterrupted load leaves."""

    def files(root: Path) -> dict[str, bytes]:
        bars = root / "bars"
        return {str(p.relative_to(bars)): p.read_bytes() for p in sorted(bars.rglob("*.parquet"))}

    left_files, right_files = files(left), files(right)
    assert left_files.keys() == right_files.keys()
    assert left_files == right_files


def test_a_job_waits_for_a_gateway_that_went_away_and_carries_on(
    start_gateway, open_service, tmp_path: Path
) -> None:
    gateway = start_gateway(latency_ms=50)
    port = gateway.address.port
    service = open_service(gateway)
    (job,) = service.start(request(end="2024-01-12"))
    first_done = threading.Event()
    waiting = threading.Event()

    def listen(snapshot) -> None:
        if job.journal.segments_done >= 1:
            first_done.set()
        if "waiting for gateway" in snapshot.detail:
            waiting.set()

    job.progress.subscribe(listen)
    assert first_done.wait(20)
    gateway.stop()
    assert waiting.wait(20)  # the job says it is waiting, and keeps trying
    assert f"waiting for gateway at 127.0.0.1:{port}, " in job.status().detail
    assert job.journal.state is JobState.RUNNING
    back = SimulatedGateway(GatewaySettings(pacing="off", port=port))
    back.start_in_thread()
    try:
        assert service.wait(job.id, timeout=60)
        assert job.status().state is JobState.DONE, job.status().error
        assert service.store.timestamps("AAPL", "1m").equals(
            expected_starts("2024-01-02", "2024-01-12")
        )
    finally:
        back.stop()


def test_statuses_list_live_and_persisted_jobs_and_remove_keeps_the_bars(
    start_gateway, open_service, tmp_path: Path
) -> None:
    gateway = start_gateway()
    first = open_service(gateway)
    (old,) = run_to_end(first, request(end="2024-01-03"))
    later = open_service(gateway)  # a restart: the first job is only a journal now
    (new,) = run_to_end(later, request(symbols=["MSFT"], end="2024-01-03"))
    statuses = later.statuses()
    assert [(s.job_id, s.state) for s in statuses] == [
        (old.id, JobState.DONE),
        (new.id, JobState.DONE),
    ]
    assert statuses[0].bars_fetched == 780 and statuses[0].percent == 100.0
    later.remove(new.id)
    assert [s.job_id for s in later.statuses()] == [old.id]
    assert len(later.store.timestamps("MSFT", "1m")) == 780


def test_the_eta_counts_the_pacing_waits_still_ahead(start_gateway, open_service) -> None:
    rules = PacingRules(
        max_requests=4,
        window_s=0.5,
        identical_window_s=0.2,
        per_contract_max=5,
        per_contract_window_s=0.1,
    )
    service = open_service(start_gateway(pacing=rules), pacing=rules)
    (job,) = service.start(request(end="2024-01-12"))  # 9 requests: two full waits
    seen: list[tuple[float | None, float]] = []

    def listen(snapshot) -> None:
        if "for pacing" in snapshot.detail:
            status = job.status()
            seen.append((status.eta_s, status.pacing_wait_s))

    job.progress.subscribe(listen)
    assert service.wait(job.id, timeout=30)
    assert job.status().state is JobState.DONE
    assert seen, "a paced load waits"
    for eta, wait in seen:
        assert eta is not None and eta >= wait > 0
    assert job.status().eta_s is None  # once done, no ETA


# -- answers that arrive but are wrong ---------------------------------------------------------


@pytest.mark.parametrize("library", ["ib_insync", "ib_async"])
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("malformed_every", "IB's answer could not be read (ValueError"),
        ("short_every", "the answer of the simulated IB Gateway stops short: 195 of 390 bars"),
        ("bad_prices_every", "the simulated IB Gateway sent 1 bar that fail the checks (the"),
    ],
)
def test_a_wrong_answer_fails_its_segment_with_the_reason_and_resume_fetches_it(
    start_gateway, open_service, library: str, fault: str, reason: str
) -> None:
    # Before: a malformed answer hung the load, a short one stored half a session as done, and
    # a bar with its low above its high was stored.
    service = open_service(start_gateway(**{fault: 3}), library=library)
    (job,) = run_to_end(service, request(end="2024-01-12"))  # 9 sessions: 3 wrong answers
    status = job.status()
    assert status.state is JobState.FAILED
    assert (status.segments_failed, status.segments_done) == (3, 6)
    failed = [s for s in status.segments if s.status is SegmentStatus.FAILED]
    assert [s.index for s in failed] == [3, 6, 9]
    assert all(reason in s.error for s in failed), [s.error for s in failed]
    assert f"3 of 9 segments failed (first: {failed[0].label}: {reason}" in status.error
    assert status.bars_fetched == 6 * 390
    # Nothing of a wrong answer is stored: only the six good sessions.
    good = sorted(s.label for s in status.segments if s.status is SegmentStatus.DONE)
    good_minutes = [t for day in good for t in expected_starts(day, day)]
    assert service.store.timestamps("AAPL", "1m").equals(pd.DatetimeIndex(good_minutes))

    healthy = open_service(start_gateway(), library=library)
    resumed = healthy.resume(job.id)
    assert healthy.wait(job.id, timeout=30)
    assert resumed.status().state is JobState.DONE
    assert healthy.store.timestamps("AAPL", "1m").equals(
        expected_starts("2024-01-02", "2024-01-12")
    )


def test_an_answer_with_no_bar_in_the_segment_fails_it() -> None:
    # Bars of another day (a gateway answering the wrong window): nothing to store, not done.
    friday = CALENDAR.sessions_for_dates(pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-05"))
    limits = RequestLimits(Duration(1, "D"), 2000)
    (segment,) = cut_segments(friday, {friday[0].ordinal: 390}, limits)

    def problem(day: str) -> str | None:
        starts = expected_starts(day, day)
        answer = bars_frame(starts, dict.fromkeys(PRICE_COLUMNS, np.full(len(starts), 10.0)))
        trimmed = _trim(answer, segment, "1m")
        return _answer_problem("IB Gateway", answer, trimmed, segment, "1m", CALENDAR)

    assert problem("2024-01-04") == "the IB Gateway answered 390 bars, none in the segment"
    assert problem("2024-01-05") is None
