"""Signals, the decision taken on each, and the simulated account the approved ones trade.

Checks run in a fixed order and the first that fails names the reason: the day's data quality
so far, then the strategy's confidence, then the position limit. Positions are long-only: a
BUY adds `quantity` shares up to `max_position`, a SELL sells `quantity` of what is held.
Approved orders count against the limit at once, though they fill at the next bar's open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.session.logs import FillLog


@dataclass(frozen=True)
class RiskRules:
    min_quality_pct: float = 95.0
    min_confidence: float = 0.5
    quantity: int = 100  # shares per order
    max_position: int = 100  # shares held at most
    starting_cash: float = 100_000.0


class RiskManager:
    """Decides signals in the order they become known; tracks the position they commit to."""

    def __init__(self, rules: RiskRules):
        self.rules = rules
        self.committed = 0  # shares held once every approved order has filled

    def decide(self, action: int, quality_pct: float, confidence: float) -> str:
        """The reason to reject, or "" to approve (and commit to the order)."""
        rules = self.rules
        if quality_pct < rules.min_quality_pct:
            return (
                f"data quality {quality_pct:.1f}% < {rules.min_quality_pct:g}% for the day so far"
            )
        if confidence < rules.min_confidence:
            return f"confidence {confidence:.3g} < {rules.min_confidence:g}"
        if action > 0 and self.committed + rules.quantity > rules.max_position:
            return f"position limit: {self.committed} held, at most {rules.max_position}"
        if action < 0 and self.committed < rules.quantity:
            return f"position limit: {self.committed} held, nothing to sell"
        self.committed += action * rules.quantity
        return ""


class Account:
    """Cash and shares, changed only by fills."""

    def __init__(self, cash: float):
        self.cash = cash
        self.position = 0
        self.fills = FillLog()

    def fill(
        self, time_ns: Sequence[int], action: Sequence[int], quantity: int, price: Sequence[float]
    ) -> None:
        """Fill orders of `quantity` shares, in order: each at its bar's start and open."""
        cash = self.cash
        for act, at in zip(action, price, strict=True):
            cash -= act * quantity * at  # one order at a time: the same sums however batched
        self.cash = cash
        self.position += sum(action) * quantity
        self.fills.append(time_ns, action, quantity, price)

    def equity(self, price: float) -> float:
        return self.cash + self.position * price
