"""What load jobs share, and show alike: the gateway connection (a job waits for it and says
so, counting down; a client id in use moves on to the next), one load per dataset (in this
process or another), and one progress figure, live and after a restart."""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import GatewayAddress
from engine.core.jobs import JobState
from engine.core.pacing import PacingRules
from engine.loading.connection import RetryPolicy
from engine.loading.journal import JournalStore, LoadJournal, SegmentRecord, SegmentStatus
from engine.loading.load_job import LoadFailed, LoadJob, load_percent
from engine.loading.planner import LoadMode, Segment
from engine.loading.request import load_request
from engine.loading.service import LoadService
from engine.market.calendar import calendar_for
from engine.market.spans import Duration
from tests.support.fakes import FakeClock
from tests.support.sources import gateway_source

ROOT = Path(__file__).resolve().parents[2]
CALENDAR = calendar_for()
NOW = pd.Timestamp("2024-06-01 12:00", tz="UTC")
FAST_RETRY = RetryPolicy(first_delay_s=0.01, max_delay_s=0.05, transient_attempts=3)
_client_ids = itertools.count(400)


def request(symbols=("AAPL",), start="2024-01-02", end="2024-01-05"):
    return load_request(CALENDAR, list(symbols), "1m", start, end, "full", now=NOW)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def detail_seen(job: LoadJob, text: str) -> threading.Event:
    """Set once the job's progress line contains `text`."""
    seen = threading.Event()
    job.progress.subscribe(lambda snapshot: text in snapshot.detail and seen.set())
    if text in job.progress.snapshot().detail:
        seen.set()
    return seen


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., LoadService]]:
    opened: list[LoadService] = []

    def open_one(
        address: GatewayAddress,
        *,
        data_dir: Path | None = None,
        client_id: int | None = None,
        retry: RetryPolicy = FAST_RETRY,
        pacing: PacingRules | None = None,
        clock: Callable[[], float] | None = None,
    ) -> LoadService:
        options = {} if clock is None else {"clock": clock}
        source = gateway_source(
            address, next(_client_ids) if client_id is None else client_id, pacing
        )
        service = LoadService(data_dir or tmp_path / "data", source=source, retry=retry, **options)
        opened.append(service)
        return service

    yield open_one
    for service in opened:
        service.close()


# -- waiting for the gateway -------------------------------------------------------------------


def test_with_no_gateway_a_job_says_it_waits_and_counts_down_to_the_next_try(services) -> None:
    port = closed_port()
    clock = FakeClock()
    service = services(
        GatewayAddress("127.0.0.1", port),
        retry=RetryPolicy(first_delay_s=30, max_delay_s=60),
        clock=clock,
    )
    (job,) = service.start(request())
    assert detail_seen(job, "waiting for gateway").wait(10)
    status = job.status()
    assert (status.state, status.stage) == (JobState.RUNNING, "validate symbol")
    assert status.detail == f"waiting for gateway at 127.0.0.1:{port}, retry in 30 s"
    clock.advance(12)
    assert job.status().detail == f"waiting for gateway at 127.0.0.1:{port}, retry in 18 s"
    clock.advance(17.5)
    assert job.status().detail == f"waiting for gateway at 127.0.0.1:{port}, retry in 1 s"
    header = service.gateway_status().describe()
    assert header.startswith(f"disconnected, retry in 1 s: no IB Gateway at 127.0.0.1:{port}")

    service.cancel(job.id)  # a cancel does not wait for the next try
    assert service.wait(job.id, timeout=5)
    assert job.status().state is JobState.CANCELLED


def test_a_load_started_before_the_gateway_runs_once_it_answers(services, start_gateway) -> None:
    port = closed_port()
    service = services(GatewayAddress("127.0.0.1", port))
    (job,) = service.start(request(end="2024-01-03"))
    assert detail_seen(job, "waiting for gateway").wait(10)
    start_gateway(port=port)
    assert service.wait(job.id, timeout=30)
    assert job.status().state is JobState.DONE, job.status().error
    assert service.gateway_status().describe().startswith("connected (client id ")


def test_a_client_id_in_use_moves_on_to_the_next_one(services, start_gateway, tmp_path) -> None:
    # The app and a CLI, both configured with client id 7, on one gateway.
    gateway = start_gateway()
    app = services(gateway.address, data_dir=tmp_path / "one", client_id=7)
    cli = services(gateway.address, data_dir=tmp_path / "two", client_id=7)
    (first,) = app.start(request())
    assert app.wait(first.id, timeout=30)
    (second,) = cli.start(request(symbols=["MSFT"]))
    assert cli.wait(second.id, timeout=30)
    assert first.status().state is second.status().state is JobState.DONE
    assert (app.gateway_status().client_id, cli.gateway_status().client_id) == (7, 8)
    assert app.gateway_status().connected and cli.gateway_status().connected


# -- one load per dataset ----------------------------------------------------------------------


def test_a_dataset_loads_once_at_a_time_in_this_process(services, start_gateway) -> None:
    gateway = start_gateway(latency_ms=50)
    service = services(gateway.address)
    (first,) = service.start(request())
    busy = f"AAPL 1m is already being loaded by job {first.id}: wait for it or cancel it"
    with pytest.raises(LoadFailed, match=re.escape(busy)):
        service.start(request(start="2024-01-08", end="2024-01-09"))  # other sessions too
    with pytest.raises(LoadFailed, match=re.escape(busy)):
        service.start(request(symbols=["MSFT", "AAPL"]))  # nothing of it starts
    assert [s.symbol for s in service.statuses(persisted=False)] == ["AAPL"]

    (msft,) = service.start(request(symbols=["MSFT"]))  # the refused request left no lock
    for job in (first, msft):
        assert service.wait(job.id, timeout=30)
        assert job.status().state is JobState.DONE
    (again,) = service.start(request())  # the first one's end freed AAPL 1m
    assert service.wait(again.id, timeout=30)
    assert again.status().state is JobState.DONE and again.status().requests == 0


