"""The property every speed of a session rests on, for every strategy there is: however the
market clock moves (bar by bar, in random steps, all at once), a session gives the same
signals, decisions, fills and failures. `strategies_to_check()` lists them all: each one the
catalog finds (built-ins, installed plugins, the example files users start from), the
built-ins at other parameters too, and this file's examples (a strategy reading its position,
one reading another timeframe, one that fails).

A strategy with `on_chunk` must give exactly the signals of its `on_bar`: checked for each one
by running it with on_chunk hidden, and by feeding on_chunk random chunks directly.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.session.bars import NS, SessionBars
from engine.strategy import Bars, Signals, Strategy
from engine.strategy.indicators import Rsi, crossed_above, crossed_below, sma
from engine.strategy.spec import StrategySpec
from tests.support.plugins import discovered_strategies
from tests.support.stepped_sessions import STEPS, on_bar_form, outcome, run_in_steps
from tests.support.strategy_calls import signal_at

# -- the examples ------------------------------------------------------------------------------


class Flip(Strategy):
    """Buy two bars of rising closes while flat; sell two bars of falling ones while holding:
    it reads its position, which fills change at a bar's open."""

    name = "flip"

    def on_bar(self, bars: Bars) -> None:
        if len(bars) < 3:
            return
        rising = bars.close[-1] > bars.close[-2] > bars.close[-3]
        falling = bars.close[-1] < bars.close[-2] < bars.close[-3]
        if rising and self.position == 0:
            self.buy(0.9, reason="two up, flat")
        elif falling and self.position > 0:
            self.sell(0.9, reason=f"two down, holding {self.position}")


class HourTrend(Strategy):
    """Trade crossings of a 5-bar SMA, in the direction of the last complete hour bar."""

    name = "hour_trend"
    timeframes = ("1h", "15m")

    def on_bar(self, bars: Bars) -> None:
        hours = self.bars_of("1h")
        if len(bars) < 6 or len(hours) < 1 or len(self.bars_of("15m")) < 1:
            return
        mean = sma(bars.close, 5, last=2)
        up = hours.close[-1] > hours.open[-1]
        if up and crossed_above(bars.close[-2:], mean):
            self.buy(1.0, reason=f"above the SMA, hour up ({len(hours)} hours)")
        elif not up and crossed_below(bars.close[-2:], mean):
            self.sell(1.0, reason="below the SMA, hour down")


class RsiPerBar(Strategy):
    """The RSI indicator in on_bar, trading against its position."""

    name = "rsi_per_bar"
    period: int = 3

    def setup(self) -> None:
        self.rsi = Rsi(self.period)

    def on_bar(self, bars: Bars) -> None:
        rsi = self.rsi(bars.close)
        if crossed_below(rsi, 35.0) and self.position <= 0:
            self.buy(0.7)
        elif crossed_above(rsi, 65.0) and self.position > 0:
            self.sell(0.7)


class FailsAt(Strategy):
    """Signals on every 10th bar until it raises at bar `at` (after its signal there, which
    goes with it)."""

    name = "fails_at"
    at: int = 100

    def on_bar(self, bars: Bars) -> None:
        if len(bars) % 10 == 0:
            self.buy(0.6, reason="tenth bar")
        if len(bars) == self.at:
            raise ZeroDivisionError("on purpose")


class ChunkFails(Strategy):
    """on_chunk that raises once it has seen `at` bars (stopped at a batch's first bar)."""

    name = "chunk_fails"
    at: int = 500

    def on_bar(self, bars: Bars) -> None:
        if len(bars) >= self.at:
            raise RuntimeError("on purpose")

    def on_chunk(self, bars: Bars, start: int) -> Signals:
        if len(bars) >= self.at:
            raise RuntimeError("on purpose")
        return Signals.none()


EXAMPLES = (Flip, HourTrend, RsiPerBar, FailsAt)
# The built-ins at other values than their defaults, on the stored and on derived bars.
BUILT_IN_VARIANTS = (
    "sma_crossover:fast=1,slow=2",
    "sma_crossover:fast=3,slow=8,timeframe=15m",
    "rsi:period=2,oversold=20,overbought=80",
    "rsi:period=5,timeframe=5m",
)


def defaults(strategy: type[Strategy], timeframe: str | None = None) -> StrategySpec:
    return StrategySpec(
        strategy, tuple((p.name, p.default) for p in strategy.parameters()), timeframe
    )


