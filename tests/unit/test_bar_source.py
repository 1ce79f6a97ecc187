"""The data-source seam: a second source, defined in this file alone, plugs into load jobs
(handed to the service, or registered by name) and its errors go through its own retry-policy
table. Nothing here talks to IB."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.clock import FixedClock
from engine.config import Config
from engine.core.cancellation import CancelToken
from engine.core.jobs import JobState
from engine.core.retry import Recovery
from engine.loading.bar_source import SOURCES, BarSource
from engine.loading.connection import RetryPolicy
from engine.loading.journal import SegmentStatus
from engine.loading.load_job import LoadFailed
from engine.loading.request import load_request
from engine.loading.service import LoadService, journal_status
from engine.market.calendar import TradingCalendar, calendar_for
from engine.market.schema import PRICE_COLUMNS, bars_frame
from engine.market.spans import Duration
from engine.market.timeframes import TIMEFRAME_SECONDS
from engine.source import SourceChoice

CALENDAR = calendar_for()
NOW = pd.Timestamp("2024-06-01 12:00", tz="UTC")
FAST_RETRY = RetryPolicy(first_delay_s=0.01, max_delay_s=0.01, transient_attempts=3)


class Flaky(Exception):
    """The fake failed this time."""


class Gone(Exception):
    """The fake lost its connection."""


class Unknown(Exception):
    """The fake has no such symbol."""


class FakeSource:
    """Bars from memory: a price of 100 for every bar of every session; at most one session
    of minutes per request (500 bars), unlike IB's 2000."""

    name = "fake"
    label = "fake source"
    address = "memory"
    client_id = 0
    pacing = None
    _TABLE = {Flaky: Recovery.RETRY, Gone: Recovery.RECONNECT, Unknown: Recovery.FAIL_JOB}

    def __init__(self, calendar: TradingCalendar, failures: tuple[Exception, ...] = ()):
        self.calendar = calendar
        self.connected = False
        self.connects = 0
        self.closed = False
        self.fetches: list[tuple[pd.Timestamp, Duration]] = []
        self._failures = list(failures)  # raised by the first fetches, in order

    def connect(self, token: CancelToken) -> None:
        self.connects += 1
        self.connected = True

    def disconnect(self) -> None:
        self.connected = False

    def close(self) -> None:
        self.closed, self.connected = True, False

    def check_symbol(self, symbol: str, token: CancelToken) -> None:
        if symbol != "FAKE":
            raise Unknown(f"the fake source has no {symbol!r}")

    def head_timestamp(self, symbol: str, token: CancelToken) -> pd.Timestamp:
        return pd.Timestamp("2020-01-02", tz="UTC")

    def fetch(
        self, symbol: str, timeframe: str, end: pd.Timestamp, span: Duration, token: CancelToken
    ) -> pd.DataFrame:
        self.fetches.append((end, span))
        if self._failures:
            failure = self._failures.pop(0)
            if isinstance(failure, Gone):
                self.connected = False
            raise failure
        sessions = self.calendar.sessions_between(span.start_before(end), end)
        starts = self.calendar.bar_starts(sessions, TIMEFRAME_SECONDS[timeframe])
        return bars_frame(starts, dict.fromkeys(PRICE_COLUMNS, np.full(len(starts), 100.0)))

    def longest_span(self, timeframe: str) -> Duration:
        return Duration(1, "W")

    def max_bars(self, timeframe: str) -> int:
        return 500

    def recovery(self, exc: BaseException) -> Recovery | None:
        return self._TABLE.get(type(exc))


def _is_a_bar_source(source: BarSource) -> BarSource:
    return source  # type-checked: FakeSource satisfies the protocol


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[LoadService]]:
    opened: list[LoadService] = []
    yield opened
    for service in opened:
        service.close()


def run(service: LoadService, symbol: str = "FAKE", end: str = "2024-01-05"):
    request = load_request(CALENDAR, [symbol], "1m", "2024-01-02", end, "full", now=NOW)
    (job,) = service.start(request)
    assert service.wait(job.id, timeout=30)
    return job.status()


def minutes(start: str, end: str) -> pd.DatetimeIndex:
    sessions = CALENDAR.sessions_for_dates(pd.Timestamp(start), pd.Timestamp(end))
    return CALENDAR.bar_starts(sessions, 60)


