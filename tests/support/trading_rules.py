"""Any trading rules, for the property tests of what reads and writes them."""

from __future__ import annotations

from hypothesis import strategies as st

from engine.trading_rules import Costs, OrderSize, TradingRules

rules = st.builds(
    TradingRules,
    cash=st.floats(0.01, 1e9),
    size=st.one_of(
        st.builds(OrderSize, st.integers(1, 10**6)),
        st.builds(OrderSize, percent=st.floats(0.001, 100)),
    ),
    max_position=st.integers(1, 10**7),
    min_confidence=st.floats(0, 1),
    min_quality=st.floats(0, 100),
    costs=st.builds(
        lambda per_share, pct, minimum, units, bp: Costs(per_share, pct, minimum, units, bp),
        *(st.floats(0, 10) for _ in range(2)),
        st.floats(0, 100),
        *(st.floats(0, 10) for _ in range(2)),
    ).filter(lambda c: not ((c.per_share and c.pct_of_notional) or (c.slippage and c.slippage_bp))),
    short=st.booleans(),
)
