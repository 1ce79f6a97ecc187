"""Sweep grids (DESIGN.md, "Sweeps"): a strategy spec whose values may be ranges `a..b/step`
(inclusive) or lists `a|b|c`, and the backtests a sweep runs.

`sma_crossover:fast=5..20/5,slow=30|50|70` is 4 x 3 = 12 candidates; a list may hold ranges
too (`5..20/5|50`). A plain value is a one-value grid and a parameter not named keeps its
default, so every spec is also a grid. Values take the parameter's type: whole numbers for
`int` (a range's step defaults to 1), any number for `float` (a range needs its step; it is
stepped in decimal, so `0.1..0.3/0.1` is 0.1, 0.2, 0.3 exactly as written), `true|false` for
`bool` (no ranges). `timeframe=5m|15m` is a list like any other.

A candidate the strategy refuses (its `validate` raises ValueError, as `fast >= slow` does) is
skipped and counted. Several grids multiply (each backtest runs one candidate of each), and so
do the symbols and the trading-rule lists (`--commission 0.005|0.01`), whose texts stay opaque
here: the caller says how to turn a set of them into the rules a pipeline takes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine.strategy.base import Parameter, Strategy
from engine.strategy.catalog import Catalog, builtin_catalog
from engine.strategy.spec import StrategySpec, StrategySpecError, Value

MAX_BACKTESTS = 1_000_000  # a bigger grid is a typo (a step of 1 where 10 was meant)
TIMEFRAME = "timeframe"

RuleTexts = tuple[tuple[str, str], ...]  # (option, text) pairs, in the order given


class GridError(ValueError):
    """A grid that cannot be read; the message is the one line the user sees, naming the part
    that is wrong."""


@dataclass(frozen=True)
class StrategyGrid:
    """One `--strategy GRID`: every parameter's values (defaults filled in, class order) and
    the timeframes (None: the session's)."""

    strategy: type[Strategy]
    axes: tuple[tuple[str, tuple[Value, ...]], ...]
    timeframes: tuple[str | None, ...] = (None,)

    @property
    def name(self) -> str:
        return self.strategy.name

    @property
    def size(self) -> int:
        return math.prod(len(values) for _, values in self.axes) * len(self.timeframes)

    def candidates(self) -> list[StrategySpec]:
        """Every combination of the values, refused ones included, in a fixed order (the last
        parameter varies fastest, the timeframe slowest)."""
        names = [name for name, _ in self.axes]
        return [
            StrategySpec(self.strategy, tuple(zip(names, values, strict=True)), timeframe)
            for timeframe in self.timeframes
            for values in itertools.product(*(values for _, values in self.axes))
        ]

    def text(self) -> str:
        """The grid written out in full (lists only); `parse_grid` reads it back."""
        shown = {p.name: p for p in self.strategy.parameters()}
        parts = [
            f"{name}={'|'.join(shown[name].show(v) for v in values)}" for name, values in self.axes
        ]
        if self.timeframes != (None,):
            parts.append(f"{TIMEFRAME}={'|'.join(map(str, self.timeframes))}")
        return f"{self.name}:{','.join(parts)}" if parts else self.name


def parse_grid(text: str, catalog: Catalog | None = None) -> StrategyGrid:
    """The grid `text` writes, its strategy found in `catalog` (default: the built-ins)."""
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    try:
        strategy = (catalog or builtin_catalog()).strategy(name)
    except ValueError as exc:
        raise GridError(str(exc)) from None
    given: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, equals, values = item.partition("=")
        key = key.strip()
        if not equals or not key or not values.strip():
            raise GridError(f"{text!r}: expected key=values, got {item!r}")
        if key in given:
            raise GridError(f"{name}: {key} is given twice in {text!r}")
        given[key] = values.strip()
    parameters = strategy.parameters()
    unknown = sorted(set(given) - {p.name for p in parameters} - {TIMEFRAME})
    if unknown:
        known = ", ".join([*(p.name for p in parameters), TIMEFRAME])
        raise GridError(f"{name}: unknown parameter {unknown[0]!r} (parameters: {known})")
    axes = tuple(
        (p.name, _values(name, p, given[p.name]) if p.name in given else (p.default,))
        for p in parameters
    )
    timeframes: tuple[str | None, ...] = (None,)
    if TIMEFRAME in given:
        timeframes = tuple(dict.fromkeys(_items(name, TIMEFRAME, given[TIMEFRAME])))
    grid = StrategyGrid(strategy, axes, timeframes)
    if grid.size > MAX_BACKTESTS:
        raise GridError(f"{name}: {grid.size:,} combinations; at most {MAX_BACKTESTS:,}")
    return grid


def parse_rule_values(option: str, text: str) -> tuple[str, ...]:
    """A trading-rule option's values: `0.005|0.01` is two, `0.1%` one (each checked by the
    caller's parser; ranges are for strategy parameters only)."""
    return tuple(dict.fromkeys(_items(f"--{option}", "", text)))


def _items(name: str, key: str, text: str) -> list[str]:
    items = [item.strip() for item in text.split("|")]
    if not all(items):
        where = f"{key}={text}" if key else repr(text)
        raise GridError(f"{name}: {where}: an empty value in the list")
    return items


def _values(name: str, parameter: Parameter, text: str) -> tuple[Value, ...]:
    values: list[Value] = []
    for item in _items(name, parameter.name, text):
        if ".." in item:
            values += _range(name, parameter, item)
            continue
        try:
            values.append(parameter.parse(item))
        except ValueError as exc:
            raise GridError(f"{name}: {exc}") from None
        if len(values) > MAX_BACKTESTS:
            raise GridError(f"{name}: {parameter.name} has more than {MAX_BACKTESTS:,} values")
    return tuple(dict.fromkeys(values))  # 5|5..10 is 5..10: each value once, first place kept


def _range(name: str, parameter: Parameter, item: str) -> list[Value]:
    """`a..b/step`, inclusive, in the parameter's type."""
    where = f"{name}: {parameter.name}={item}"
    if parameter.kind is bool:
        raise GridError(f"{where}: a true/false parameter takes a list (true|false), not a range")
    low, _, rest = item.partition("..")
    high, slash, step = rest.partition("/")
    if parameter.kind is int:
        bounds = [_whole(where, part) for part in (low, high)]
        by = _whole(where, step) if slash else 1
        count = (bounds[1] - bounds[0]) // by + 1 if by > 0 else 0
    else:
        if not slash:
            raise GridError(f"{where}: a range of numbers needs a step, as in 0.5..2/0.5")
        bounds = [_decimal(where, part) for part in (low, high)]
        by = _decimal(where, step)
        count = int((bounds[1] - bounds[0]) / by) + 1 if by > 0 else 0
    if by <= 0:
        raise GridError(f"{where}: the step must be above 0")
    if bounds[1] < bounds[0]:
        raise GridError(f"{where}: the range is empty ({low.strip()} is above {high.strip()})")
    if count > MAX_BACKTESTS:
        raise GridError(f"{where}: {count:,} values; at most {MAX_BACKTESTS:,}")
    if parameter.kind is int:
        return list(range(bounds[0], bounds[1] + 1, by))
    return [float(bounds[0] + i * by) for i in range(count)]


def _whole(where: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise GridError(f"{where}: {text.strip()!r} is not a whole number") from None


def _decimal(where: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise GridError(f"{where}: {text.strip()!r} is not a number")
    return value


# -- the candidates of a sweep ----------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One set of values a sweep tries: one candidate of each grid, one set of rule texts.
    A sweep runs it on each of its symbols."""

    specs: tuple[StrategySpec, ...]
    rules: RuleTexts


@dataclass(frozen=True)
class Expansion:
    candidates: tuple[Candidate, ...]
    refused: int  # candidates not run: a strategy refused its values, or the rules their set


def expand(
    grids: Sequence[StrategyGrid],
    rule_values: Mapping[str, Sequence[str]] | None = None,
    check_rules: Callable[[RuleTexts], object] | None = None,
) -> Expansion:
    """Every candidate of the grids and rule lists, in a fixed order (rules, then the grids'
    candidates, the last grid fastest). `check_rules` builds the rules of a set of texts and
    raises ValueError for a set that does not go together: that set is refused too."""
    options = list((rule_values or {}).items())
    rule_sets = [
        tuple(zip((option for option, _ in options), texts, strict=True))
        for texts in itertools.product(*(values for _, values in options))
    ]
    total = len(rule_sets) * math.prod(grid.size for grid in grids)
    if total > MAX_BACKTESTS:
        raise GridError(f"the sweep has {total:,} combinations; at most {MAX_BACKTESTS:,}")
    accepted = [[spec for spec in grid.candidates() if refusal(spec) is None] for grid in grids]
    if check_rules is not None:
        rule_sets = [rules for rules in rule_sets if _accepts_rules(check_rules, rules)]
    candidates = tuple(
        Candidate(specs, rules) for rules in rule_sets for specs in itertools.product(*accepted)
    )
    return Expansion(candidates, total - len(candidates))


def refusal(spec: StrategySpec) -> str | None:
    """Why the strategy refuses the spec's values (its one line), or None."""
    try:
        spec.build()
    except StrategySpecError as exc:
        return str(exc)
    return None


def _accepts_rules(check: Callable[[RuleTexts], object], rules: RuleTexts) -> bool:
    try:
        check(rules)
    except ValueError:
        return False
    return True