def test_a_fake_source_handed_to_the_service_loads_with_its_own_limits(tmp_path, services):
    fake = _is_a_bar_source(FakeSource(CALENDAR))
    service = LoadService(tmp_path / "data", source=fake, retry=FAST_RETRY)
    services.append(service)
    status = run(service)
    assert status.state is JobState.DONE, status.error
    assert service.store.timestamps("FAKE", "1m").equals(minutes("2024-01-02", "2024-01-05"))
    # 390 minutes a session and at most 500 bars a request: one request per session, where
    # IB's 2000 would have taken the four sessions in two.
    assert len(fake.fetches) == status.requests == status.segments_total == 4
    assert service.journals.load(status.job_id).source == "fake"
    service.close()
    assert fake.closed


def test_a_source_registered_by_name_is_opened_and_its_journals_read_back(
    tmp_path, services, monkeypatch
):
    made: list[FakeSource] = []

    def open_fake(config: Config, **options: object) -> FakeSource:
        made.append(FakeSource(CALENDAR))
        return made[-1]

    monkeypatch.setitem(SOURCES, "fake", open_fake)
    config = Config(data_dir=tmp_path / "data", now=FixedClock.parse("2024-06-01T12:00Z"))
    choice = SourceChoice("fake", config.gateway, "chosen by the test")
    first = LoadService.for_config(config, choice, retry=FAST_RETRY)
    services.append(first)
    status = run(first, end="2024-01-03")
    assert status.state is JobState.DONE, status.error
    first.close()

    again = LoadService.for_config(config, choice, retry=FAST_RETRY)
    services.append(again)
    (listed,) = again.statuses()
    assert (listed.job_id, listed.state, listed.segments_done) == (status.job_id, JobState.DONE, 2)
    assert len(made) == 2 and made[0].closed


def test_the_fake_sources_retry_table_drives_retry_and_reconnect(tmp_path, services):
    fake = FakeSource(CALENDAR, failures=(Flaky("busy"), Gone("dropped"), Flaky("busy")))
    service = LoadService(tmp_path / "data", source=fake, retry=FAST_RETRY)
    services.append(service)
    status = run(service, end="2024-01-02")
    assert status.state is JobState.DONE, status.error
    (segment,) = status.segments
    assert (segment.status, segment.retries) == (SegmentStatus.DONE, 3)
    assert len(fake.fetches) == 4
    assert fake.connects == 2  # connected for the job, then again after Gone


def test_transient_errors_past_the_policy_fail_the_segment_and_unknown_symbols_the_job(
    tmp_path, services
):
    fake = FakeSource(CALENDAR, failures=(Flaky("busy"),) * 3)
    service = LoadService(tmp_path / "data", source=fake, retry=FAST_RETRY)
    services.append(service)
    status = run(service, end="2024-01-02")
    assert status.state is JobState.FAILED
    (segment,) = status.segments
    assert (segment.status, segment.error) == (SegmentStatus.FAILED, "busy")
    assert len(fake.fetches) == FAST_RETRY.transient_attempts

    unknown = run(service, symbol="NOPE")
    assert unknown.state is JobState.FAILED
    assert unknown.error == "the fake source has no 'NOPE'"
    assert len(fake.fetches) == FAST_RETRY.transient_attempts  # nothing fetched for it


# -- resume and remove reserve the job id ------------------------------------------------------


def test_a_fast_double_resume_starts_one_job_on_a_journal(tmp_path, services):
    fake = FakeSource(CALENDAR, failures=(Flaky("busy"),) * 3)
    service = LoadService(tmp_path / "data", source=fake, retry=FAST_RETRY)
    services.append(service)
    failed = run(service, end="2024-01-02")
    assert failed.state is JobState.FAILED
    # The first `r` reads the journal; the second comes before it registers its job, and the
    # first goes on (with the journal it read) only once the second has returned and any job
    # it started has ended.
    first_reading, second_done = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}
    load = service.journals.load

    def slow_first_load(job_id: str):
        journal = load(job_id)
        if threading.current_thread().name == "first":
            first_reading.set()
            assert second_done.wait(10)
        return journal

    service.journals.load = slow_first_load  # type: ignore[method-assign]

    def resume(name: str) -> None:
        try:
            job = service.resume(failed.job_id)
            assert service.wait(job.id, timeout=30)
            outcomes[name] = job
        except LoadFailed as exc:
            outcomes[name] = exc
        finally:
            if name == "second":
                second_done.set()

    first = threading.Thread(target=resume, args=("first",), name="first")
    first.start()
    assert first_reading.wait(10)
    resume("second")
    first.join(30)
    assert isinstance(outcomes["second"], LoadFailed), outcomes
    assert str(outcomes["second"]) == f"job {failed.job_id} is being resumed or removed already"
    assert outcomes["first"].status().state is JobState.DONE  # type: ignore[union-attr]
    assert len(fake.fetches) == 3 + 1  # the failed tries, then one resumed fetch


