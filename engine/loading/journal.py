"""A load job's journal: one JSON file per job under `<data-dir>/jobs/`, rewritten atomically
after every segment. It is what `resume`, `jobs` and the app read after a restart.

Journals are frozen values: the job replaces its journal as it goes, and any thread may read
the current one. A journal that cannot be read is quarantined, never a crash.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import pandas as pd

from engine.core.atomic import write_atomic
from engine.core.errors import first_line
from engine.core.jobs import JobState
from engine.core.processes import PID_MAX, alive_elsewhere
from engine.core.quarantine import Quarantine, QuarantinedFile
from engine.loading.planner import LoadMode, Segment
from engine.market.spans import Duration
from engine.market.store import QUARANTINE_DIR
from engine.market.symbols import check_symbol
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
    """A planned segment and how its fetching went; typed, written flat only by `to_json`."""

    index: int  # 1-based, in fetch order
    segment: Segment
    status: SegmentStatus = SegmentStatus.PENDING
    bars: int = 0
    retries: int = 0
    error: str = ""

    @property
    def label(self) -> str:
        return self.segment.label

    @property
    def expected_bars(self) -> int:
        return self.segment.expected_bars

    def to_json(self) -> dict[str, object]:
        return {
            **self._planned_json,
            "status": self.status,
            "bars": self.bars,
            "retries": self.retries,
            "error": self.error,
        }

    @cached_property
    def _planned_json(self) -> dict[str, object]:
        # Formatted once per record: a journal is written after every segment, and all but
        # one of its records are the same objects as at the last write.
        segment = self.segment
        return {
            "index": self.index,
            "first_session": f"{segment.first_session:%Y-%m-%d}",
            "last_session": f"{segment.last_session:%Y-%m-%d}",
            "start": segment.start.isoformat(),
            "end": segment.end.isoformat(),
            "duration": str(segment.duration),
            "sessions": segment.sessions,
            "expected_bars": segment.expected_bars,
        }

    @classmethod
    def from_json(cls, fields: dict[str, object]) -> SegmentRecord:
        """From the checked fields (`_SEGMENT_FIELDS`) of a journal's segment."""
        segment = Segment(
            first_session=pd.Timestamp(fields["first_session"]),
            last_session=pd.Timestamp(fields["last_session"]),
            start=pd.Timestamp(fields["start"]).tz_convert("UTC"),
            end=pd.Timestamp(fields["end"]).tz_convert("UTC"),
            duration=Duration.parse(fields["duration"]),
            sessions=fields["sessions"],
            expected_bars=fields["expected_bars"],
        )
        return cls(
            index=fields["index"],
            segment=segment,
            status=fields["status"],
            bars=fields["bars"],
            retries=fields["retries"],
            error=fields["error"],
        )