def test_a_load_in_another_process_is_refused_until_that_process_ends(
    services, start_gateway, tmp_path
) -> None:
    holds_the_lock = (
        "import sys; from pathlib import Path; from engine.loading.locks import lock_dataset; "
        "lock_dataset(Path(sys.argv[1]), 'AAPL', '1m', 'feedfeed0001'); print('locked', "
        "flush=True); sys.stdin.read()"
    )
    locks = tmp_path / "data" / "locks"
    holder = subprocess.Popen(
        [sys.executable, "-c", holds_the_lock, str(locks)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        service = services(start_gateway().address)
        busy = f"AAPL 1m is already being loaded by job feedfeed0001 (process {holder.pid})"
        with pytest.raises(LoadFailed, match=re.escape(busy)):
            service.start(request())
    finally:
        holder.kill()  # no release: the OS drops the lock with the process
        holder.communicate()
    (job,) = service.start(request())
    assert service.wait(job.id, timeout=30)
    assert job.status().state is JobState.DONE
    assert list(locks.iterdir()) == []  # released and removed once the job ended


def test_resume_records_the_process_that_resumes(services, start_gateway, tmp_path) -> None:
    store = JournalStore(tmp_path / "data" / "jobs")
    store.save(
        LoadJournal(
            job_id="0123456789ab",
            symbol="AAPL",
            timeframe="1m",
            mode=LoadMode.FULL,
            start="2024-01-02",
            end="2024-01-03",
            source="sim",
            state=JobState.INTERRUPTED,
            created_at="2024-06-01T00:00:00+00:00",
            updated_at="2024-06-01T00:00:00+00:00",
            pid=2**22 + 12345,  # beyond pid_max: a process that died
        )
    )
    service = services(start_gateway().address)
    job = service.resume("0123456789ab")
    assert service.wait(job.id, timeout=30)
    assert job.status().state is JobState.DONE
    # Another process's `jobs` must not take the job for one whose process died.
    assert store.load("0123456789ab").pid == os.getpid()


# -- what a job shows -------------------------------------------------------------------------


def test_the_pacing_wait_counts_down(services, start_gateway) -> None:
    rules = PacingRules(
        max_requests=1,
        window_s=60.0,
        identical_window_s=0.1,
        per_contract_max=5,
        per_contract_window_s=0.1,
    )
    clock = FakeClock()
    service = services(start_gateway().address, pacing=rules, clock=clock)
    (job,) = service.start(request(end="2024-01-03"))  # two requests: the second waits a minute
    assert detail_seen(job, "for pacing").wait(20)
    detail = job.status().detail
    wait = re.fullmatch(r"Segment 2/2: 2024-01-02 · waiting (\d+) s for pacing \(.+\)", detail)
    assert wait, detail
    seconds = int(wait[1])
    assert 60 <= seconds <= 64
    clock.advance(20)
    assert f" · waiting {seconds - 20} s for pacing (" in job.status().detail
    clock.advance(seconds - 20.5)
    assert " · waiting 1 s for pacing (" in job.status().detail
    service.cancel(job.id)
    assert service.wait(job.id, timeout=5)


def test_a_failed_load_shows_one_percent_live_and_after_a_restart(services, start_gateway) -> None:
    service = services(start_gateway(no_data_every=4).address)
    (job,) = service.start(request(end="2024-01-12"))  # 9 sessions; 2 answer no data
    assert service.wait(job.id, timeout=30)
    live = job.status()
    assert live.state is JobState.FAILED
    assert (live.segments_done, live.segments_total) == (7, 9)
    assert live.percent == pytest.approx(100 * 7 / 9)  # what it got, not how far it went
    restarted = services(start_gateway().address)  # the same store: the job is only a journal now
    (read_back,) = [s for s in restarted.statuses() if s.job_id == job.id]
    assert read_back.percent == live.percent


@given(
    statuses=st.lists(st.sampled_from(list(SegmentStatus)), max_size=20),
    state=st.sampled_from(list(JobState)),
)
def test_load_percent_is_the_share_of_segments_done(
    statuses: list[SegmentStatus], state: JobState
) -> None:
    segments = tuple(
        SegmentRecord(
            index=i,
            segment=Segment(
                first_session=pd.Timestamp("2024-01-02"),
                last_session=pd.Timestamp("2024-01-02"),
                start=pd.Timestamp("2024-01-02 14:30", tz="UTC"),
                end=pd.Timestamp("2024-01-02 21:00", tz="UTC"),
                duration=Duration(1, "D"),
                sessions=1,
                expected_bars=390,
            ),
            status=status,
        )
        for i, status in enumerate(statuses, 1)
    )
    journal = LoadJournal(
        job_id="0123456789ab",
        symbol="AAPL",
        timeframe="1m",
        mode=LoadMode.FULL,
        start="2024-01-02",
        end="2024-01-02",
        source="sim",
        state=state,
        created_at="2024-06-01T00:00:00+00:00",
        updated_at="2024-06-01T00:00:00+00:00",
        segments=segments,
    )
    percent = load_percent(journal)
    assert 0.0 <= percent <= 100.0
    done = statuses.count(SegmentStatus.DONE)
    if state is JobState.DONE:
        assert percent == 100.0
    else:
        assert percent == (100.0 * done / len(statuses) if statuses else 0.0)
