"""Progress of one operation: weighted stages, items within a stage, and a detail line.

Workers update the tracker; any thread reads `snapshot()`, an immutable value that is replaced
on every update, so readers never take the lock. The percentage never goes backwards and never
leaves 0..100, whatever order the updates arrive in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    name: str
    weight: float = 1.0


class ProgressSnapshot(NamedTuple):
    # A NamedTuple rather than a frozen dataclass: one is built on every update, and a frozen
    # dataclass costs four times as much to build (bench/bench_progress.py).
    percent: float
    stage: str
    stage_index: int  # 0-based; -1 before the first stage starts
    stage_count: int
    items_done: int
    items_total: int | None  # None while the stage's size is unknown
    detail: str
    elapsed_s: float
    finished: bool


ProgressCallback = Callable[[ProgressSnapshot], None]


class ProgressTracker:
    """Thread-safe. Callbacks run on the updating thread, in update order, and must be quick."""

    def __init__(self, stages: Sequence[Stage], clock: Callable[[], float] = time.monotonic):
        if not stages:
            raise ValueError("a progress tracker needs at least one stage")
        if len({stage.name for stage in stages}) != len(stages):
            raise ValueError("stage names must be unique")
        if any(stage.weight < 0 for stage in stages) or sum(s.weight for s in stages) <= 0:
            raise ValueError("stage weights must be >= 0 with a positive sum")
        total_weight = sum(stage.weight for stage in stages)
        self._names = [stage.name for stage in stages]
        self._spans = [stage.weight / total_weight for stage in stages]
        self._offsets = [sum(self._spans[:i]) for i in range(len(stages))]
        self._clock = clock
        self._started_at = clock()
        # Re-entrant so that a callback may read or even update the tracker it listens to.
        self._lock = threading.RLock()
        self._callbacks: list[ProgressCallback] = []
        self._stage_index = -1
        self._done = 0
        self._total: int | None = None
        self._detail = ""
        self._percent = 0.0
        self._finished = False
        self._snapshot = self._build()

    def snapshot(self) -> ProgressSnapshot:
        return self._snapshot

    def subscribe(self, callback: ProgressCallback) -> Callable[[], None]:
        """Call `callback` with every new snapshot; returns the unsubscribe function."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    def start_stage(self, name: str, total: int | None = None, detail: str = "") -> None:
        with self._lock:
            try:
                self._stage_index = self._names.index(name)
            except ValueError:
                raise ValueError(f"unknown stage {name!r}; stages are {self._names}") from None
            self._done = 0
            self._total = total
            self._detail = detail
            self._publish()

    def advance(self, n: int = 1, detail: str | None = None) -> None:
        with self._lock:
            self._done += n
            if detail is not None:
                self._detail = detail
            self._publish()

    def set_items(self, done: int, total: int | None = None, detail: str | None = None) -> None:
        with self._lock:
            self._done = done
            if total is not None:
                self._total = total
            if detail is not None:
                self._detail = detail
            self._publish()

    def set_detail(self, detail: str) -> None:
        with self._lock:
            self._detail = detail
            self._publish()

    def finish(self, detail: str | None = None) -> None:
        with self._lock:
            self._finished = True
            if detail is not None:
                self._detail = detail
            self._publish()

    def _publish(self) -> None:
        self._snapshot = snapshot = self._build()
        # A copy: a callback may unsubscribe itself while we loop.
        for callback in list(self._callbacks):
            try:
                callback(snapshot)
            except Exception:
                # A broken listener (a closed UI, a bad format string) must not fail the work.
                log.exception("progress callback %r failed", callback)

    def _build(self) -> ProgressSnapshot:
        index = self._stage_index
        if self._finished:
            self._percent = 100.0
        elif index >= 0:
            done, total = self._done, self._total
            # Compared before dividing: counts beyond float range must not overflow.
            if not total or done <= 0:
                fraction = 0.0
            elif done >= total:
                fraction = 1.0
            else:
                fraction = done / total
            raw = 100.0 * (self._offsets[index] + self._spans[index] * fraction)
            if raw > self._percent:
                self._percent = min(raw, 100.0)
        return ProgressSnapshot(
            self._percent,
            self._names[index] if index >= 0 else "",
            index,
            len(self._names),
            self._done,
            self._total,
            self._detail,
            self._clock() - self._started_at,
            self._finished,
        )