def strategies_to_check() -> list[StrategySpec]:
    """Every strategy the chunking property must hold for. Discovered strategies (the
    catalog's: built-ins, plugins, example files) come in at their defaults; add any new
    source of strategies to `discovered_strategies`, and it is checked here."""
    specs = [defaults(strategy) for strategy in discovered_strategies()]
    specs += [StrategySpec.parse(text) for text in BUILT_IN_VARIANTS]
    specs += [defaults(example) for example in EXAMPLES]
    specs.append(defaults(Flip, "15m"))  # on_bar on derived bars
    return specs


# -- the bars ----------------------------------------------------------------------------------


@functools.cache
def days(kind: str) -> SessionBars:
    """Three sessions of 1m bars: the simulated gateway's (cents, flat stretches), the same
    un-rounded, or cents with some prices off the grid."""
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-06"))
    generated = SyntheticMarket(calendar).bars("AAPL", 60, sessions[0].open, sessions[-1].close)
    prices = np.vstack(
        [generated.open, generated.high, generated.low, generated.close, generated.volume]
    )
    if kind == "unrounded":
        noise = np.random.default_rng(3).normal(0, 1e-4, prices.shape[1])
        prices[:4] = prices[:4] * (1 + noise)
        prices[1] = prices[:4].max(axis=0)
        prices[2] = prices[:4].min(axis=0)
    elif kind == "mixed":
        prices[:4, ::97] += 3e-6  # now and then a price off the cent grid
    return SessionBars.from_arrays("AAPL", "1m", sessions, generated.start * NS, prices)


@functools.cache
def all_at_once(kind: str, specs: tuple[StrategySpec, ...]) -> tuple:
    return outcome(run_in_steps(days(kind), specs, []))


KINDS = st.sampled_from(["cents", "unrounded", "mixed"])


# -- the property ------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(kind=KINDS, steps=STEPS)
def test_every_strategy_gives_the_same_results_whatever_the_clock_steps(kind, steps) -> None:
    """All of them in one session (they share the account: decisions and fills interleave),
    batched built-ins beside their on_bar forms and the strategies that read the position."""
    specs = strategies_to_check()
    specs += [on_bar_form(spec) for spec in specs if spec.strategy.batched()]
    specs = tuple(specs)
    expected = all_at_once(kind, specs)
    got = outcome(run_in_steps(days(kind), specs, steps))
    assert got == expected
    signals, fills, _, _, failures = expected
    assert len(signals) > 200 and len(fills) > 20
    assert [f.strategy for f in failures] == ["fails_at:at=100"]  # and the others went on
    assert any(s.note.startswith("two down, holding") for s in signals)  # read the position


@settings(max_examples=20, deadline=None)
@given(kind=KINDS, steps=STEPS)
def test_each_on_chunk_gives_the_signals_of_its_on_bar(kind, steps) -> None:
    """Each batched strategy alone, by on_chunk in random steps and by on_bar: the same
    signals (notes and confidences bit for bit), decisions and fills."""
    batched = [spec for spec in strategies_to_check() if spec.strategy.batched()]
    assert {spec.name for spec in batched} >= {"sma_crossover", "rsi"}
    for spec in batched:
        by_chunk = outcome(run_in_steps(days(kind), [spec], steps))
        by_bar = all_at_once(kind, (on_bar_form(spec),))
        assert by_chunk == by_bar, spec.label
        assert len(by_bar[0]) > 5, spec.label


@settings(max_examples=60, deadline=None)
@given(
    kind=KINDS,
    which=st.integers(0, 100),
    cuts=st.lists(st.integers(1, 1169), max_size=60),
)
def test_on_chunk_over_any_chunks_equals_on_bar_bar_by_bar(kind, which, cuts) -> None:
    """The contract itself, without a session: on_chunk over consecutive chunks cut anywhere
    gives at each bar what on_bar gives there."""
    batched = [spec for spec in strategies_to_check() if spec.strategy.batched()]
    spec = batched[which % len(batched)]
    bars = days(kind)
    view = Bars("1m", bars.timestamps, bars.open, bars.high, bars.low, bars.close, bars.volume)
    chunked, strategy = [], spec.build()
    for lo, hi in itertools.pairwise([0, *sorted(set(cuts)), len(bars)]):
        view._length = hi
        found = strategy._chunk(view, lo)
        chunked += list(
            zip(
                found.index.tolist(),
                found.action.tolist(),
                found.confidence.tolist(),
                found.reason.tolist(),
                strict=True,
            )
        )
    per_bar, strategy = [], spec.build()
    for t in range(len(bars)):
        view._length = t + 1
        signal = signal_at(strategy, view)
        if signal is not None:
            per_bar.append((t, signal.action, signal.confidence, signal.reason))
    assert chunked == per_bar
    assert len(per_bar) > 5


