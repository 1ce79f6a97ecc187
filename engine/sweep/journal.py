"""A sweep's journal: what was asked and how the job stands, as one JSON file per sweep under
`<data-dir>/jobs/sweeps/`, rewritten atomically at every change of state; and its results, one
JSON line per finished backtest in a file beside it, appended as they come.

Load journals are the `*.json` files of `jobs/` itself, so the two kinds never read each
other's files. A journal that cannot be read is quarantined (moved aside), never a crash. A
results file ends with a torn line after a crash in the middle of an append: that line is
dropped (its backtest runs again on `resume`), and cut off before the next append.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Container, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from engine.clock import system_clock
from engine.core.atomic import write_atomic
from engine.core.errors import first_line
from engine.core.jobs import JobState
from engine.core.processes import PID_MAX, alive_elsewhere
from engine.core.quarantine import Quarantine, QuarantinedFile
from engine.market.store import QUARANTINE_DIR
from engine.market.symbols import check_symbol
from engine.market.timeframes import check_timeframe
from engine.results import Statistics
from engine.trading_rules import TradingRules

log = logging.getLogger(__name__)

JOURNAL_VERSION = 1
SWEEPS_DIR = "sweeps"  # inside <data-dir>/jobs/
METRICS = tuple(f.name for f in fields(Statistics))
_ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING})


def now_iso() -> str:
    return system_clock().isoformat(timespec="seconds")


@dataclass(frozen=True)
class SweepRequest:
    """What a sweep was asked to do: enough to plan it again on `resume`."""

    symbols: tuple[str, ...]
    timeframe: str
    start: str  # as given: a date or an ISO datetime
    end: str
    strategies: tuple[str, ...]  # the GRID texts, as given
    rules: tuple[tuple[str, str], ...]  # trading-rule options (config keys) and their texts
    # The rules those texts change (config.toml's when the sweep began), as text.
    base_rules: tuple[tuple[str, str], ...] = ()
    strategy_files: tuple[str, ...] = ()  # `--strategy-file` paths, absolute
    allow_gaps: bool = False
    metric: str = "sharpe"
    top: int = 20
    out: str | None = None  # --out, absolute
    executor: str = "local"
    workers: int | None = None  # None: the executor's default
    address: str | None = None  # the Dask scheduler


def base_rules(request: SweepRequest) -> TradingRules:
    """The rules a sweep's rule texts change: as they were when it began."""
    return TradingRules.from_text(dict(request.base_rules))


