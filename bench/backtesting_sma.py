"""The SMA crossover for backtesting.py, in a module of its own: its `optimize` pickles the
strategy class into its worker processes, which import it from here (and nothing else of the
benchmark that uses it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from backtesting import Strategy
from backtesting.lib import crossover

SHARES = 100


def sma(values: np.ndarray, n: int) -> pd.Series:
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    """Buy 100 shares at a cross above when flat, close at a cross below."""

    fast = 10
    slow = 30

    def init(self) -> None:
        self.fast_ma = self.I(sma, self.data.Close, self.fast)
        self.slow_ma = self.I(sma, self.data.Close, self.slow)

    def next(self) -> None:
        if crossover(self.fast_ma, self.slow_ma) and not self.position:
            self.buy(size=SHARES)
        elif crossover(self.slow_ma, self.fast_ma) and self.position:
            self.position.close()