def test_remove_refuses_while_a_resume_holds_the_id(tmp_path, services):
    fake = FakeSource(CALENDAR, failures=(Flaky("busy"),) * 3)
    service = LoadService(tmp_path / "data", source=fake, retry=FAST_RETRY)
    services.append(service)
    failed = run(service, end="2024-01-02")
    reserved = service._reserve(failed.job_id)  # what a resume holds while it works
    with reserved, pytest.raises(LoadFailed, match="being resumed or removed already"):
        service.remove(failed.job_id)
    assert service.journals.path(failed.job_id).is_file()
    service.remove(failed.job_id)
    assert not service.journals.path(failed.job_id).exists()


# -- a job's state lives in its journal --------------------------------------------------------


def test_every_job_event_finds_the_journal_in_that_state_already(tmp_path, services):
    fake = FakeSource(CALENDAR, failures=(Flaky("busy"),) * 3)
    service = LoadService(tmp_path / "data", source=fake, retry=FAST_RETRY)
    services.append(service)
    seen: list[tuple[JobState, JobState, JobState | None]] = []

    def listen(event) -> None:
        status = next(s for s in service.statuses(persisted=False) if s.job_id == event.job_id)
        path = service.journals.path(event.job_id)
        on_disk = service.journals.load(event.job_id).state if path.is_file() else None
        seen.append((event.state, status.state, on_disk))

    service.subscribe(listen)
    failed = run(service, end="2024-01-02")  # fails with a plan: its journal is on disk
    assert failed.state is JobState.FAILED
    assert seen == [
        (JobState.RUNNING, JobState.RUNNING, None),  # no plan yet, so no journal
        (JobState.FAILED, JobState.FAILED, JobState.FAILED),
    ]
    seen.clear()
    resumed = service.resume(failed.job_id)
    assert service.wait(resumed.id, timeout=30)
    assert seen == [
        (JobState.RUNNING, JobState.RUNNING, JobState.RUNNING),
        (JobState.DONE, JobState.DONE, JobState.DONE),
    ]


def test_an_ended_job_shows_the_same_live_as_read_back_from_its_journal(tmp_path, services):
    # The Jobs pane shows both kinds of row as they come: before, a live ended job kept its
    # last progress line and rate where one read back showed why it ended.
    fake = FakeSource(CALENDAR, failures=(Flaky("busy"),) * 3)
    service = LoadService(tmp_path / "data", source=fake, retry=FAST_RETRY)
    services.append(service)
    live = run(service, end="2024-01-02")
    stored = journal_status(service.journals.load(live.job_id))
    shown = ("state", "detail", "error", "rate_bars_s", "eta_s", "percent", "segments")
    assert {name: getattr(live, name) for name in shown} == {
        name: getattr(stored, name) for name in shown
    }
    assert live.state is JobState.FAILED
    assert live.detail == "1 of 1 segments failed (first: 2024-01-02: busy)"


def test_a_journal_that_cannot_be_saved_at_the_end_still_ends_the_job_and_frees_the_dataset(
    tmp_path, services, caplog
):
    # Before: the end reached the journal through a listener; a failed write there skipped the
    # release of the dataset's lock, and every later load of it was refused as busy.
    fake = FakeSource(CALENDAR)
    service = LoadService(tmp_path / "data", source=fake, retry=FAST_RETRY)
    services.append(service)
    save = service.journals.save

    def save_but_not_the_end(journal) -> None:
        if journal.state.ended:
            raise OSError(28, "No space left on device")
        save(journal)

    service.journals.save = save_but_not_the_end  # type: ignore[method-assign]
    first = run(service, end="2024-01-02")
    assert first.state is JobState.DONE  # in memory, as the runner has it
    assert "cannot save its journal (done)" in caplog.text
    service.journals.save = save  # type: ignore[method-assign]
    again = run(service, end="2024-01-03")  # the same dataset: not refused as busy
    assert again.state is JobState.DONE, again.error
