"""Progress tracking: weighted stages, a percentage that never goes backwards, snapshots."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.progress import ProgressSnapshot, ProgressTracker, Stage
from tests.support.fakes import FakeClock

SAFETY_TIMEOUT = 5.0


class Recorder:
    """A subscriber that keeps every snapshot it is handed, safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.snapshots: list[ProgressSnapshot] = []

    def __call__(self, snapshot: ProgressSnapshot) -> None:
        with self._lock:
            self.snapshots.append(snapshot)

    @property
    def percents(self) -> list[float]:
        with self._lock:
            return [s.percent for s in self.snapshots]


def make_tracker(*stages: tuple[str, float]) -> tuple[ProgressTracker, FakeClock]:
    clock = FakeClock()
    tracker = ProgressTracker([Stage(name, weight) for name, weight in stages], clock=clock)
    return tracker, clock


# --- the percentage never goes backwards and never leaves 0..100 ----------------------------

STAGE_NAMES = ["connect", "load", "save", "index"]

totals = st.one_of(st.none(), st.just(0), st.integers(min_value=1, max_value=10**12))
# "Huge" stays inside what a float can hold; beyond that see the overflow test further down.
counts = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-(10**100), max_value=10**100),
    st.sampled_from([2**63, -(2**63), 10**18, -(10**18), 10**300]),
)
details = st.text(max_size=20)

operations = st.one_of(
    st.tuples(st.just("start"), st.sampled_from(STAGE_NAMES), totals, details),
    st.tuples(st.just("advance"), counts, st.one_of(st.none(), details)),
    st.tuples(st.just("set_items"), counts, totals, st.one_of(st.none(), details)),
    st.tuples(st.just("set_detail"), details),
    st.tuples(st.just("finish"), st.one_of(st.none(), details)),
    st.tuples(st.just("tick"), st.floats(min_value=0, max_value=1e6)),
)
weights = st.lists(
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=len(STAGE_NAMES),
    max_size=len(STAGE_NAMES),
).filter(lambda ws: sum(ws) > 0)


def apply(tracker: ProgressTracker, clock: FakeClock, op: tuple) -> None:
    kind, *args = op
    if kind == "start":
        name, total, detail = args
        tracker.start_stage(name, total=total, detail=detail)
    elif kind == "advance":
        n, detail = args
        tracker.advance(n, detail=detail)
    elif kind == "set_items":
        done, total, detail = args
        tracker.set_items(done, total=total, detail=detail)
    elif kind == "set_detail":
        tracker.set_detail(args[0])
    elif kind == "finish":
        tracker.finish(detail=args[0])
    elif kind == "tick":
        clock.advance(args[0])
    else:  # pragma: no cover - the strategy only makes the kinds above
        raise AssertionError(kind)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(weights=weights, ops=st.lists(operations, max_size=40))
def test_percent_never_decreases_and_stays_in_bounds(weights: list[float], ops: list) -> None:
    clock = FakeClock()
    tracker = ProgressTracker(
        [Stage(name, w) for name, w in zip(STAGE_NAMES, weights, strict=True)], clock=clock
    )
    recorder = Recorder()
    tracker.subscribe(recorder)
    previous = tracker.snapshot().percent
    assert previous == 0.0
    finished = False

    for op in ops:
        apply(tracker, clock, op)
        percent = tracker.snapshot().percent
        assert 0.0 <= percent <= 100.0, (op, percent)
        assert percent >= previous, (op, previous, percent)
        finished = finished or op[0] == "finish"
        if finished:
            assert percent == 100.0
            assert tracker.snapshot().finished
        previous = percent

    seen = recorder.percents
    assert len(seen) == sum(op[0] != "tick" for op in ops)
    assert all(0.0 <= p <= 100.0 for p in seen)
    assert all(a <= b for a, b in itertools.pairwise(seen))

    tracker.finish()
    assert tracker.snapshot().percent == 100.0
    assert tracker.snapshot().finished is True


