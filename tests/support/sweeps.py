"""Sweeps for tests: a small request over the stored test bars, an executor that holds a sweep
in the middle until the test lets it go on, and the wait for local workers' starts to end."""

from __future__ import annotations

import threading

import engine.sweep.service as service_module
from engine.sweep.journal import SweepRequest
from tests.support.bar_fixtures import FIRST, LAST

# Two parameters, three values each; fast >= slow is refused: 6 backtests, 3 skipped.
GRID = "sma_crossover:fast=5|10|20,slow=10|20|40"


def sweep_request(grid: str = GRID, **changes) -> SweepRequest:
    fields = dict(
        symbols=("AAPL",),
        timeframe="1m",
        start=FIRST,
        end=LAST,
        strategies=(grid,),
        rules=(("min_confidence", "0"),),
        workers=1,
    )
    return SweepRequest(**(fields | changes))


class HeldExecutor:
    """A real executor that holds its first run once one result is back (and kept: the job
    keeps each answer before it asks for the next), until the sweep is cancelled or the test
    lets it go on. Each answer holds one result: the sweeps here have too few backtests to
    batch them."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.workers = inner.name, inner.workers
        self.go_on = threading.Event()

    def start(self, setup: str) -> None:
        self.inner.start(setup)

    def open(self, bars) -> None:
        self.inner.open(bars)

    def run(self, batches, token):
        def held():
            answers = self.inner.run(batches, token)
            yield next(answers)
            token.on_cancel(self.go_on.set)
            self.go_on.wait()
            if not token.cancelled:
                yield from answers

        return held()

    def close(self) -> None:
        self.inner.close()


def hold_first_sweep(monkeypatch) -> list:
    """The first sweep's executor is held (see HeldExecutor); the later ones run freely."""
    made: list = []
    real = service_module.make_executor

    def make(*args, **kwargs):
        executor = real(*args, **kwargs)
        made.append(HeldExecutor(executor) if not made else executor)
        return made[-1]

    monkeypatch.setattr(service_module, "make_executor", make)
    return made


def join_worker_starters() -> None:
    """Wait until every local executor's starter thread has ended (each worker it started
    stopped with it, or told nothing and so stopping at once)."""
    for thread in threading.enumerate():
        if thread.name == "sweep worker starter":
            thread.join()
