"""Signals, the decision taken on each, and the simulated account the approved ones trade.

Checks run in a fixed order and the first that fails names the reason: the day's data quality
so far, then the strategy's confidence, then the position limit. Positions are long-only: a
BUY adds `quantity` shares up to `max_position`, a SELL sells `quantity` of what is held.
Approved orders count against the limit at once, though they fill at the next bar's open.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ACTIONS = {1: "BUY", -1: "SELL"}


@dataclass(frozen=True)
class RiskRules:
    min_quality_pct: float = 95.0
    min_confidence: float = 0.5
    quantity: int = 100  # shares per order
    max_position: int = 100  # shares held at most
    starting_cash: float = 100_000.0


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal and its decision: the signals log's row (DESIGN.md, signals CSV)."""

    time_ns: int  # the start of the bar the signal is on (UTC)
    symbol: str
    timeframe: str
    strategy: str
    action: str  # BUY or SELL
    price: float  # that bar's close
    confidence: float
    approved: bool
    reason: str  # why it was rejected; empty when approved

    @property
    def timestamp(self) -> pd.Timestamp:
        return pd.Timestamp(self.time_ns, tz="UTC")


@dataclass(frozen=True, slots=True)
class Fill:
    time_ns: int  # the start of the bar whose open filled it
    action: str
    quantity: int
    price: float


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
        self.fills: list[Fill] = []

    def fill(self, time_ns: int, action: int, quantity: int, price: float) -> None:
        self.cash -= action * quantity * price
        self.position += action * quantity
        self.fills.append(Fill(time_ns, ACTIONS[action], quantity, price))

    def equity(self, price: float) -> float:
        return self.cash + self.position * price
