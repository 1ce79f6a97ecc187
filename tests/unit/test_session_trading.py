"""The trading rules through the real session pipeline (DESIGN.md, "Results"): three trades
worked out by hand for every commission and slippage form, shorts both ways, a size in percent
of the equity, orders the cash cannot pay for, and the account the fills leave — which is what
engine.results computes from them, and never below zero without a rejection's reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.results import Fills, equity_curve, round_trips
from engine.session.pipeline import Pipeline
from engine.strategy.spec import StrategySpec
from engine.trading_rules import Costs, OrderSize, TradingRules
from tests.support.results import SCRIPTED, SELL_CUE, Scripted, session_of

CASH = 100_000.0
# Three trades of 100 shares, each filled at the next bar's open: long from 10 to 11, long
# from 20 to 19, and (a SELL when flat, with short selling on) short from 5 to 4.
OPEN = [9.0, 10.0, 11.0, 20.0, 19.0, 5.0, 4.0, 4.5]
CLOSE = [price + 0.25 for price in OPEN]
SCRIPT = "BSBSSB"


def play(script: str = SCRIPT, rules: TradingRules | None = None, open_=OPEN, close=CLOSE):
    bars = session_of(open_, close, script)
    pipeline = Pipeline(bars, [SCRIPTED], rules)
    pipeline.advance_to(pipeline.end)
    return pipeline


def rules(**texts: object) -> TradingRules:
    return TradingRules.from_text({"short": True, **texts})


# form → (the options, commission per trade, pnl per trade), worked out in the comments.
CASES = {
    "no costs": ({}, [0, 0, 0], [100, -100, 100]),
    "per share 0.005": (
        {"commission": "0.005"},
        [1.0, 1.0, 1.0],  # 2 fills * 100 * 0.005
        [99.0, -101.0, 99.0],
    ),
    "0.1% of the notional": (
        {"commission": "0.1%"},
        [2.1, 3.9, 0.9],  # 0.001 * (1000 + 1100); (2000 + 1900); (500 + 400)
        [97.9, -103.9, 99.1],
    ),
    "per share 0.005, at least 1.0": (
        {"commission": "0.005", "min_commission": "1.0"},
        [2.0, 2.0, 2.0],  # every fill 0.5 → 1.0
        [98.0, -102.0, 98.0],
    ),
    "slippage 0.01": (
        {"slippage": "0.01"},
        [0, 0, 0],
        # buy 10.01 sell 10.99; buy 20.01 sell 18.99; sell short 4.99 buy back 4.01
        [98.0, -102.0, 98.0],
    ),
    "slippage 2bp": (
        {"slippage": "2bp"},
        [0, 0, 0],
        # buy 10.002 sell 10.9978; buy 20.004 sell 18.9962; sell 4.999 buy back 4.0008
        [99.58, -100.78, 99.82],
    ),
    "0.1% at least 1.0, 2bp": (
        {"commission": "0.1%", "min_commission": "1", "slippage": "2bp"},
        # 1.0002 + 1.09978; 2.0004 + 1.89962; 0.4999 → 1 and 0.40008 → 1
        [2.09998, 3.90002, 2.0],
        [99.58 - 2.09998, -100.78 - 3.90002, 99.82 - 2.0],
    ),
}


@pytest.mark.parametrize("form", CASES)
def test_three_trades_by_hand_through_the_session(form):
    options, commissions, pnls = CASES[form]
    pipeline = play(rules=rules(**options))
    assert all(signal.approved for signal in pipeline.signals)
    results = pipeline.results()
    trades = results.trades
    assert trades.side.tolist() == [1, 1, -1] and trades.size.tolist() == [100] * 3
    assert not trades.open.any()
    np.testing.assert_allclose(trades.commission, commissions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(trades.pnl, pnls, rtol=0, atol=1e-9)
    # The fills log carries each fill's commission and strategy.
    fills = list(pipeline.account.fills)
    assert [fill.strategy for fill in fills] == ["scripted"] * 6
    assert sum(fill.commission for fill in fills) == pytest.approx(sum(commissions), abs=1e-9)
    assert results.statistics.commissions == pytest.approx(sum(commissions), abs=1e-9)
    assert pipeline.equity == pytest.approx(CASH + sum(pnls), abs=1e-9)
    assert results.curve.equity[-1] == pipeline.equity and pipeline.account.position == 0


def test_without_short_selling_a_sell_when_flat_is_refused_and_nothing_is_short():
    pipeline = play(rules=TradingRules())
    reasons = [signal.reason for signal in pipeline.signals]
    assert reasons == ["", "", "", "", "position limit: 0 held, nothing to sell", ""]
    trades = pipeline.results().trades
    # The last BUY opened a long (filled at 4.0), still open at the end: closed at the last close.
    assert trades.side.tolist() == [1, 1, 1] and trades.open.tolist() == [False, False, True]
    assert trades.exit_price[-1] == CLOSE[-1] and trades.pnl[-1] == pytest.approx(75.0)
    assert (pipeline.results().curve.position >= 0).all()


@pytest.mark.parametrize(("cover", "pnl"), [(4.0, 100.0), (6.0, -100.0)])
def test_a_short_gains_when_the_price_falls_and_loses_when_it_rises(cover, pnl):
    open_ = [5.0, 5.0, 5.5, cover, cover]
    pipeline = play("S.B", rules(), open_, open_)
    trades = pipeline.results().trades
    assert (trades.side.tolist(), trades.entry_price.tolist()) == ([-1], [5.0])
    assert (trades.exit_price.tolist(), trades.pnl.tolist()) == ([cover], [pnl])
    curve = pipeline.results().curve
    assert curve.position.tolist() == [0, -100, -100, 0, 0]
    # Short 100 at 5: 500 more cash, -100 shares; marked at the close of 5.5: 50 down.
    assert curve.cash[1] == CASH + 500 and curve.equity[2] == CASH - 50
    assert pipeline.equity == CASH + pnl


def test_a_sell_adds_to_a_short_up_to_the_limit_and_a_buy_closes_it_whole():
    pipeline = play("SSSB", rules(max_position=200), [5.0] * 6, [5.0] * 6)
    assert [signal.reason for signal in pipeline.signals] == [
        "",
        "",
        "position limit: -200 held, at most 200",
        "",
    ]
    assert [(fill.action, fill.quantity) for fill in pipeline.account.fills] == [
        ("SELL", 100),
        ("SELL", 100),
        ("BUY", 200),  # closes the short whole; never turns it long
    ]
    assert pipeline.account.position == 0


def test_a_sell_closes_a_long_whole():
    pipeline = play("BBS", TradingRules(max_position=300), [5.0] * 5, [5.0] * 5)
    assert [(fill.action, fill.quantity) for fill in pipeline.account.fills] == [
        ("BUY", 100),
        ("BUY", 100),
        ("SELL", 200),
    ]


@pytest.mark.parametrize(
    ("options", "shares"),
    [
        # 10% of 100,000 at the signal's close of 9.25: 1,081 shares (1,082 cost 10,008.50).
        ({}, 1081),
        # 9.25 * 1.001 a share with commission: 1,080 cost 9,999.99; 1,081 cost 10,009.25.
        ({"commission": "0.1%"}, 1080),
        # The minimum of 20 comes first: 1,078 cost 9,991.50; 1,079 cost 10,000.75.
        ({"commission": "0.1%", "min_commission": "20"}, 1078),
    ],
)
def test_a_size_in_percent_buys_what_that_share_of_the_equity_pays_for(options, shares):
    pipeline = play("B", TradingRules.from_text({"size": "10%", "max_position": 10**6, **options}))
    (fill,) = pipeline.account.fills
    assert (fill.action, fill.quantity, fill.price) == ("BUY", shares, 10.0)
    assert pipeline.account.cash == pytest.approx(CASH - shares * 10.0 - fill.commission)


def test_a_percent_too_small_for_one_share_is_refused_with_the_reason():
    pipeline = play("B", TradingRules.from_text({"size": "1%", "cash": "500"}))
    assert pipeline.signals[0].reason == "size 1% of equity buys no share at 9.25"
    assert len(pipeline.account.fills) == 0


def test_an_order_the_cash_cannot_pay_for_is_refused_with_the_reason():
    # 1,000 cash: 100 shares at the close of 9.25 fit (and fill at the next open, 10: all of
    # it); after selling at 11, the 1,100 do not pay for 100 at the close of 11.25.
    pipeline = play(rules=TradingRules(cash=1000.0))
    reasons = [signal.reason for signal in pipeline.signals]
    assert reasons[:4] == [
        "",
        "",
        "cash: 1,125.00 needed, 1,100.00 available",
        "position limit: 0 held, nothing to sell",
    ]
    curve = pipeline.results().curve
    assert curve.cash.min() == 0.0 and curve.equity.min() > 0


class BuysOnSellCue(Scripted):
    """BUY where the scripted strategy sells: the two trade at the same instant."""

    name = "buys_on_sell_cue"

    def on_bar(self, bars) -> None:
        if bars.volume[-1] == SELL_CUE:
            self.buy(1.0)


def test_a_long_closed_at_the_same_instant_pays_for_a_new_entry():
    # 1,000 cash buys 100 at 10: none left. Then the scripted strategy sells (its order not
    # filled yet) and the other buys: the sale's 1,000 pay for it.
    bars = session_of([10.0] * 5, [10.0] * 5, "B.S")
    pipeline = Pipeline(bars, [SCRIPTED, StrategySpec(BuysOnSellCue, ())], TradingRules(cash=1000))
    pipeline.advance_to(pipeline.end)
    assert [(s.strategy, s.action, s.reason) for s in pipeline.signals] == [
        ("scripted", "BUY", ""),
        ("scripted", "SELL", ""),
        ("buys_on_sell_cue", "BUY", ""),
    ]
    assert [(f.action, f.strategy) for f in pipeline.account.fills] == [
        ("BUY", "scripted"),
        ("SELL", "scripted"),
        ("BUY", "buys_on_sell_cue"),
    ]
    assert pipeline.account.cash == 0.0 and pipeline.account.position == 100


def test_a_short_ties_up_its_value_twice_over():
    # Short 100 at 5 from 1,000: 1,500 cash, 500 of it owed back; a second short of 100 at 5
    # needs 500 of the 1,000 left (1,500 less twice the 500 owed); a third none is left for.
    pipeline = play("SSS", rules(cash=1000, max_position=1000), [5.0] * 5, [5.0] * 5)
    assert [signal.reason for signal in pipeline.signals] == [
        "",
        "",
        "cash: 500.00 needed, 0.00 available",
    ]


def test_the_session_keeps_the_account_engine_results_computes_from_its_fills():
    options, _, _ = CASES["0.1% at least 1.0, 2bp"]
    pipeline = play(rules=rules(**options))
    results = pipeline.results()
    columns = pipeline.account.fills.view()
    fills = Fills.of(
        columns.bar, columns.size, columns.price, columns.commission, strategy="scripted"
    )
    bars = pipeline.markets[0].bars
    curve = equity_curve(bars.timestamps, bars.session, bars.close, fills, CASH)
    for name in ("cash", "position", "equity", "drawdown_pct", "exposed"):
        assert getattr(results.curve, name).tolist() == getattr(curve, name).tolist(), name
    expected = round_trips(fills, bars.timestamps, bars.close, "T")
    assert results.trades.pnl.tolist() == expected.pnl.tolist()
    assert results.trades.strategy.tolist() == ["scripted"] * 3


def test_open_pnl_is_what_the_open_trades_make_at_the_last_close():
    pipeline = play("BB", TradingRules(max_position=200, costs=Costs(per_share=0.01)))
    trades = pipeline.results().trades
    assert trades.open.all() and len(trades) == 2
    assert pipeline.account.open_pnl(pipeline.last_closes) == pytest.approx(trades.pnl.sum())


# -- the account never goes below zero without a reason ----------------------------------------


@st.composite
def runs(draw):
    """Daily closes with each open at the close before (no gaps: an order costs what it was
    estimated at), a script of signals, and long-only rules of any size and costs."""
    n = draw(st.integers(2, 30))
    close = draw(st.lists(st.floats(1, 100), min_size=n, max_size=n))
    open_ = [close[0], *close[:-1]]
    script = draw(st.text(alphabet="BS.", min_size=n, max_size=n))
    percent = draw(st.booleans())
    size = (
        OrderSize(percent=draw(st.floats(1, 100)))
        if percent
        else OrderSize(draw(st.integers(1, 500)))
    )
    costs = Costs(
        per_share=draw(st.sampled_from([0.0, 0.005, 0.05])),
        pct_of_notional=draw(st.sampled_from([0.0, 0.1, 1.0])),
        min_commission=draw(st.sampled_from([0.0, 1.0, 10.0])),
        slippage=draw(st.sampled_from([0.0, 0.01, 0.5])),
        slippage_bp=draw(st.sampled_from([0.0, 2.0, 50.0])),
    )
    cash = draw(st.floats(100, 100_000))
    return open_, close, script, TradingRules(cash, size, 10**6, costs=costs)


KNOWN_REASONS = ("cash: ", "position limit: ", "size ")


# Three entries at $1 and then $62 (cash $100, a $10 minimum commission), then a close at $1:
# its $3 do not cover its commission.
UNCOVERED_CLOSE = (
    [1.0, 1.0, 1.0, 62.0] + [1.0] * 23,
    [1.0, 1.0, 62.0] + [1.0] * 24,
    "B" * 25 + "SB",
    TradingRules(100.0, OrderSize(1), 10**6, costs=Costs(min_commission=10.0)),
)


def test_a_close_its_proceeds_do_not_cover_is_approved_and_overdraws_the_cash():
    open_, close, script, trading = UNCOVERED_CLOSE
    pipeline = play(script, trading, open_, close)
    *_, sell, last_buy = pipeline.signals
    assert sell.action == "SELL" and sell.approved
    assert pipeline.account.cash == pytest.approx(100 - (1 + 1 + 62) - 3 * 10 + 3 * 1 - 10)
    assert not last_buy.approved and last_buy.reason.startswith("cash: ")


@settings(max_examples=200, deadline=None)
@given(runs())
@example(UNCOVERED_CLOSE)
def test_long_only_the_cash_and_the_equity_never_go_below_zero(run):
    """Never, but by what a close's commission takes beyond its proceeds: an order that
    closes needs no cash (engine.session.decisions), as at a broker."""
    open_, close, script, trading = run
    pipeline = play(script, trading, open_, close)
    curve = pipeline.results().curve
    uncovered = sum(
        max(0.0, fill.commission - fill.quantity * fill.price)
        for fill in pipeline.account.fills
        if fill.action == "SELL"
    )
    assert curve.cash.min() >= -uncovered - 1e-6 and curve.equity.min() >= -uncovered - 1e-6
    for signal in pipeline.signals:
        assert signal.approved or signal.reason.startswith(KNOWN_REASONS), signal.reason
