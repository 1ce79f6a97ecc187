"""The strategies that ship with ktrdr-tui, written on the public API like any user's."""

from __future__ import annotations

from engine.strategy.base import Strategy
from engine.strategy.builtins.rsi import Rsi
from engine.strategy.builtins.sma_crossover import SmaCrossover

BUILTINS: tuple[type[Strategy], ...] = (SmaCrossover, Rsi)

__all__ = ["BUILTINS", "Rsi", "SmaCrossover"]