# -- failures ----------------------------------------------------------------------------------


def test_a_strategy_that_raises_is_stopped_at_its_bar_and_the_others_go_on() -> None:
    bars = days("cents")
    others = [StrategySpec.parse("sma_crossover"), StrategySpec.parse("rsi")]
    alone = run_in_steps(bars, others, [])
    with_failing = run_in_steps(bars, [defaults(FailsAt, "5m"), *others], ["bar"] * 300)

    (failure,) = with_failing.failures
    assert failure.strategy == "fails_at:at=100,timeframe=5m"
    assert failure.time_ns == int(
        with_failing.markets[0].series["5m"].timestamps[99]
    )  # its 100th bar
    assert failure.error == "ZeroDivisionError: on purpose"
    assert "fails_at:at=100,timeframe=5m stopped at the bar of 2024-03-05 " in failure.describe()
    mine = [s for s in with_failing.signals if s.strategy.startswith("fails_at")]
    # Bars 10..90: the 100th's signal, made before raising, is dropped.
    assert len(mine) == 9 and all(s.time_ns < failure.time_ns for s in mine)
    # The others signal on to the end, at the bars they do without it (their decisions may
    # differ: its approved signals held the position for a while; these do not read it).
    theirs = [s for s in with_failing.signals if not s.strategy.startswith("fails_at")]
    assert [(s.strategy, s.time_ns) for s in theirs] == [
        (s.strategy, s.time_ns) for s in alone.signals
    ]
    assert any(s.time_ns > failure.time_ns for s in theirs)


def test_a_failing_strategy_that_made_no_signal_changes_nothing_for_the_others() -> None:
    """DESIGN: a strategy that raises at its 100th bar leaves the others' signals unchanged."""
    bars = days("cents")
    others = [StrategySpec.parse("sma_crossover"), StrategySpec.parse("rsi"), defaults(Flip)]
    alone = outcome(run_in_steps(bars, others, []))
    silent = StrategySpec(FailsAt, (("at", 5),))  # raises before its 10th bar's signal
    both = run_in_steps(bars, [*others, silent], ["bar"] * 50 + [0.1] * 10)
    signals, fills, cash, position, failures = outcome(both)
    assert (signals, fills, cash, position) == alone[:4]
    assert [f.error for f in failures] == ["ZeroDivisionError: on purpose"]


def test_on_chunk_that_raises_is_stopped_at_the_batch_and_the_others_go_on() -> None:
    bars = days("cents")
    pipeline = run_in_steps(bars, [defaults(ChunkFails), StrategySpec.parse("rsi")], [])
    (failure,) = pipeline.failures
    assert failure.strategy == "chunk_fails:at=500" and failure.error == "RuntimeError: on purpose"
    assert failure.time_ns == int(bars.timestamps[0])  # all bars came in one batch
    assert len(pipeline.signals) == len(run_in_steps(bars, [StrategySpec.parse("rsi")], []).signals)


class Twice(Strategy):
    """Signals twice at its 3rd bar."""

    name = "twice"

    def on_bar(self, bars: Bars) -> None:
        if len(bars) == 3:
            self.buy()
            self.sell()


class TooSure(Strategy):
    """A confidence past 1."""

    name = "too_sure"

    def on_bar(self, bars: Bars) -> None:
        self.buy(confidence=1.5)


class Ahead(Strategy):
    """on_chunk signalling at a bar before its chunk."""

    name = "ahead"

    def on_chunk(self, bars: Bars, start: int) -> Signals:
        return Signals(np.array([start - 1]), np.array([1]), np.array([1.0]), "early")


@pytest.mark.parametrize(
    ("strategy", "error"),
    [
        (Twice, "RuntimeError: twice: one signal per bar (already a BUY at this bar)"),
        (TooSure, "ValueError: too_sure: confidence must be in [0, 1], got 1.5"),
        (Ahead, "ValueError: ahead: on_chunk must return increasing positions in 0..389"),
    ],
)
def test_a_broken_signal_stops_the_strategy_with_a_clear_error(strategy, error) -> None:
    bars = days("cents")
    pipeline = run_in_steps(bars, [defaults(strategy), StrategySpec.parse("rsi")], [1.0 / 3])
    (failure,) = pipeline.failures
    assert failure.error.startswith(error)
    assert not [s for s in pipeline.signals if s.strategy == strategy.name]
    assert {s.strategy for s in pipeline.signals} == {StrategySpec.parse("rsi").label}
