"""The one interface a strategy implements, and the signals it returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

BUY = 1
SELL = -1


@dataclass(frozen=True)
class StrategySignals:
    """The signals among the bars of one `update`: positions in that update's closes, the action
    (BUY / SELL) and a confidence in [0, 1]."""

    index: np.ndarray  # int64
    action: np.ndarray  # int8
    confidence: np.ndarray  # float64

    @classmethod
    def none(cls) -> StrategySignals:
        return cls(np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0))


class Strategy(ABC):
    """A stateful reader of closes, fed the bars of one timeframe in order.

    `update` may be called with the closes one bar at a time or many at once: feeding the same
    closes in any chunks must give bit-identical signals. That is what makes a session's results
    independent of its speed, so implementations compute each value the same way whatever the
    chunking (sequential sums over a fixed window, a sequential recursion), never with running
    totals whose rounding depends on where a chunk starts.
    """

    name: ClassVar[str]
    # Parameter name -> (default, type); the spec parser checks names and types against it.
    parameters: ClassVar[dict[str, tuple[float, type]]]

    @abstractmethod
    def update(self, close: np.ndarray) -> StrategySignals:
        """Feed the next bars' closes; return the signals at those bars."""
