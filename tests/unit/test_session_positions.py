"""What an on_bar strategy reads of its position (DESIGN.md, "Strategies"): the fills up to its
bar, however seldom it looks.

The session decides the signals of on_bar strategies only when one of them reads a position,
and the rest after its loop, in arrays (engine.session.pipeline). These tests show that the
wait cannot be seen: the position read at a bar is what the fills up to that bar make it, and
a session whose strategies look at every bar (deciding each signal one by one, at once) and
one where they look seldom or never decide, fill and log the same, to the bit.
"""

from __future__ import annotations

import functools
from typing import ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.session.bars import SessionBars
from engine.strategy import Bars, Strategy
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules
from tests.support.bar_fixtures import synthetic_session_bars
from tests.support.stepped_sessions import STEPS, outcome, run_in_steps


class Looker(Strategy):
    """BUY and SELL in turn every `every` bars, whatever it holds; reads its position at every
    `look`-th bar (never when 0) and keeps what it read, by bar. `look` is not a parameter:
    sessions that differ in it alone log the same labels."""

    name = "looker"
    every: int = 3
    look: ClassVar[int] = 1

    def setup(self) -> None:
        self.seen: dict[int, int] = {}

    def on_bar(self, bars: Bars) -> None:
        n = len(bars)
        if self.look and n % self.look == 0:
            self.seen[n - 1] = self.position
        if n % self.every == 0:
            if (n // self.every) % 2:
                self.buy(0.9, reason="turn up")
            else:
                self.sell(0.9, reason="turn down")


@functools.cache
def two_days() -> SessionBars:
    return synthetic_session_bars("2024-03-04", "2024-03-05")


def looker(every: int, look: int) -> StrategySpec:
    return StrategySpec(type("Looker", (Looker,), {"look": look}), (("every", every),))


# Two lookers share the account (one with room for both: max_position allows two entries).
RULES = (TradingRules(), TradingRules(max_position=200), TradingRules(short=True))


def sessions_of_lookers(looks: st.SearchStrategy[int]):
    """Draw how often a looker signals and looks (`looks`), the rules and the clock's steps."""
    return given(every=st.integers(1, 7), look=looks, rules=st.sampled_from(RULES), steps=STEPS)


@settings(max_examples=25, deadline=None)
@sessions_of_lookers(st.integers(1, 60))
def test_the_position_read_at_a_bar_is_what_the_fills_up_to_it_make(
    every, look, rules, steps
) -> None:
    bars = two_days()
    specs = [looker(every, look), looker(every + 1, 0), StrategySpec.parse("sma_crossover")]
    pipeline = run_in_steps(bars, specs, steps, rules)
    fills = list(pipeline.account.fills)
    assert len(fills) > 20
    seen = pipeline.strategies[0].seen
    assert len(seen) == len(bars) // look
    starts = bars.timestamps.tolist()
    for bar, position in seen.items():
        filled = [f for f in fills if f.time_ns <= starts[bar]]  # at the opens up to its own
        assert position == sum(f.quantity * (1 if f.action == "BUY" else -1) for f in filled)


@settings(max_examples=25, deadline=None)
@sessions_of_lookers(st.integers(0, 60))
def test_looking_seldom_decides_and_fills_as_looking_at_every_bar(
    every, look, rules, steps
) -> None:
    """The same signals (a looker's do not depend on what it reads), beside a batched
    built-in: at every bar, every signal is decided one by one as soon as it is known."""
    bars = two_days()

    def session(looks: tuple[int, int]) -> tuple:
        specs = [looker(every, looks[0]), looker(every + 2, looks[1])]
        return outcome(run_in_steps(bars, [*specs, StrategySpec.parse("rsi")], steps, rules))

    at_every_bar = session((1, 1))
    signals, fills, _, _, _ = at_every_bar
    assert len(signals) > 200 and len(fills) > 20
    assert session((look, 0)) == at_every_bar
    assert session((0, look)) == at_every_bar
