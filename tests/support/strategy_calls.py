"""A strategy called at one bar outside a session, as the session's on_bar loop calls it."""

from __future__ import annotations

from typing import NamedTuple

from engine.strategy.base import Bars, Strategy


class Made(NamedTuple):
    """The signal `on_bar` made, as the session reads it (`Strategy._signal`)."""

    action: int
    confidence: float
    reason: str


def signal_at(strategy: Strategy, bars: Bars) -> Made | None:
    """Run `strategy.on_bar` at the last of `bars`; its signal, if any."""
    strategy._signal = None
    strategy._bars = bars  # what `context` reads
    strategy.on_bar(bars)
    return None if strategy._signal is None else Made(*strategy._signal)
