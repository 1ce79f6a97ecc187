"""A load job's journal: one JSON file per job under `<data-dir>/jobs/`, rewritten atomically
after every segment. It is what `resume`, `jobs` and the app read after a restart.

Journals are frozen values: the job replaces its journal as it goes, and any thread may read
the current one. A journal that cannot be read is quarantined, never a crash.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import pandas as pd

from engine.core.atomic import write_atomic
from engine.core.jobs import JobState
from engine.ib.durations import Duration
from engine.loading.planner import LoadMode, Segment
from engine.market.timeframes import check_timeframe

log = logging.getLogger(__name__)

JOURNAL_VERSION = 1
# States a journal can only be in while some process works on it.
_ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING})


class SegmentStatus(StrEnum):
    PENDING = "pending"
    WAITING = "waiting for pacing"
    FETCHING = "fetching"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class SegmentRecord:
    index: int  # 1-based, in fetch order
    first_session: str  # YYYY-MM-DD
    last_session: str
    start: str  # ISO UTC: the first session's open
    end: str  # ISO UTC: the request's endDateTime
    duration: str  # IB durationStr
    sessions: int
    expected_bars: int
    status: SegmentStatus = SegmentStatus.PENDING
    bars: int = 0
    retries: int = 0
    error: str = ""

    @classmethod
    def from_segment(cls, index: int, segment: Segment) -> SegmentRecord:
        return cls(
            index=index,
            first_session=f"{segment.first_session:%Y-%m-%d}",
            last_session=f"{segment.last_session:%Y-%m-%d}",
            start=segment.start.isoformat(),
            end=segment.end.isoformat(),
            duration=str(segment.duration),
            sessions=segment.sessions,
            expected_bars=segment.expected_bars,
        )

    def segment(self) -> Segment:
        return Segment(
            first_session=pd.Timestamp(self.first_session),
            last_session=pd.Timestamp(self.last_session),
            start=pd.Timestamp(self.start).tz_convert("UTC"),
            end=pd.Timestamp(self.end).tz_convert("UTC"),
            duration=Duration.parse(self.duration),
            sessions=self.sessions,
            expected_bars=self.expected_bars,
        )

    @property
    def label(self) -> str:
        first, last = self.first_session, self.last_session
        return first if first == last else f"{first} → {last}"


@dataclass(frozen=True)
class LoadJournal:
    job_id: str
    symbol: str
    timeframe: str
    mode: LoadMode
    start: str  # first session date of the range, YYYY-MM-DD
    end: str  # last session date of the range
    source: str  # "sim" or "ib": a resumed job fetches from the same kind of source
    state: JobState
    created_at: str  # ISO UTC
    updated_at: str
    segments: tuple[SegmentRecord, ...] = ()
    requests: int = 0
    bars_fetched: int = 0
    error: str = ""
    pid: int = field(default_factory=os.getpid)  # the process working on it

    @property
    def segments_done(self) -> int:
        return sum(s.status is SegmentStatus.DONE for s in self.segments)

    @property
    def segments_failed(self) -> int:
        return sum(s.status is SegmentStatus.FAILED for s in self.segments)

    @property
    def bars_total(self) -> int:
        return sum(s.expected_bars for s in self.segments)

    def with_segment(self, record: SegmentRecord) -> LoadJournal:
        segments = list(self.segments)
        segments[record.index - 1] = record
        return replace(self, segments=tuple(segments), updated_at=now_iso())

    def to_json(self) -> str:
        # Written after every segment of loads with thousands of them: vars() and the compact
        # C encoder cost a tenth of asdict() and an indented dump (bench/bench_loading.py).
        data = {**vars(self), "segments": [vars(s) for s in self.segments]}
        data["version"] = JOURNAL_VERSION
        return json.dumps(data, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LoadJournal:
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("version", None) != JOURNAL_VERSION:
            raise ValueError(f"not a version {JOURNAL_VERSION} load journal")
        segments = tuple(
            SegmentRecord(**{**s, "status": SegmentStatus(s["status"])})
            for s in data.pop("segments")
        )
        journal = cls(
            **{
                **data,
                "mode": LoadMode(data["mode"]),
                "state": JobState(data["state"]),
                "segments": segments,
            }
        )
        check_timeframe(journal.timeframe)
        if any(s.index != i for i, s in enumerate(segments, 1)):
            raise ValueError("segments out of order")
        return journal


class JournalError(Exception):
    """A journal cannot be found or read; the message is one line."""


class JournalStore:
    def __init__(self, directory: Path):
        self.directory = directory

    def path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def save(self, journal: LoadJournal) -> None:
        write_atomic(self.path(journal.job_id), journal.to_json().encode())

    def load(self, job_id: str) -> LoadJournal:
        path = self.path(job_id)
        if not job_id.isalnum() or not path.is_file():
            raise JournalError(f"no load job {job_id!r} in {self.directory}")
        try:
            return LoadJournal.from_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            moved = self._quarantine(path, exc)
            raise JournalError(
                f"the journal of job {job_id} is unreadable ({exc}); moved to {moved}"
            ) from None

    def all(self) -> list[LoadJournal]:
        """Every readable journal, oldest first; unreadable ones are quarantined."""
        if not self.directory.is_dir():
            return []
        journals = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                journals.append(self.load(path.stem))
            except JournalError as exc:
                log.warning("%s", exc)
        return sorted(journals, key=lambda journal: journal.created_at)

    def delete(self, job_id: str) -> None:
        self.path(job_id).unlink(missing_ok=True)

    def recover_interrupted(self) -> list[LoadJournal]:
        """Journals left active by a process that is gone become `interrupted`: the crash or
        restart case of resume. Jobs of a live process (another terminal) stay as they are."""
        recovered = []
        for journal in self.all():
            if journal.state in _ACTIVE and not _process_alive(journal.pid):
                journal = replace(journal, state=JobState.INTERRUPTED, updated_at=now_iso())
                self.save(journal)
                recovered.append(journal)
        return recovered

    def _quarantine(self, path: Path, exc: Exception) -> Path:
        target = self.directory.parent / "quarantine" / "jobs" / f"{path.name}.{stamp()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        log.warning("quarantined unreadable journal %s (%s) as %s", path, exc, target)
        return target


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own journals from before a restart in this very process id
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
