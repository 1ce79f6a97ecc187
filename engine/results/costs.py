"""Trading costs (DESIGN.md, "Results"): a commission per fill and slippage against the trader.

An order fills whole at one bar's open, so "per order" and "per fill" are the same here. The
commission is per share and/or a percent of the fill's notional, and at least `min_commission`
for any fill. Slippage moves the fill price against the trader, in price units and/or basis
points: a buy pays more than the open, a sell gets less. The defaults cost nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import overload

import numpy as np


@dataclass(frozen=True)
class Costs:
    per_share: float = 0.0  # commission, currency per share
    pct_of_notional: float = 0.0  # commission, percent of |size| * fill price
    min_commission: float = 0.0  # the least any fill costs
    slippage: float = 0.0  # price units, against the trader
    slippage_bp: float = 0.0  # basis points of the price, against the trader

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{field.name} must be a number >= 0, got {value!r}")
        if self.pct_of_notional >= 100:
            raise ValueError(f"commission must be below 100%, got {self.pct_of_notional:g}%")
        if self.slippage_bp >= 10_000:
            raise ValueError(f"slippage must be below 10000bp, got {self.slippage_bp:g}bp")

    @classmethod
    def parse(
        cls,
        commission: str | float | None = None,
        min_commission: str | float | None = None,
        slippage: str | float | None = None,
    ) -> Costs:
        """The costs the CLI's and config.toml's forms mean: commission `0.005` (per share) or
        `0.1%` (of the notional), min commission `1.0`, slippage `0.01` (price units) or `2bp`
        (`bps` too). None leaves a cost at zero; bad text is a one-line ValueError."""
        per_share = pct = minimum = units = bp = 0.0
        if commission is not None:
            per_share, pct = _amount_or_unit(
                "commission",
                commission,
                "%",
                "a rate per share like 0.005 or a percent of the notional like 0.1%",
            )
        if min_commission is not None:
            minimum, _ = _amount_or_unit("min-commission", min_commission, "", "an amount like 1.0")
        if slippage is not None:
            units, bp = _amount_or_unit(
                "slippage", slippage, "bp", "price units like 0.01 or basis points like 2bp"
            )
        return cls(per_share, pct, minimum, units, bp)

    @overload
    def fill_price(self, price: float, size: float) -> float: ...
    @overload
    def fill_price(self, price: np.ndarray, size: np.ndarray) -> np.ndarray: ...
    def fill_price(self, price, size):
        """The price an order of signed `size` gets at the quoted `price` (the bar's open)."""
        side = np.sign(size)
        return price * (1 + side * self.slippage_bp / 10_000) + side * self.slippage

    @overload
    def commission(self, size: float, price: float) -> float: ...
    @overload
    def commission(self, size: np.ndarray, price: np.ndarray) -> np.ndarray: ...
    def commission(self, size, price):
        """What a fill of signed `size` at `price` (the fill price) costs; nothing for no size."""
        shares = np.abs(size)
        charged = shares * self.per_share + shares * np.abs(price) * self.pct_of_notional / 100
        return np.where(shares > 0, np.maximum(charged, self.min_commission), 0.0)[()]


def _amount_or_unit(name: str, value: str | float, unit: str, expected: str) -> tuple[float, float]:
    """(amount, 0) for a plain number, (0, amount) for one written with `unit`."""
    text = str(value).strip()
    lowered = text.lower()
    suffixes = ("bps", "bp") if unit == "bp" else (unit,) if unit else ()
    suffix = next((s for s in suffixes if lowered.endswith(s)), None)
    number = text[: -len(suffix)].strip() if suffix else text
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(f"{name} must be {expected}, got {text!r}") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{name} must be {expected} (not negative), got {text!r}")
    return (0.0, amount) if suffix else (amount, 0.0)