def test_percent_after_finish_is_100_even_with_no_stage_started() -> None:
    tracker, _ = make_tracker(("a", 1), ("b", 1))
    assert tracker.snapshot().percent == 0.0
    tracker.finish("all done")
    snapshot = tracker.snapshot()
    assert snapshot.percent == 100.0
    assert snapshot.finished is True
    assert snapshot.detail == "all done"


def test_going_back_to_an_earlier_stage_does_not_lower_the_percent() -> None:
    tracker, _ = make_tracker(("a", 1), ("b", 1))
    tracker.start_stage("b", total=10)
    tracker.set_items(5)
    assert tracker.snapshot().percent == pytest.approx(75.0)
    tracker.start_stage("a", total=10)
    assert tracker.snapshot().stage == "a"
    assert tracker.snapshot().percent == pytest.approx(75.0)
    tracker.set_items(-5)
    assert tracker.snapshot().percent == pytest.approx(75.0)


# --- threads --------------------------------------------------------------------------------


def test_concurrent_advances_keep_order_and_add_up() -> None:
    thread_count = 6
    advances_per_thread = 200
    steps = [1, 2, 3, 5, 7, 11]  # each thread advances by its own step size
    total = sum(step * advances_per_thread for step in steps)
    tracker, _ = make_tracker(("prepare", 1), ("work", 3))
    tracker.start_stage("work", total=total)
    recorder = Recorder()
    tracker.subscribe(recorder)
    barrier = threading.Barrier(thread_count)

    def work(step: int) -> None:
        barrier.wait(SAFETY_TIMEOUT)
        for _ in range(advances_per_thread):
            tracker.advance(step)

    threads = [threading.Thread(target=work, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SAFETY_TIMEOUT)
        assert not thread.is_alive()

    snapshots = recorder.snapshots
    assert len(snapshots) == thread_count * advances_per_thread
    percents = [s.percent for s in snapshots]
    assert all(25.0 <= p <= 100.0 for p in percents)
    assert all(a <= b for a, b in itertools.pairwise(percents))
    # Callbacks run in update order, so the counts they see only ever grow.
    items = [s.items_done for s in snapshots]
    assert all(a < b for a, b in itertools.pairwise(items))
    assert tracker.snapshot().items_done == total
    assert tracker.snapshot().percent == pytest.approx(100.0)


# --- weighted stages ------------------------------------------------------------------------


def test_weighted_stages() -> None:
    tracker, _ = make_tracker(("A", 1), ("B", 3))
    tracker.start_stage("A", total=10)
    assert tracker.snapshot().percent == 0.0
    tracker.set_items(10)
    assert tracker.snapshot().percent == pytest.approx(25.0)

    tracker.start_stage("B", total=8)
    assert tracker.snapshot().percent == pytest.approx(25.0)
    tracker.advance(4)
    snapshot = tracker.snapshot()
    assert snapshot.percent == pytest.approx(62.5)
    assert (snapshot.stage, snapshot.stage_index, snapshot.stage_count) == ("B", 1, 2)
    assert (snapshot.items_done, snapshot.items_total) == (4, 8)


def test_unknown_stage_size_holds_the_percent_at_the_stage_start() -> None:
    tracker, _ = make_tracker(("A", 1), ("B", 3))
    tracker.start_stage("B")
    tracker.advance(1000)
    snapshot = tracker.snapshot()
    assert snapshot.percent == pytest.approx(25.0)
    assert snapshot.items_total is None
    assert snapshot.items_done == 1000
    tracker.set_items(500, total=1000)  # the size becomes known half-way
    assert tracker.snapshot().percent == pytest.approx(62.5)


def test_overshooting_a_stage_caps_at_its_end() -> None:
    tracker, _ = make_tracker(("A", 1), ("B", 1))
    tracker.start_stage("A", total=10)
    tracker.advance(25)
    assert tracker.snapshot().percent == pytest.approx(50.0)
    assert tracker.snapshot().items_done == 25


def test_zero_weight_stage_adds_nothing() -> None:
    tracker, _ = make_tracker(("setup", 0), ("work", 2))
    tracker.start_stage("setup", total=4)
    tracker.set_items(4)
    assert tracker.snapshot().percent == 0.0
    tracker.start_stage("work", total=4)
    tracker.set_items(1)
    assert tracker.snapshot().percent == pytest.approx(25.0)


def test_initial_snapshot() -> None:
    tracker, _ = make_tracker(("A", 1), ("B", 1), ("C", 1))
    snapshot = tracker.snapshot()
    assert snapshot == ProgressSnapshot(0.0, "", -1, 3, 0, None, "", 0.0, False)


# --- details, snapshots, clock ---------------------------------------------------------------


def test_detail_line_appears_in_snapshot() -> None:
    tracker, _ = make_tracker(("A", 1))
    tracker.start_stage("A", total=3, detail="connecting")
    assert tracker.snapshot().detail == "connecting"
    tracker.advance(1)
    assert tracker.snapshot().detail == "connecting"  # no new detail keeps the old one
    tracker.advance(1, detail="AAPL 2024-01")
    assert tracker.snapshot().detail == "AAPL 2024-01"
    tracker.set_items(2, detail="AAPL 2024-02")
    assert tracker.snapshot().detail == "AAPL 2024-02"
    tracker.set_detail("waiting for pacing")
    assert tracker.snapshot().detail == "waiting for pacing"
    tracker.finish(detail="saved 3 segments")
    assert tracker.snapshot().detail == "saved 3 segments"


def test_snapshots_are_immutable_and_replaced() -> None:
    tracker, _ = make_tracker(("A", 1))
    tracker.start_stage("A", total=4, detail="first")
    before = tracker.snapshot()
    with pytest.raises(AttributeError):
        before.percent = 99.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        before.detail = "changed"  # type: ignore[misc]

    tracker.advance(2, detail="second")
    after = tracker.snapshot()
    assert after is not before
    assert (before.percent, before.items_done, before.detail) == (0.0, 0, "first")
    assert (after.percent, after.items_done, after.detail) == (50.0, 2, "second")


def test_elapsed_comes_from_the_injected_clock() -> None:
    tracker, clock = make_tracker(("A", 1))
    assert tracker.snapshot().elapsed_s == 0.0
    clock.advance(12.5)
    tracker.start_stage("A", total=10)
    assert tracker.snapshot().elapsed_s == pytest.approx(12.5)
    clock.advance(100.0)
    tracker.advance(1)
    assert tracker.snapshot().elapsed_s == pytest.approx(112.5)


# --- subscribers -------------------------------------------------------------------------------


def test_subscriber_receives_each_new_snapshot() -> None:
    tracker, _ = make_tracker(("A", 1))
    recorder = Recorder()
    tracker.subscribe(recorder)
    tracker.start_stage("A", total=2)
    tracker.advance(1)
    tracker.finish()
    assert [s.percent for s in recorder.snapshots] == [0.0, 50.0, 100.0]
    assert recorder.snapshots[-1] is tracker.snapshot()


def test_raising_callback_is_logged_and_does_not_break_the_update(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker, _ = make_tracker(("A", 1))
    first, last = Recorder(), Recorder()

    def broken(snapshot: ProgressSnapshot) -> None:
        raise RuntimeError("bad format string")

    tracker.subscribe(first)
    tracker.subscribe(broken)
    tracker.subscribe(last)

    with caplog.at_level(logging.ERROR, logger="engine.core.progress"):
        tracker.start_stage("A", total=4)
        tracker.advance(3)

    assert tracker.snapshot().items_done == 3
    assert tracker.snapshot().percent == pytest.approx(75.0)
    assert [s.items_done for s in first.snapshots] == [0, 3]
    assert [s.items_done for s in last.snapshots] == [0, 3]
    failures = [r for r in caplog.records if r.name == "engine.core.progress"]
    assert len(failures) == 2
    assert all(
        r.exc_info is not None and "bad format string" in str(r.exc_info[1]) for r in failures
    )


def test_unsubscribe_stops_callbacks() -> None:
    tracker, _ = make_tracker(("A", 1))
    gone, kept = Recorder(), Recorder()
    unsubscribe = tracker.subscribe(gone)
    tracker.subscribe(kept)
    tracker.start_stage("A", total=4)
    unsubscribe()
    unsubscribe()  # a second call is harmless
    tracker.advance(1)
    tracker.advance(1)
    assert [s.items_done for s in gone.snapshots] == [0]
    assert [s.items_done for s in kept.snapshots] == [0, 1, 2]


def test_callback_may_update_the_tracker_it_listens_to() -> None:
    """The lock is re-entrant; run in a thread so a regression fails instead of hanging."""
    tracker, _ = make_tracker(("A", 1))
    seen: list[str] = []

    def callback(snapshot: ProgressSnapshot) -> None:
        seen.append(snapshot.detail)
        if snapshot.detail == "outer":
            assert tracker.snapshot() is snapshot
            tracker.set_detail("inner")

    tracker.subscribe(callback)
    thread = threading.Thread(target=tracker.set_detail, args=("outer",), daemon=True)
    thread.start()
    thread.join(SAFETY_TIMEOUT)
    assert not thread.is_alive(), "updating from a callback deadlocked"
    assert seen == ["outer", "inner"]
    assert tracker.snapshot().detail == "inner"


# --- validation --------------------------------------------------------------------------------


def test_unknown_stage_name_raises_and_changes_nothing() -> None:
    tracker, _ = make_tracker(("A", 1), ("B", 1))
    tracker.start_stage("A", total=10)
    tracker.advance(5)
    before = tracker.snapshot()
    with pytest.raises(ValueError, match="unknown stage 'C'"):
        tracker.start_stage("C")
    assert tracker.snapshot() is before
    tracker.advance(1)
    assert tracker.snapshot().stage == "A"
    assert tracker.snapshot().items_done == 6


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([], "at least one stage"),
        ([Stage("a"), Stage("b"), Stage("a")], "unique"),
        ([Stage("a", 1.0), Stage("b", -0.5)], "weights"),
        ([Stage("a", 0.0), Stage("b", 0.0)], "weights"),
    ],
    ids=["empty", "duplicate-names", "negative-weight", "all-zero-weights"],
)
def test_constructor_validation(stages: list[Stage], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProgressTracker(stages, clock=FakeClock())


# --- known bug ---------------------------------------------------------------------------------


def test_advance_beyond_float_range_keeps_the_tracker_usable() -> None:
    """BUG (engine/core/progress.py, `_build`): `self._done / total` is int/int true division,
    which raises OverflowError once the quotient exceeds the float range (~1.8e308). The
    exception escapes `advance`, and because `_done` was already updated every later update
    that builds a snapshot (advance, set_detail, ...) raises too, until start_stage/set_items
    resets the count. The percentage should simply cap at the end of the stage."""
    tracker, _ = make_tracker(("A", 1), ("B", 1))
    tracker.start_stage("A", total=5)
    try:
        tracker.advance(10**400)
        tracker.set_detail("still alive")
    except OverflowError as exc:
        pytest.fail(f"huge advance broke the tracker: OverflowError: {exc}")
    assert tracker.snapshot().percent == pytest.approx(50.0)
    assert tracker.snapshot().detail == "still alive"


def test_a_callback_that_unsubscribes_itself_does_not_hide_the_update_from_the_next() -> None:
    """BUG (engine/core/progress.py, `_publish`): it iterates `self._callbacks` itself while
    holding the re-entrant lock, so a callback that unsubscribes (a one-shot listener, a UI
    closing its panel) removes itself from the list being iterated and the callback after it
    is skipped for that update. `_publish` should iterate over a copy, as JobRunner does."""
    tracker, _ = make_tracker(("A", 1))
    after = Recorder()
    unsubscribe_once: Callable[[], None] | None = None

    def one_shot(snapshot: ProgressSnapshot) -> None:
        assert unsubscribe_once is not None
        unsubscribe_once()

    unsubscribe_once = tracker.subscribe(one_shot)
    tracker.subscribe(after)
    tracker.start_stage("A", total=10)
    tracker.advance(1)
    assert [s.items_done for s in after.snapshots] == [0, 1], "the first update was skipped"
