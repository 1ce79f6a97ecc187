"""A strategy called at one bar outside a session, as the session's on_bar loop calls it."""

from __future__ import annotations

from engine.strategy.base import Bars, Signal, Strategy


def signal_at(strategy: Strategy, bars: Bars) -> Signal | None:
    """Run `strategy.on_bar` at the last of `bars`; its signal, if any."""
    strategy._signal = None
    strategy._bars = bars  # what `context` reads
    strategy.on_bar(bars)
    return strategy._signal
