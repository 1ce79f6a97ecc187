"""The trading rules a backtest plays by (DESIGN.md, "Results"): starting cash, order size, the
position limit, the confidence and quality gates, trading costs and short selling.

One parser reads them wherever they are written: `backtest`'s flags, config.toml's keys of the
same names and the app's open-session dialog all go through `TradingRules.from_text`, so a bad
value is the same one-line error everywhere, naming the option. Import-light (no numpy at
import): config.toml is read before any command runs, and the settings sit below every layer
of the engine.

Costs: a commission per fill, per share and/or a percent of the fill's notional, at least
`min_commission` for any fill (an order fills whole at one bar's open, so "per order" and "per
fill" are the same here); slippage moves the fill price against the trader, in price units
and/or basis points: a buy pays more than the open, a sell gets less. The defaults cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    import numpy as np

# The options by config.toml key; a flag is the key with dashes (`--max-position`).
OPTIONS = (
    "cash",
    "size",
    "max_position",
    "min_confidence",
    "min_quality",
    "commission",
    "min_commission",
    "slippage",
    "short",
)
_EXPECTED = {
    "cash": "an amount above 0 like 100000",
    "size": "shares like 100 or a percent of equity up to 100% like 10%",
    "max_position": "a whole number of shares, at least 1, like 100",
    "min_confidence": "a number from 0 to 1 like 0.5",
    "min_quality": "a percent from 0 to 100 like 95",
    "commission": "a rate per share like 0.005 or a percent of the notional below 100% like 0.1%",
    "min_commission": "an amount like 1.0, 0 or more",
    "slippage": "price units like 0.01 or basis points below 10000 like 2bp",
    "short": "true or false",
}
_COST_OPTIONS = {  # each field of Costs: the option that sets it
    "per_share": "commission",
    "pct_of_notional": "commission",
    "min_commission": "min_commission",
    "slippage": "slippage",
    "slippage_bp": "slippage",
}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class RuleError(ValueError):
    """A trading rule given a value it cannot take: `option` is its config.toml key, `problem`
    the one line that says what it expects and what it got."""

    def __init__(self, option: str, got: object):
        self.option = option
        self.problem = f"expected {_EXPECTED[option]}, got {got}"
        super().__init__(f"{option}: {self.problem}")

    @property
    def flag(self) -> str:
        """The message as the command line says it: `--max-position: expected …`."""
        return f"--{self.option.replace('_', '-')}: {self.problem}"


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
                raise RuleError(_COST_OPTIONS[field.name], value)
        if self.pct_of_notional >= 100:
            raise RuleError("commission", f"{self.pct_of_notional:g}%")
        if self.slippage_bp >= 10_000:
            raise RuleError("slippage", f"{self.slippage_bp:g}bp")

    @property
    def free(self) -> bool:
        return self == Costs()

    @overload
    def fill_price(self, price: float, size: float) -> float: ...
    @overload
    def fill_price(self, price: np.ndarray, size: np.ndarray) -> np.ndarray: ...
    def fill_price(self, price, size):
        """The price an order of signed `size` gets at the quoted `price` (the bar's open)."""
        side = _sign(size)
        return price * (1 + side * self.slippage_bp / 10_000) + side * self.slippage

    @overload
    def commission(self, size: float, price: float) -> float: ...
    @overload
    def commission(self, size: np.ndarray, price: np.ndarray) -> np.ndarray: ...
    def commission(self, size, price):
        """What a fill of signed `size` at `price` (the fill price) costs; nothing for no size."""
        shares = abs(size)
        charged = shares * self.per_share + shares * abs(price) * self.pct_of_notional / 100
        if isinstance(charged, int | float):  # one fill, in plain floats: the session's way
            return float(max(charged, self.min_commission)) if shares else 0.0
        import numpy as np

        return np.where(shares > 0, np.maximum(charged, self.min_commission), 0.0)[()]


def _sign(size):
    if isinstance(size, int | float):
        return (size > 0) - (size < 0)
    import numpy as np

    return np.sign(size)


@dataclass(frozen=True)
class OrderSize:
    """Shares per order, or (`percent` > 0) a percent of the equity when the order is decided."""

    shares: int = 100
    percent: float = 0.0

    def __post_init__(self) -> None:
        if self.percent:
            if not 0 < self.percent <= 100:
                raise RuleError("size", f"{self.percent:g}%")
        elif isinstance(self.shares, bool) or self.shares < 1:
            raise RuleError("size", self.shares)

    def __str__(self) -> str:
        return f"{_text(self.percent)}%" if self.percent else str(self.shares)

    def shares_for(self, equity: float, price: float, costs: Costs) -> int:
        """How many shares an order buys or sells at about `price` (slippage included): the
        most whose cost, commission included, fits the percent of `equity`."""
        if not self.percent:
            return self.shares
        budget = equity * self.percent / 100
        per_share = price * (1 + costs.pct_of_notional / 100) + costs.per_share
        shares = max(int(budget // per_share), 0) if per_share > 0 else 0
        if shares and shares * price + costs.commission(shares, price) > budget:
            # The minimum commission applies: it comes out of the budget first.
            shares = min(shares, max(int((budget - costs.min_commission) // price), 0))
        while shares and shares * price + costs.commission(shares, price) > budget:
            shares -= 1  # rounding at the edge: once at most
        return shares


@dataclass(frozen=True)
class TradingRules:
    """Everything a session's account is played by. The defaults are the session's rules
    before they could be set: 100,000 cash, 100 shares an order, at most 100 held, long
    only, confidence at least 0.5, the day's data quality at least 95%, no costs."""

    cash: float = 100_000.0
    size: OrderSize = OrderSize()
    max_position: int = 100  # shares held at most, long or short
    min_confidence: float = 0.5
    min_quality: float = 95.0  # percent of the day's bars so far
    costs: Costs = Costs()
    short: bool = False  # a SELL when flat opens a short (and a BUY closes it)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cash) and self.cash > 0):
            raise RuleError("cash", f"{self.cash:g}")
        if isinstance(self.max_position, bool) or self.max_position < 1:
            raise RuleError("max_position", self.max_position)
        if not 0 <= self.min_confidence <= 1:
            raise RuleError("min_confidence", f"{self.min_confidence:g}")
        if not 0 <= self.min_quality <= 100:
            raise RuleError("min_quality", f"{self.min_quality:g}")

    @classmethod
    def from_text(
        cls, values: Mapping[str, object], base: TradingRules | None = None
    ) -> TradingRules:
        """`base` (default: the defaults) with the options in `values` changed: keys as in
        config.toml (`max_position`) or as flags (`max-position`), values as text or as TOML
        writes them (`100`, `"10%"`, `0.005`, `true`); None leaves an option as it is. A bad
        value raises RuleError; an unknown option, ValueError."""
        rules = base or cls()
        changes: dict[str, object] = {}
        costs: dict[str, float] = {}
        for name, value in values.items():
            option = name.replace("-", "_")
            if option not in OPTIONS:
                raise ValueError(f"unknown trading rule {name!r} (known: {', '.join(OPTIONS)})")
            if value is None:
                continue
            parsed = _PARSERS[option](value)
            if isinstance(parsed, dict):
                costs.update(parsed)
            else:
                changes[option] = parsed
        if costs:
            changes["costs"] = replace(rules.costs, **costs)
        return replace(rules, **changes)

    def texts(self) -> dict[str, str]:
        """Each option as text that `from_text` reads back to these rules (the dialog's fields).
        A commission both per share and a percent (which no text form gives) shows the rate."""
        costs = self.costs
        if costs.per_share or not costs.pct_of_notional:
            commission = _text(costs.per_share)
        else:
            commission = f"{_text(costs.pct_of_notional)}%"
        if costs.slippage or not costs.slippage_bp:
            slippage = _text(costs.slippage)
        else:
            slippage = f"{_text(costs.slippage_bp)}bp"
        return {
            "cash": _text(self.cash),
            "size": str(self.size),
            "max_position": str(self.max_position),
            "min_confidence": _text(self.min_confidence),
            "min_quality": _text(self.min_quality),
            "commission": commission,
            "min_commission": _text(costs.min_commission),
            "slippage": slippage,
            "short": "true" if self.short else "false",
        }


def _text(value: float) -> str:
    """A number as short as it reads back exactly: `100000`, `0.005`."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# -- the text forms ---------------------------------------------------------------------------


def _number(option: str, value: object, suffixes: tuple[str, ...] = ()) -> tuple[float, str]:
    """A finite number, and which of `suffixes` (any case) it was written with ("" for none).
    TOML gives numbers as numbers; text may carry a suffix (`10%`, `2bp`)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number, suffix = float(value), ""
    elif isinstance(value, str):
        text = value.strip()
        suffix = next((s for s in suffixes if text.lower().endswith(s)), "")
        try:
            number = float(text[: len(text) - len(suffix)].strip())
        except ValueError:
            raise RuleError(option, repr(value)) from None
    else:
        raise RuleError(option, repr(value))
    if not math.isfinite(number) or number < 0:
        raise RuleError(option, repr(value))
    return number, suffix


def _whole(option: str, value: object) -> int:
    number, _ = _number(option, value)
    if not number.is_integer():
        raise RuleError(option, repr(value))
    return int(number)


def _size(value: object) -> OrderSize:
    number, percent = _number("size", value, ("%",))
    if percent:
        if not number:  # 0 percent would read as no percent at all
            raise RuleError("size", repr(value))
        return OrderSize(percent=number)
    if not number.is_integer():
        raise RuleError("size", repr(value))
    return OrderSize(shares=int(number))


def _commission(value: object) -> dict[str, float]:
    number, percent = _number("commission", value, ("%",))
    return {"per_share": 0.0 if percent else number, "pct_of_notional": number if percent else 0.0}


def _slippage(value: object) -> dict[str, float]:
    number, bp = _number("slippage", value, ("bps", "bp"))
    return {"slippage": 0.0 if bp else number, "slippage_bp": number if bp else 0.0}


def _short(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str) else ""
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise RuleError("short", repr(value))


_PARSERS = {
    "cash": lambda value: _number("cash", value)[0],
    "size": _size,
    "max_position": lambda value: _whole("max_position", value),
    "min_confidence": lambda value: _number("min_confidence", value)[0],
    "min_quality": lambda value: _number("min_quality", value, ("%",))[0],
    "commission": _commission,
    "min_commission": lambda value: {"min_commission": _number("min_commission", value)[0]},
    "slippage": _slippage,
    "short": _short,
}
