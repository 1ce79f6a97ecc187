"""One backtest of a sweep: exactly what `backtest` does at speed 0, from bars already in memory.

The pipeline's results do not depend on how its clock moves (engine/session/pipeline.py), so
advancing it to the end in one call gives the signals, fills and statistics a `backtest` run
gives. A task crosses to a worker as builtin values (JSON text on the way) and its result comes
back the same way: never an object of ours.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from engine.results import Statistics
from engine.session.bars import SessionBars
from engine.session.pipeline import Pipeline, StrategyFailure
from engine.strategy.catalog import Catalog
from engine.strategy.spec import StrategySpec
from engine.sweep.grid import Candidate
from engine.trading_rules import TradingRules


@dataclass(frozen=True)
class Backtest:
    """A finished run: its statistics and the strategies stopped on the way."""

    statistics: Statistics
    failures: tuple[StrategyFailure, ...]


def run_backtest(
    bars: SessionBars, specs: Sequence[StrategySpec], rules: TradingRules | None = None
) -> Backtest:
    """Run `specs` over all of `bars` under `rules`, at speed 0."""
    with _collector_paused():
        pipeline = Pipeline(bars, specs, rules, chart=False, log=False)
        pipeline.advance_to(pipeline.end)
        statistics = pipeline.results().statistics
    assert statistics is not None, "a session of no bars is refused before it runs"
    return Backtest(statistics, tuple(pipeline.failures))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A backtest makes and drops a few hundred thousand small objects, every one freed by
    reference counting (it leaves no cycles), so the cyclic collector waits for its end: its
    runs in the middle (hundreds a backtest, and now and then one over every object of the
    process) would free nothing and cost a tenth of the backtest. Process-wide: another
    thread's garbage waits those milliseconds too."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def task_of(index: int, symbol: str, candidate: Candidate) -> dict[str, object]:
    """The task of one backtest as builtin values: its place in the sweep, the symbol, each
    strategy's full spec and the trading-rule texts."""
    return {
        "index": index,
        "symbol": symbol,
        "strategies": [spec.label for spec in candidate.specs],
        "rules": [list(pair) for pair in candidate.rules],
    }


def run_task(
    bars: Mapping[str, SessionBars],
    task: Mapping[str, object],
    catalog: Catalog,
    base: TradingRules | None = None,
) -> dict[str, object]:
    """Run the task `task_of` made, its rule texts over `base`; its result as builtin values."""
    specs = tuple(StrategySpec.parse(label, catalog) for label in task["strategies"])
    rules = TradingRules.from_text(dict(task["rules"]), base)
    started = time.perf_counter()
    done = run_backtest(bars[task["symbol"]], specs, rules)
    return {
        "index": task["index"],
        "statistics": done.statistics.to_json(),
        "failures": [failure.describe() for failure in done.failures],
        "seconds": time.perf_counter() - started,
    }