@dataclass(frozen=True)
class LoadJournal:
    job_id: str
    symbol: str
    timeframe: str
    mode: LoadMode
    start: str  # first session date of the range, YYYY-MM-DD
    end: str  # last session date of the range
    source: str  # the bar source's name: a resumed job fetches from the same kind of source
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
        data = {**vars(self), "segments": [s.to_json() for s in self.segments]}
        data["version"] = JOURNAL_VERSION
        return json.dumps(data, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LoadJournal:
        """A journal from its JSON, every field checked: a journal is read back after a crash
        or from another version, and a bad value (a pid of "abc", a count of 2**70) must fail
        here, in one line naming the field, not later in whatever uses it."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("version", None) != JOURNAL_VERSION:
            raise ValueError(f"not a version {JOURNAL_VERSION} load journal")
        fields = _checked(data, _JOURNAL_FIELDS, "")
        segments = fields["segments"]
        if not isinstance(segments, list):
            raise ValueError(f"segments: expected a list, got {_shown(segments)}")
        fields["segments"] = tuple(
            SegmentRecord.from_json(_checked(s, _SEGMENT_FIELDS, f"segment {i}: "))
            for i, s in enumerate(segments, 1)
        )
        journal = cls(**fields)
        if journal.end < journal.start:
            raise ValueError(f"end {journal.end} is before start {journal.start}")
        for i, record in enumerate(journal.segments, 1):
            if record.index != i:
                raise ValueError(f"segment {i}: index {record.index} out of order")
            segment = record.segment
            late = segment.end <= segment.start
            if segment.last_session < segment.first_session or late:
                raise ValueError(f"segment {i}: ends before it starts")
        return journal


# -- checks of the fields read from a journal: each returns the value or raises ValueError ------

_MAX_COUNT = 2**53  # counts beyond any load, yet exact in every JSON reader
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SOURCE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {_shown(value)}")
    return value


def _count(value: object, low: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= _MAX_COUNT:
        raise ValueError(f"expected a whole number from {low} to 2**53, got {_shown(value)}")
    return value


def _pid(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= PID_MAX:
        raise ValueError(f"expected a process id from 1 to {PID_MAX}, got {_shown(value)}")
    return value


def _job_id(value: object) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isalnum():
        raise ValueError(f"expected letters and digits, got {_shown(value)}")
    return value


def _symbol(value: object) -> str:
    return check_symbol(_text(value))


def _date(value: object) -> str:
    """YYYY-MM-DD, a day pandas can represent."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(f"expected a date YYYY-MM-DD, got {_shown(value)}")
    _timestamp(value)
    return value


def _instant(value: object) -> str:
    """An ISO datetime with its zone, as now_iso() and Segment write them."""
    if not isinstance(value, str) or _timestamp(value).tzinfo is None:
        raise ValueError(f"expected an ISO datetime with a zone, got {_shown(value)}")
    return value


def _timestamp(text: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, OverflowError):
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ValueError(f"expected an ISO date or datetime, got {_shown(text)}")
    return stamp


def _duration(value: object) -> str:
    text = _text(value)
    if str(Duration.parse(text)) != text:
        raise ValueError(f"expected a duration such as '1 D', got {_shown(value)}")
    return text


def _choice(kind: type[StrEnum]) -> Callable[[object], StrEnum]:
    def check(value: object) -> StrEnum:
        try:
            return kind(value)
        except ValueError:
            names = ", ".join(member.value for member in kind)
            raise ValueError(f"expected one of {names}, got {_shown(value)}") from None

    return check


def _source_name(value: object) -> str:
    # Any source's name, not only the registered ones: a source handed to the service
    # directly has journals too, and `resume` checks the name against its own.
    if not isinstance(value, str) or not _SOURCE_NAME.fullmatch(value):
        raise ValueError(f"expected a source name such as 'ib', got {_shown(value)}")
    return value


def _timeframe(value: object) -> str:
    return check_timeframe(_text(value))


_JOURNAL_FIELDS: dict[str, Callable[[object], object]] = {
    "job_id": _job_id,
    "symbol": _symbol,
    "timeframe": _timeframe,
    "mode": _choice(LoadMode),
    "start": _date,
    "end": _date,
    "source": _source_name,
    "state": _choice(JobState),
    "created_at": _instant,
    "updated_at": _instant,
    "segments": lambda value: value,  # a list of segments, checked one by one
    "requests": _count,
    "bars_fetched": _count,
    "error": _text,
    "pid": _pid,
}
_SEGMENT_FIELDS: dict[str, Callable[[object], object]] = {
    "index": lambda value: _count(value, low=1),
    "first_session": _date,
    "last_session": _date,
    "start": _instant,
    "end": _instant,
    "duration": _duration,
    "sessions": lambda value: _count(value, low=1),
    "expected_bars": _count,
    "status": _choice(SegmentStatus),
    "bars": _count,
    "retries": _count,
    "error": _text,
}


def _checked(
    data: object, checks: dict[str, Callable[[object], object]], where: str
) -> dict[str, object]:
    """Every field of `checks` present, valid and nothing else; `where` prefixes messages."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}expected an object, got {_shown(data)}")
    missing = [name for name in checks if name not in data]
    unknown = [name for name in data if name not in checks]
    if missing or unknown:
        problem = f"no field {missing[0]!r}" if missing else f"unknown field {unknown[0]!r}"
        raise ValueError(f"{where}{problem}")
    fields = {}
    for name, check in checks.items():
        try:
            fields[name] = check(data[name])
        except ValueError as exc:
            raise ValueError(f"{where}{name}: {exc}") from None
    return fields


class JournalError(Exception):
    """A journal cannot be found or read; the message is one line."""


class JournalStore:
    def __init__(self, directory: Path):
        self.directory = directory
        # Journals found unreadable and moved aside, oldest first: the CLI and the app say so.
        self._quarantine_of = Quarantine(log)
        self.quarantined: list[QuarantinedFile] = self._quarantine_of.moved  # for the front ends

    def path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def save(self, journal: LoadJournal) -> None:
        write_atomic(self.path(journal.job_id), journal.to_json().encode())

    def load(self, job_id: str) -> LoadJournal:
        path = self.path(job_id)
        if not job_id.isalnum() or not path.is_file():
            raise JournalError(f"no load job {job_id!r} in {self.directory}")
        try:
            journal = LoadJournal.from_json(path.read_text(encoding="utf-8"))
            if journal.job_id != job_id:
                raise ValueError(f"job_id {journal.job_id!r} is not the file's name")
        except (OSError, ValueError, RecursionError) as exc:
            # ValueError covers bad JSON and bad UTF-8; RecursionError JSON nested too deep.
            raise JournalError(self._quarantine(path, first_line(exc))) from None
        return journal

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
            if journal.state in _ACTIVE and not alive_elsewhere(journal.pid):
                recovered.append(self.mark_interrupted(journal))
        return recovered

    def mark_interrupted(self, journal: LoadJournal) -> LoadJournal:
        """The journal of a job whose process is gone, saved as resumable."""
        journal = replace(journal, state=JobState.INTERRUPTED, updated_at=now_iso())
        self.save(journal)
        return journal

    def _quarantine(self, path: Path, reason: str) -> str:
        """Move an unreadable journal aside; the one line that says what happened."""
        return self._quarantine_of.move(
            path, self.directory.parent / QUARANTINE_DIR / "jobs", reason
        )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
