"""Small builders for the results tests: daily bars and fills of orders at the bars' opens."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from engine.results import Costs, Fills

DAY_NS = 86_400 * 10**9
NO_COSTS = Costs()
FIRST_DAY = pd.Timestamp("2024-01-02", tz="UTC").value


def daily_stamps(n: int) -> np.ndarray:
    """One bar per day from 2024-01-02 (daily bars sit at midnight UTC)."""
    return FIRST_DAY + DAY_NS * np.arange(n, dtype=np.int64)


def fills_at_open(
    orders: Sequence[tuple[int, float]], open_: np.ndarray, costs: Costs = NO_COSTS
) -> Fills:
    """Orders (bar, signed size) filled at their bar's open, with `costs` applied."""
    bars = np.array([bar for bar, _ in orders], dtype=np.int64)
    sizes = np.array([size for _, size in orders], dtype=np.float64)
    prices = costs.fill_price(open_[bars], sizes)
    return Fills.of(bars, sizes, prices, costs.commission(sizes, prices), strategy="test")


@st.composite
def accounts(draw):
    """Closes and a run of fills on them: any sizes, long and short, flips, several fills on
    one bar, commissions or none; never so large that the equity could reach zero."""
    n = draw(st.integers(1, 40))
    close = draw(st.lists(st.floats(50, 60), min_size=n, max_size=n))
    orders = draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(-100, 100).filter(bool)), max_size=12)
    )
    orders.sort(key=lambda order: order[0])  # fills come in time order
    bars = [bar for bar, _ in orders]
    prices = draw(st.lists(st.floats(50, 60), min_size=len(orders), max_size=len(orders)))
    fees = draw(st.lists(st.floats(0, 5), min_size=len(orders), max_size=len(orders)))
    return close, Fills.of(bars, [size for _, size in orders], prices, fees, strategy="s")
