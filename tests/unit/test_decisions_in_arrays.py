"""`RiskManager.decide_all` (engine/session/decisions.py): where a position can only alternate
between flat and long (whatever the costs) it decides signals in arrays, up to the first entry
the cash refuses; whatever the rules and the signals, it leaves the same reasons, fills, cash,
reserve and orders as deciding them one by one with `decide`, to the bit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.session.bars import SessionBars
from engine.session.decisions import Account, RiskManager
from engine.trading_rules import TradingRules
from tests.support.several_symbols import minute_bars

BUY, SELL = 1, -1
LACKING = "history: 2 of 3 sessions before 2024-03-06"


@dataclass
class Batch:
    bar: np.ndarray  # the bar each signal is made at (its order fills at the next one's open)
    action: np.ndarray
    quality: np.ndarray
    confidence: np.ndarray
    strategy: np.ndarray
    lacking: list[str]
    due: int | None  # the pipeline's fills after the batch: the orders before this bar


def manager(rules: TradingRules, bars: SessionBars) -> RiskManager:
    return RiskManager(rules, Account(rules, [bars], ["a", "b"]), [bars])


def decide(risk: RiskManager, bars: SessionBars, batch: Batch, one_by_one: bool) -> list[str]:
    columns = (
        batch.action,
        batch.quality,
        batch.confidence,
        bars.close[batch.bar],
        batch.bar + 1,  # the first bar to start once the signal's bar has ended
        batch.strategy,
        np.zeros(len(batch.bar), np.int64),
        bars.end[batch.bar],
    )
    if not one_by_one:
        return risk.decide_all(*columns, batch.lacking)
    return [
        lacks or risk.decide(*values)
        for *values, lacks in zip(*(c.tolist() for c in columns), batch.lacking, strict=True)
    ]


def state(risk: RiskManager) -> tuple:
    """Everything deciding leaves, floats as their bits."""
    account = risk.account
    account.flush()
    fills = account.fills.view()
    return (
        account.cash.hex(),
        account.positions,
        [flow.hex() for flow in account._flow],
        [flow.hex() for flow in account._flat_flow],
        risk.committed,
        risk._reserved.hex(),
        [(bar, size, strategy, takes.hex()) for bar, size, strategy, takes in risk.pendings[0]],
        fills.bar.tolist(),
        fills.action.tolist(),
        fills.quantity.tolist(),
        [price.hex() for price in fills.price.tolist()],
        fills.commission.tolist(),
        fills.strategy.tolist(),
    )


@st.composite
def trading_rules(draw) -> TradingRules:
    shares = draw(st.sampled_from([1, 10, 100]))
    texts = {
        "size": str(shares),
        # Mostly a limit that lets a position only alternate; now and then one that does not.
        "max_position": str(draw(st.sampled_from([shares, 2 * shares - 1, 2 * shares]))),
        "cash": draw(st.sampled_from(["1000", "20000", "100000", "1000000"])),
        "min_quality": draw(st.sampled_from(["0", "95"])),
        "min_confidence": draw(st.sampled_from(["0", "0.5"])),
    }
    if draw(st.integers(0, 9)) == 0:
        texts["short"] = "true"
    costs = draw(st.sampled_from(["none", "per share", "heavy", "percent", "slippage"]))
    if costs == "per share":
        texts |= {"commission": "0.005", "min_commission": "1"}
    elif costs == "heavy":  # a few round trips and the cash refuses entries
        texts["commission"] = "2"
    elif costs == "percent":
        texts["commission"] = "0.1%"
    elif costs == "slippage":
        texts |= {"slippage": draw(st.sampled_from(["0.01", "2bp"]))}
    return TradingRules.from_text(texts)


@st.composite
def batches(draw, bars: int) -> list[Batch]:
    made = draw(st.lists(st.integers(0, bars - 1), min_size=1, max_size=300))
    made.sort()  # signals come in the order they become known
    cuts = sorted(set(draw(st.lists(st.integers(1, len(made)), max_size=4))) | {len(made)})
    out, start = [], 0
    for cut in cuts:
        n = cut - start
        rows = st.lists(st.integers(0, 99), min_size=n, max_size=n)
        out.append(
            Batch(
                bar=np.array(made[start:cut], np.int64),
                action=np.array(
                    draw(st.lists(st.sampled_from([BUY, SELL]), min_size=n, max_size=n))
                ),
                quality=np.array([100.0 if r else 50.0 for r in draw(rows)]),
                confidence=np.array([1.0 if r > 9 else 0.3 for r in draw(rows)]),
                strategy=np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))),
                lacking=[LACKING if r < 3 else "" for r in draw(rows)],
                due=draw(st.none() | st.integers(made[cut - 1], bars)),
            )
        )
        start = cut
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_deciding_in_arrays_leaves_exactly_what_deciding_one_by_one_leaves(data):
    bars = minute_bars()
    rules = data.draw(trading_rules())
    arrays, one_by_one = manager(rules, bars), manager(rules, bars)
    for batch in data.draw(batches(len(bars))):
        reasons = decide(arrays, bars, batch, one_by_one=False)
        assert reasons == decide(one_by_one, bars, batch, one_by_one=True)
        if batch.due is not None:
            for risk in (arrays, one_by_one):
                risk.fill_until((batch.due,))
        assert state(arrays) == state(one_by_one)


def alternating(count: int, start: int = 0) -> Batch:
    """BUY, SELL, BUY, … at every other bar from `start`: each one approved."""
    bar = np.arange(start, start + 2 * count, 2, dtype=np.int64)
    return Batch(
        bar=bar,
        action=np.where(np.arange(count) % 2 == 0, BUY, SELL),
        quality=np.full(count, 100.0),
        confidence=np.ones(count),
        strategy=np.zeros(count, np.int64),
        lacking=[""] * count,
        due=None,
    )


@pytest.mark.parametrize("costs", [{}, {"commission": "0.005", "slippage": "1bp"}])
def test_signals_that_alternate_are_decided_without_deciding_one_by_one(monkeypatch, costs):
    bars = minute_bars()
    risk = manager(TradingRules.from_text(costs), bars)
    called = []
    monkeypatch.setattr(risk, "decide", lambda *a: called.append(a) or "")
    reasons = decide(risk, bars, alternating(400), one_by_one=False)
    assert reasons == [""] * 400
    assert called == []
    assert state(risk)[7] == (np.arange(0, 798, 2) + 1).tolist()  # 399 filled, the last due


@pytest.mark.parametrize(
    ("costs", "spare"),
    [({}, 0), ({"commission": "2"}, 2_000)],  # $200 a fill: a few round trips' worth spare
)
def test_from_the_first_entry_the_cash_refuses_on_signals_are_decided_one_by_one(costs, spare):
    bars = minute_bars()
    price = float(bars.close[0])
    # Cash for one entry at the first close, not for one after a loss (or a few commissions).
    rules = TradingRules.from_text({"cash": f"{100 * price + spare:.2f}", **costs})
    risk, reference = manager(rules, bars), manager(rules, bars)
    batch = alternating(200)
    reasons = decide(risk, bars, batch, one_by_one=False)
    assert reasons == decide(reference, bars, batch, one_by_one=True)
    refused = [row for row, reason in enumerate(reasons) if reason.startswith("cash")]
    assert refused, "the bars lose and the cash runs short"
    assert state(risk) == state(reference)


@pytest.mark.parametrize(
    "changes",
    [{"short": "true"}, {"size": "10%"}, {"max_position": "200"}],
)
def test_rules_under_which_a_position_need_not_alternate_are_decided_one_by_one(changes):
    bars = minute_bars()
    risk = manager(TradingRules.from_text(changes), bars)
    assert risk._decide_alternating(*_columns(bars, alternating(10))) == []


def _columns(bars: SessionBars, batch: Batch) -> tuple:
    return (
        batch.action,
        batch.quality,
        batch.confidence,
        bars.close[batch.bar],
        batch.bar + 1,
        batch.strategy,
        batch.lacking,
    )
