"""Test doubles shared by several test modules."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        self.now += seconds


class FakeWallClock:
    """Wall time for a playback session that passes only when the session sleeps: a sleep
    returns at once, its whole length elapsed. `on_wait` runs inside each sleep (on the worker),
    for tests that act at an exact point of playback."""

    def __init__(self, on_wait=None) -> None:
        self.t = 0.0
        self.waits = 0
        self.on_wait = on_wait

    def now(self) -> float:
        return self.t

    def wait(self, condition, seconds: float) -> None:
        self.waits += 1
        self.t += max(seconds, 0.0)
        if self.on_wait is not None:
            self.on_wait(self)
