"""Load journals read back from disk: every field is checked, and a bad journal is quarantined
with a message naming it (and the field), never a crash of `jobs`, `load` or the app."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import GatewayAddress
from engine.core.jobs import JobState
from engine.loading.journal import (
    JournalError,
    JournalStore,
    LoadJournal,
    SegmentRecord,
    SegmentStatus,
)
from engine.loading.planner import LoadMode, Segment
from engine.loading.request import load_request
from engine.loading.service import LoadService, journal_status
from engine.market.calendar import calendar_for
from engine.market.spans import Duration
from tests.support.cli_run import run
from tests.support.sources import gateway_source

SEGMENT = SegmentRecord(
    index=1,
    segment=Segment(
        first_session=pd.Timestamp("2024-01-02"),
        last_session=pd.Timestamp("2024-01-02"),
        start=pd.Timestamp("2024-01-02 14:30", tz="UTC"),
        end=pd.Timestamp("2024-01-02 21:00", tz="UTC"),
        duration=Duration(1, "D"),
        sessions=1,
        expected_bars=390,
    ),
    status=SegmentStatus.DONE,
    bars=390,
)
JOURNAL = LoadJournal(
    job_id="abc123def456",
    symbol="AAPL",
    timeframe="1m",
    mode=LoadMode.FULL,
    start="2024-01-02",
    end="2024-01-03",
    source="sim",
    state=JobState.RUNNING,
    created_at="2024-01-04T00:00:00+00:00",
    updated_at="2024-01-04T00:01:00+00:00",
    segments=(SEGMENT, replace(SEGMENT, index=2, status=SegmentStatus.PENDING, bars=0)),
    requests=1,
    bars_fetched=390,
    pid=2**22 + 12345,  # beyond pid_max: no such process
)


def write(store: JournalStore, document: dict) -> Path:
    path = store.path(JOURNAL.job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def document() -> dict:
    return json.loads(JOURNAL.to_json())


def test_a_journal_reads_back_as_written(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "jobs")
    store.save(JOURNAL)
    assert store.load(JOURNAL.job_id) == JOURNAL
    assert store.quarantined == []


def _set(path: tuple, value: object):
    def change(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(key: str):
    return lambda data: data.pop(key)


BAD = {
    # The three of the issue: each broke `jobs`, every `load` and the app.
    "pid-text": (
        _set(("pid",), "abc"),
        "pid: expected a process id from 1 to 2147483647, got 'abc'",
    ),
    "pid-huge": (_set(("pid",), 2**70), "pid: expected a process id"),
    "pid-zero": (_set(("pid",), 0), "pid: expected a process id"),  # os.kill(0) is the group
    "pid-bool": (_set(("pid",), True), "pid: expected a process id"),
    "requests-negative": (_set(("requests",), -1), "requests: expected a whole number from 0"),
    "bars-huge": (_set(("bars_fetched",), 2**70), "bars_fetched: expected a whole number"),
    "bars-float": (_set(("bars_fetched",), 1.5), "bars_fetched: expected a whole number"),
    "symbol-path": (_set(("symbol",), "../etc"), "symbol: bad symbol '../etc'"),
    "timeframe": (_set(("timeframe",), "2m"), "timeframe: unknown timeframe '2m'"),
    "mode": (_set(("mode",), "sideways"), "mode: expected one of local, tail, backfill, full"),
    "state": (_set(("state",), None), "state: expected one of queued"),
    "source": (
        _set(("source",), "IB Gateway"),
        "source: expected a source name such as 'ib', got 'IB Gateway'",
    ),
    "start-date": (_set(("start",), "2024-13-01"), "start: expected an ISO date"),
    "start-text": (_set(("start",), "yesterday"), "start: expected a date YYYY-MM-DD"),
    "end-before-start": (_set(("end",), "2023-12-29"), "end 2023-12-29 is before start"),
    "created-naive": (_set(("created_at",), "2024-01-04T00:00:00"), "created_at: expected an ISO"),
    "error-number": (_set(("error",), 5), "error: expected text, got 5"),
    "job-id": (_set(("job_id",), "other1"), "job_id 'other1' is not the file's name"),
    "no-pid": (_drop("pid"), "no field 'pid'"),
    "extra": (_set(("owner",), "me"), "unknown field 'owner'"),
    "segments-not-list": (_set(("segments",), {}), "segments: expected a list, got {}"),
    "segment-not-object": (_set(("segments", 1), 7), "segment 2: expected an object, got 7"),
    "segment-status": (_set(("segments", 0, "status"), "lost"), "segment 1: status: expected"),
    "segment-bars": (_set(("segments", 1, "bars"), 2**70), "segment 2: bars: expected a whole"),
    "segment-index": (_set(("segments", 1, "index"), 1), "segment 2: index 1 out of order"),
    "segment-sessions": (_set(("segments", 0, "sessions"), 0), "segment 1: sessions: expected"),
    "segment-duration": (_set(("segments", 0, "duration"), "1 X"), "segment 1: duration: invalid"),
    "segment-end": (_set(("segments", 0, "end"), "2024-01-01T00:00:00+00:00"), "ends before"),
    "version": (_set(("version",), 2), "not a version 1 load journal"),
}


@pytest.mark.parametrize(("change", "expected"), list(BAD.values()), ids=list(BAD))
def test_a_bad_field_quarantines_the_journal_naming_it(tmp_path: Path, change, expected) -> None:
    store = JournalStore(tmp_path / "jobs")
    data = document()
    change(data)
    path = write(store, data)
    with pytest.raises(JournalError) as raised:
        store.load(JOURNAL.job_id)
    (moved,) = store.quarantined
    assert str(raised.value) == moved.describe()
    assert str(raised.value).startswith(f"{path} is unreadable (")
    assert expected in moved.reason and "\n" not in moved.reason
    assert moved.moved_to.parent == tmp_path / "quarantine" / "jobs"
    assert moved.moved_to.read_text() == json.dumps(data)  # kept for the user, untouched
    assert not path.exists()
    assert store.all() == [] and store.recover_interrupted() == []


def test_a_journal_with_pid_zero_is_not_taken_for_a_live_job(tmp_path: Path) -> None:
    # Before: os.kill(0, 0) signals our own group and succeeds, so a "running" job of pid 0
    # stayed running forever, never resumable.
    store = JournalStore(tmp_path / "jobs")
    write(store, {**document(), "pid": 0})
    assert store.recover_interrupted() == []
    assert len(store.quarantined) == 1


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
FIELDS = [(key,) for key in document()] + [("segments", 0, key) for key in vars(SEGMENT)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(FIELDS), value=JSON_VALUES)
def test_any_value_in_any_field_reads_cleanly_or_is_quarantined(
    tmp_path_factory: pytest.TempPathFactory, where: tuple, value: object
) -> None:
    store = JournalStore(tmp_path_factory.mktemp("journals") / "jobs")
    data = document()
    _set(where, value)(data)
    path = write(store, data)
    try:
        journal = store.load(JOURNAL.job_id)
    except JournalError:
        assert not path.exists() and len(store.quarantined) == 1
        return
    # Whatever passed the checks is usable by everything that reads journals.
    assert LoadJournal.from_json(journal.to_json()) == journal
    journal_status(journal).to_json()
    store.recover_interrupted()


def test_jobs_and_load_say_what_they_quarantined(capsys, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = JournalStore(data_dir / "jobs")
    path = write(store, {**document(), "pid": "abc"})
    code, out, err = run(capsys, "jobs", "--data-dir", str(data_dir))
    assert (code, out) == (0, "")
    (moved,) = (data_dir / "quarantine" / "jobs").iterdir()
    assert err.splitlines() == [
        f"ktrdr-tui: warning: {path} is unreadable (pid: expected a process id from 1 to "
        f"2147483647, got 'abc'); moved to {moved}",
        f"no load jobs in {store.directory}",
    ]

    path = write(store, {**document(), "requests": 2**70})
    load = ("load", "AAPL", "--timeframe", "1m", "--start", "2024-01-02", "--end", "2024-01-02",
            "--source", "sim", "--data-dir", str(data_dir))  # fmt: skip
    code, _, err = run(capsys, *load)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"ktrdr-tui: warning: {path} is unreadable (requests: ")
    assert "Traceback" not in err


def test_an_unreadable_file_that_cannot_be_moved_is_still_one_line(tmp_path: Path) -> None:
    store = JournalStore(tmp_path / "jobs")
    path = write(store, {**document(), "pid": "abc"})
    (tmp_path / "quarantine").write_text("a file where the folder should be")
    with pytest.raises(JournalError) as raised:
        store.load(JOURNAL.job_id)
    assert str(raised.value).startswith(f"{path} is unreadable (pid: ")
    assert "cannot be moved aside" in str(raised.value)
    assert path.exists() and store.quarantined == []


def test_our_own_pid_counts_as_dead_for_journals_only(tmp_path: Path) -> None:
    """A journal with this process's id is from before a restart that reused the id."""
    store = JournalStore(tmp_path / "jobs")
    store.save(replace(JOURNAL, pid=os.getpid()))
    assert [j.state for j in store.recover_interrupted()] == [JobState.INTERRUPTED]


def test_a_local_report_job_writes_no_journal(tmp_path: Path) -> None:
    """The app's `local` mode runs as a job (its row shows the report), but has nothing to
    resume: before, it left a journal that every later `jobs` listed as done."""
    service = LoadService(tmp_path, source=gateway_source(GatewayAddress("127.0.0.1", 1)))
    try:
        request = load_request(
            calendar_for(), ["AAPL"], "1m", "2024-01-02", "2024-01-05", "local",
            now=pd.Timestamp("2024-03-15T22:00Z"),
        )  # fmt: skip
        (job,) = service.start(request)
        assert service.wait(job.id, timeout=30)
        assert job.status().state is JobState.DONE
        assert not (tmp_path / "jobs").exists() or list((tmp_path / "jobs").iterdir()) == []
        assert service.journals.all() == []
    finally:
        service.close()
