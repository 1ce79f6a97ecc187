"""Cost of one progress update (goal: under 2 µs with a callback attached).

    python -m bench.bench_progress

Prints the best of several runs of N updates, per update, for the calls a load makes for
every bar batch and segment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.core.progress import ProgressSnapshot, ProgressTracker, Stage

N = 200_000
RUNS = 7


@dataclass(frozen=True, slots=True)
class FrozenSnapshot:
    """What ProgressSnapshot would cost as a frozen dataclass: the peer it was chosen over."""

    percent: float
    stage: str
    stage_index: int
    stage_count: int
    items_done: int
    items_total: int | None
    detail: str
    elapsed_s: float
    finished: bool


def best_ns_per_call(call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter_ns()
        for _ in range(N):
            call()
        best = min(best, (time.perf_counter_ns() - start) / N)
    return best


def tracker(with_callback: bool) -> ProgressTracker:
    progress = ProgressTracker([Stage("prepare", 1), Stage("fetch", 8), Stage("save", 1)])
    progress.start_stage("fetch", total=10 * N * RUNS)
    if with_callback:
        latest: list[ProgressSnapshot] = []

        def keep_latest(snapshot: ProgressSnapshot) -> None:
            latest[:] = [snapshot]  # what a UI poller's callback does

        progress.subscribe(keep_latest)
    return progress


def main() -> None:
    rows = []
    plain = tracker(with_callback=False)
    rows.append(("advance(), no callback", best_ns_per_call(plain.advance)))
    watched = tracker(with_callback=True)
    rows.append(("advance(), one callback", best_ns_per_call(watched.advance)))
    rows.append(
        (
            "advance(detail=...), one callback",
            best_ns_per_call(lambda: watched.advance(1, "Segment 3/8: 2024-01-01 → 2024-01-31")),
        )
    )
    rows.append(("snapshot() read", best_ns_per_call(watched.snapshot)))
    args = (50.0, "fetch", 1, 3, 10, 100, "detail", 1.0, False)
    rows.append(
        ("build ProgressSnapshot (NamedTuple)", best_ns_per_call(lambda: ProgressSnapshot(*args)))
    )
    rows.append(("build frozen dataclass (peer)", best_ns_per_call(lambda: FrozenSnapshot(*args))))
    width = max(len(name) for name, _ in rows)
    print(f"progress updates, best of {RUNS} x {N:,} calls")
    for name, ns in rows:
        print(f"  {name:<{width}}  {ns / 1000:6.3f} µs")
    goal = rows[1][1] / 1000
    print(
        f"goal: one update with a callback under 2 µs -> {goal:.3f} µs: "
        f"{'met' if goal < 2 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