@dataclass(frozen=True)
class SweepJournal:
    """A sweep: its request, what its plan came to, and its state."""

    job_id: str
    request: SweepRequest
    runs: int  # backtests to run
    skipped: int  # backtests not run: a strategy refused its values
    plan: str  # a digest of the backtests' tasks: a resume must plan the same ones
    bars: tuple[tuple[str, str], ...]  # (symbol, digest of its bars): a resume reads the same
    state: JobState = JobState.QUEUED
    error: str = ""
    elapsed_s: float = 0.0  # running time over every run of the job
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    pid: int = field(default_factory=os.getpid)

    def to_json(self) -> str:
        data = asdict(self)
        data["version"] = JOURNAL_VERSION
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SweepJournal:
        """A journal from its JSON, every field checked: one line naming the first bad one."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("version", None) != JOURNAL_VERSION:
            raise ValueError(f"not a version {JOURNAL_VERSION} sweep journal")
        checked = _checked(data, _JOURNAL_CHECKS, "")
        checked["request"] = SweepRequest(
            **_checked(checked["request"], _REQUEST_CHECKS, "request.")
        )
        return cls(**checked)


def _checked(data: object, checks: dict[str, Callable[[object], object]], where: str) -> dict:
    """Every field of `checks` present, valid and nothing else; `where` prefixes the names."""
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'the journal'} is not an object")
    missing = [name for name in checks if name not in data]
    unknown = [name for name in data if name not in checks]
    if missing or unknown:
        problem = f"no field {missing[0]!r}" if missing else f"unknown field {unknown[0]!r}"
        raise ValueError(f"{where.rstrip('.')}: {problem}" if where else problem)
    checked = {}
    for name, check in checks.items():
        try:
            checked[name] = check(data[name])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}{name}: {exc}") from None
    return checked


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r:.40}")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _count(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**53:
        raise ValueError(f"expected a whole number from 0 to 2**53, got {value!r:.40}")
    return value


def _texts(check: Callable[[object], str] = _text, at_least: int = 0) -> Callable:
    def texts(value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or len(value) < at_least:
            raise ValueError(f"expected a list of at least {at_least} texts, got {value!r:.40}")
        return tuple(check(item) for item in value)

    return texts


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(
        isinstance(pair, list) and len(pair) == 2 for pair in value
    ):
        raise ValueError(f"expected a list of [name, text] pairs, got {value!r:.40}")
    return tuple((_text(a), _text(b)) for a, b in value)


def _job_id(value: object) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isalnum():
        raise ValueError(f"expected letters and digits, got {value!r:.40}")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r:.40}")
    return value


def _choice(choices: Iterable[str]) -> Callable[[object], str]:
    allowed = tuple(choices)

    def check(value: object) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r:.40}")
        return value  # type: ignore[return-value]

    return check


def _seconds(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
        raise ValueError(f"expected seconds >= 0, got {value!r:.40}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number of seconds, got {value!r}")
    return float(value)


def _pid(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= PID_MAX:
        raise ValueError(f"expected a process id from 1 to {PID_MAX}, got {value!r:.40}")
    return value


_REQUEST_CHECKS: dict[str, Callable[[object], object]] = {
    "symbols": _texts(check_symbol, at_least=1),
    "timeframe": lambda value: check_timeframe(_text(value)),
    "start": _text,
    "end": _text,
    "strategies": _texts(at_least=1),
    "rules": _pairs,
    "base_rules": _pairs,
    "strategy_files": _texts(),
    "allow_gaps": _bool,
    "metric": _choice(METRICS),
    "top": _count,
    "out": _optional_text,
    "executor": _choice(("local", "dask")),
    "workers": lambda value: None if value is None else _count(value),
    "address": _optional_text,
}
_JOURNAL_CHECKS: dict[str, Callable[[object], object]] = {
    "job_id": _job_id,
    "request": lambda value: value,  # an object, checked field by field
    "runs": _count,
    "skipped": _count,
    "plan": _text,
    "bars": _pairs,
    "state": lambda value: JobState(_text(value)),
    "error": _text,
    "elapsed_s": _seconds,
    "created_at": _text,
    "updated_at": _text,
    "pid": _pid,
}


class SweepJournalError(Exception):
    """A sweep journal that cannot be found or read; the message is one line."""


class SweepStore:
    """The sweeps' journals and results in `<data-dir>/jobs/sweeps/`."""

    def __init__(self, jobs_dir: Path):
        self.directory = jobs_dir / SWEEPS_DIR
        self._quarantine_of = Quarantine(log)
        self.quarantined: list[QuarantinedFile] = self._quarantine_of.moved  # for the front ends

    def path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def results_path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.results.jsonl"

    def exists(self, job_id: str) -> bool:
        return job_id.isalnum() and self.path(job_id).is_file()

    def save(self, journal: SweepJournal) -> SweepJournal:
        journal = replace(journal, updated_at=now_iso())
        write_atomic(self.path(journal.job_id), journal.to_json().encode())
        return journal

    def load(self, job_id: str) -> SweepJournal:
        if not self.exists(job_id):
            raise SweepJournalError(f"no sweep {job_id!r} in {self.directory}")
        path = self.path(job_id)
        try:
            journal = SweepJournal.from_json(path.read_text(encoding="utf-8"))
            if journal.job_id != job_id:
                raise ValueError(f"job_id {journal.job_id!r} is not the file's name")
        except (OSError, ValueError, RecursionError) as exc:
            raise SweepJournalError(self._quarantine(path, first_line(exc))) from None
        return journal

    def all(self, running: Container[str] = ()) -> list[SweepJournal]:
        """Every readable sweep journal, oldest first, but those of `running` (the sweeps this
        process runs: their journals are theirs to write); unreadable ones are quarantined.
        Those a dead process left active are marked interrupted (resumable)."""
        journals = []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else ():
            if path.stem in running:
                continue
            try:
                journal = self.load(path.stem)
            except SweepJournalError as exc:
                log.warning("%s", exc)
                continue
            if journal.state in _ACTIVE and not alive_elsewhere(journal.pid):
                journal = self.save(replace(journal, state=JobState.INTERRUPTED))
            journals.append(journal)
        return sorted(journals, key=lambda journal: journal.created_at)

    def delete(self, job_id: str) -> None:
        """Forget a sweep: its journal and its results (the journal last, so that a crash
        between the two leaves a sweep that resumes, not results without a journal)."""
        self.results_path(job_id).unlink(missing_ok=True)
        self.path(job_id).unlink(missing_ok=True)

    # -- results ---------------------------------------------------------------------------

    def results(self, job_id: str) -> dict[int, dict]:
        """The results kept so far, by backtest index. A torn last line (a crash during an
        append, or an append another process is making now) and an unreadable line are
        passed over: their backtests count as not run. Reading never changes the file."""
        path = self.results_path(job_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return {}
        whole = data.rfind(b"\n") + 1  # bytes past the last newline: an append not whole
        kept: dict[int, dict] = {}
        for number, line in enumerate(data[:whole].splitlines(), 1):
            try:
                result = json.loads(line)
            except ValueError:
                result = None
            if _is_result(result):
                kept.setdefault(result["index"], result)
            else:
                log.warning("%s: line %d is unreadable; its backtest runs again", path, number)
        return kept

    def append_results(self, job_id: str, results: Iterable[dict], durable: bool = True) -> None:
        """Add finished results (one JSON line each), written at once: a process that dies
        next loses none of them. `durable`: every line so far reaches the disk too, as
        `sync_results` makes them later (a crash of the machine loses none either). Only the
        sweep's one runner appends, so a torn last line here is a crash's: it is cut off
        first."""
        lines = "".join(json.dumps(result) + "\n" for result in results).encode()
        path = self.results_path(job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as file:
            size = file.seek(0, os.SEEK_END)
            if size and file.seek(size - 1) >= 0 and file.read(1) != b"\n":
                file.seek(0)
                file.truncate(file.read().rfind(b"\n") + 1)  # appends go to the new end
            file.write(lines)
            file.flush()
            if durable:
                os.fsync(file.fileno())

    def sync_results(self, job_id: str) -> None:
        """Make every result appended so far durable."""
        with open(self.results_path(job_id), "ab") as file:
            os.fsync(file.fileno())

    def _quarantine(self, path: Path, reason: str) -> str:
        folder = self.directory.parent.parent / QUARANTINE_DIR / "jobs" / SWEEPS_DIR
        return self._quarantine_of.move(path, folder, reason)


def _is_result(value: object) -> bool:
    """A result as a worker makes it: its index and every statistic (a number or null)."""
    if not isinstance(value, dict) or type(value.get("index")) is not int:
        return False
    stats = value.get("statistics")
    return isinstance(stats, dict) and all(
        name in stats and (stats[name] is None or type(stats[name]) in (int, float))
        for name in METRICS
    )
