"""The session decides an on_bar strategy's signals one at a time, in plain numbers, between its
bars (engine/session/pipeline.py, `_interleave`), and a batched strategy's in arrays (`_decide`).
The two must decide alike, to the bit: the same day quality so far (`QualityLedger.pct_at`
against `so_far_pct`), the same fill bar, the same order when signals of both kinds become known
at the same instant. Checked here on bars with holes, so that the quality gate rejects some.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.session.bars import NS, SessionBars
from engine.session.quality import QualityLedger
from engine.strategy.spec import StrategySpec
from tests.support.stepped_sessions import STEPS, on_bar_form, outcome, run_in_steps

MINUTE = 60 * NS
SESSIONS = calendar_for().sessions_for_dates(pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-06"))


@functools.cache
def generated() -> tuple[np.ndarray, np.ndarray]:
    """Three sessions of the simulated gateway's 1m bars: starts (ns) and the (5, n) prices."""
    bars = SyntheticMarket(calendar_for()).bars("AAPL", 60, SESSIONS[0].open, SESSIONS[-1].close)
    prices = np.vstack([bars.open, bars.high, bars.low, bars.close, bars.volume])
    return bars.start * NS, prices


def minute_bars(removed: frozenset[int] = frozenset()) -> SessionBars:
    """The three sessions without the bars at positions `removed`."""
    starts, prices = generated()
    keep = np.setdiff1d(np.arange(len(starts)), np.fromiter(removed, np.int64, len(removed)))
    return SessionBars.from_arrays("AAPL", "1m", list(SESSIONS), starts[keep], prices[:, keep])


def daily_bars(removed: frozenset[int]) -> SessionBars:
    starts = np.array([s.date.value for s in SESSIONS], dtype=np.int64)
    keep = np.setdiff1d(np.arange(len(starts)), np.fromiter(removed, np.int64, len(removed)))
    prices = np.full((5, len(keep)), 100.0)
    return SessionBars.from_arrays("AAPL", "1d", list(SESSIONS), starts[keep], prices)


REMOVED = st.frozensets(st.integers(0, 3 * 390 - 1), max_size=300)


@settings(max_examples=60, deadline=None)
@given(
    removed=REMOVED,
    daily=st.booleans(),
    instants=st.lists(st.tuples(st.integers(0, 2), st.integers(-30, 420 * 60)), min_size=1),
)
def test_the_quality_of_one_signal_is_the_float_of_the_array_form(
    removed: frozenset[int], daily: bool, instants: list[tuple[int, int]]
) -> None:
    bars = daily_bars(frozenset(i % 3 for i in removed)) if daily else minute_bars(removed)
    quality = QualityLedger(bars)
    sessions = np.array([day for day, _ in instants])
    when = np.array(
        [SESSIONS[day].open.value + seconds * NS for day, seconds in instants], dtype=np.int64
    )
    expected = quality.so_far_pct(sessions, when).tolist()
    started = np.searchsorted(bars.timestamps, when).tolist()
    got = [
        quality.pct_at(day, instant, count)
        for day, instant, count in zip(sessions.tolist(), when.tolist(), started, strict=True)
    ]
    assert got == expected  # bit for bit, not approximately


# A hole of 40 minutes early on the second day: its signals there fall below 95% and are refused.
HOLED = frozenset(range(390 + 20, 390 + 60))
BATCHED = (
    "sma_crossover:fast=1,slow=2",
    "rsi:period=2,oversold=20,overbought=80",
    "sma_crossover:fast=3,slow=8,timeframe=15m",
    "rsi:period=5,timeframe=5m",
)


@functools.cache
def all_batched() -> tuple:
    specs = [StrategySpec.parse(text) for text in BATCHED]
    return outcome(run_in_steps(minute_bars(HOLED), specs, []))


@settings(max_examples=20, deadline=None)
@given(steps=STEPS, per_bar=st.lists(st.booleans(), min_size=len(BATCHED), max_size=len(BATCHED)))
def test_on_bar_forms_beside_batched_strategies_decide_as_the_batched_ones_alone(
    steps: list, per_bar: list[bool]
) -> None:
    """Any of the built-ins swapped for its on_bar form, the clock moved in random steps: the
    signals, decisions (reasons included), fills and account of the all-batched session."""
    specs = [StrategySpec.parse(text) for text in BATCHED]
    specs = [on_bar_form(spec) if bar else spec for spec, bar in zip(specs, per_bar, strict=True)]
    got = outcome(run_in_steps(minute_bars(HOLED), specs, steps))
    expected = all_batched()
    assert got == expected
    signals, fills = expected[0], expected[1]
    assert any(s.reason.startswith("data quality") for s in signals)  # the hole refused some
    assert sum(s.approved for s in signals) > 20 and len(fills) > 20
