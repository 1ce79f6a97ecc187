"""Trading costs (DESIGN.md, "Results"): every commission and slippage form on three trades
worked out by hand, and slippage always against the trader. (The text forms and their errors:
test_trading_rules.py; the same three trades through a session: test_session_trading.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.results import Costs, equity_curve, round_trips
from engine.trading_rules import TradingRules
from tests.support.results import daily_stamps, fills_at_open

CASH = 100_000.0
# Three trades at these opens: long 100 from 10 to 11, long 50 from 20 to 19, and short 400
# from 5 down to 4. The closes don't matter: every trade is closed by the last bar.
OPEN = np.array([9.0, 10.0, 11.0, 20.0, 19.0, 5.0, 4.0, 4.5])
CLOSE = OPEN + 0.25
ORDERS = [(1, 100), (2, -100), (3, 50), (4, -50), (5, -400), (6, 400)]


def three_trades(costs: Costs):
    fills = fills_at_open(ORDERS, OPEN, costs)
    stamps = daily_stamps(len(OPEN))
    curve = equity_curve(stamps, np.arange(len(OPEN)), CLOSE, fills, CASH)
    return round_trips(fills, stamps, CLOSE, "T"), curve


def parse(**texts: str) -> Costs:
    """The costs the options' text forms give (`commission="0.1%"`)."""
    return TradingRules.from_text(texts).costs


# (form, commission per trade, pnl per trade), each computed by hand in the comments.
CASES = {
    "no costs": (
        parse(),
        [0, 0, 0],
        [100, -50, 400],  # 100 * 1; 50 * -1; 400 * 1
    ),
    "per share 0.005": (
        parse(commission="0.005"),
        [1.0, 0.5, 4.0],  # 2 fills * 100 * 0.005; 2 * 50 * 0.005; 2 * 400 * 0.005
        [99.0, -50.5, 396.0],
    ),
    "0.1% of notional": (
        parse(commission="0.1%"),
        [2.1, 1.95, 3.6],  # 0.001 * (1000 + 1100); (1000 + 950); (2000 + 1600)
        [97.9, -51.95, 396.4],
    ),
    "per share 0.005, at least 1.0": (
        parse(commission="0.005", min_commission="1.0"),
        [2.0, 2.0, 4.0],  # 0.5 → 1 twice; 0.25 → 1 twice; 2.0 stays twice
        [98.0, -52.0, 396.0],
    ),
    "slippage 0.01": (
        parse(slippage="0.01"),
        [0, 0, 0],
        # buy 10.01 sell 10.99; buy 20.01 sell 18.99; sell short 4.99 buy back 4.01
        [98.0, -51.0, 392.0],
    ),
    "slippage 2bp": (
        parse(slippage="2bp"),
        [0, 0, 0],
        # buy 10.002 sell 10.9978; buy 20.004 sell 18.9962; sell 4.999 buy 4.0008
        [99.58, -50.39, 399.28],
    ),
    "0.1% at least 1.0, 2bp": (
        parse(commission="0.1%", min_commission="1", slippage="2bp"),
        # 1.0002 + 1.09978 → 2.09998; 50 * 20.004 → 1.0002, + 1 (0.94981 → 1) → 2.0002;
        # 400 * 4.999 → 1.9996 + 400 * 4.0008 → 1.60032
        [2.09998, 2.0002, 3.59992],
        [99.58 - 2.09998, -50.39 - 2.0002, 399.28 - 3.59992],
    ),
}


@pytest.mark.parametrize("form", CASES)
def test_three_trades_by_hand(form):
    costs, commissions, pnls = CASES[form]
    trades, curve = three_trades(costs)
    assert trades.side.tolist() == [1, 1, -1]
    assert trades.size.tolist() == [100, 50, 400]
    np.testing.assert_allclose(trades.commission, commissions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(trades.pnl, pnls, rtol=0, atol=1e-9)
    cost_basis = trades.size * trades.entry_price
    np.testing.assert_allclose(trades.return_pct, np.array(pnls) / cost_basis * 100, atol=1e-9)
    assert curve.equity[-1] == pytest.approx(CASH + sum(pnls), abs=1e-9)
    assert curve.position[-1] == 0


prices = st.floats(0.01, 10_000)
sizes = st.integers(-10_000, 10_000).filter(bool).map(float)
costs = st.builds(
    Costs,
    per_share=st.floats(0, 0.1),
    pct_of_notional=st.floats(0, 1),
    min_commission=st.floats(0, 5),
    slippage=st.floats(0, 0.05),
    slippage_bp=st.floats(0, 50),
)


@given(costs, prices, sizes)
def test_slippage_is_against_the_trader_and_commission_at_least_the_minimum(costs, price, size):
    fill = costs.fill_price(price, size)
    assert fill >= price if size > 0 else fill <= price
    assert costs.commission(size, fill) >= costs.min_commission
    assert costs.commission(0.0, fill) == 0
    # Arrays give what scalars give.
    filled = costs.fill_price(np.array([price, price]), np.array([size, -size]))
    assert filled[0] == fill
    assert costs.commission(np.array([size]), filled[:1])[0] == costs.commission(size, fill)
