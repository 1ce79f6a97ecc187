"""A sweep's results as rows (DESIGN.md, "Sweeps"): each backtest's parameters and statistics,
ranked by a metric, best first; as `--json` carries them and as the `--out` CSV.

A row's `params` holds every parameter of each strategy (defaults included), keyed by the
strategy's label: its name, or `name#2`, `name#3` for a strategy given more than once.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.sweep.grid import StrategyGrid
from engine.sweep.job import SweepPlan
from engine.sweep.journal import METRICS

# Statistics where less is better; for every other one, more is (drawdowns are negative %).
LOWER_IS_BETTER = frozenset({"volatility_pct", "max_drawdown_duration_days", "commissions"})


def strategy_labels(grids: Sequence[StrategyGrid]) -> tuple[str, ...]:
    labels, seen = [], {}
    for grid in grids:
        seen[grid.name] = seen.get(grid.name, 0) + 1
        labels.append(grid.name if seen[grid.name] == 1 else f"{grid.name}#{seen[grid.name]}")
    return tuple(labels)


@dataclass(frozen=True)
class Varied:
    """Something a sweep varies: a strategy's parameter (or its timeframe), given more than one
    value, or a trading rule given more than one text (`label` None)."""

    label: str | None  # the strategy's label (`strategy_labels`)
    name: str  # the parameter, `timeframe`, or the rule's option

    def heading(self, strategies: int) -> str:
        """Its column's title: the parameter's name (`label.name` among several strategies),
        the rule's option as its flag (`min-confidence`)."""
        if self.label is None:
            return self.name.replace("_", "-")
        return self.name if strategies == 1 else f"{self.label}.{self.name}"

    def value(self, row: Mapping) -> object:
        """Its value in a row of `result_rows`."""
        if self.label is None:
            return row["rules"][self.name]
        return row["params"][self.label][self.name]


def varied(plan: SweepPlan) -> tuple[Varied, ...]:
    """What the plan varies: the strategies' parameters in their order, then the rules."""
    found = []
    for label, grid in zip(strategy_labels(plan.grids), plan.grids, strict=True):
        found += [Varied(label, name) for name, values in grid.axes if len(values) > 1]
        if len(grid.timeframes) > 1:
            found.append(Varied(label, "timeframe"))
    texts: dict[str, set[str]] = {}
    for candidate in plan.candidates:
        for option, text in candidate.rules:
            texts.setdefault(option, set()).add(text)
    found += [Varied(None, option) for option, given in texts.items() if len(given) > 1]
    return tuple(found)


def shown(value: object) -> str:
    """A parameter's value as a table shows it: `true`, `0.5`, `20`, `5m`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def result_rows(plan: SweepPlan, results: Mapping[int, Mapping]) -> list[dict[str, object]]:
    """One row per finished backtest, in the plan's order."""
    labels = strategy_labels(plan.grids)
    rows = []
    for index in sorted(results):
        symbol, candidate = plan.backtest(index)
        params = {}
        for label, spec in zip(labels, candidate.specs, strict=True):
            params[label] = dict(spec.params)
            if spec.timeframe:
                params[label]["timeframe"] = spec.timeframe
        result = results[index]
        rows.append(
            {
                "symbol": symbol,
                "params": params,
                "rules": dict(candidate.rules),
                "strategies": [spec.label for spec in candidate.specs],
                **{name: result["statistics"][name] for name in METRICS},
                "failures": result.get("failures", []),
            }
        )
    return rows


def ranked(rows: Sequence[dict], metric: str) -> list[dict]:
    """`rows` best first by `metric`; those without a value (null) last, in plan order."""
    sign = 1 if metric in LOWER_IS_BETTER else -1

    def key(row: dict) -> tuple[bool, float]:
        value = row[metric]
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return missing, 0.0 if missing else sign * value

    return sorted(rows, key=key)


def csv_text(rows: Sequence[dict], plan: SweepPlan) -> str:
    """One line per row: the symbol, every parameter (`label.name`), every rule text given
    (`rules.option`) and every statistic; an undefined statistic is empty."""
    columns: list[tuple[str, tuple[str, ...]]] = [("symbol", ("symbol",))]
    for label, grid in zip(strategy_labels(plan.grids), plan.grids, strict=True):
        names = [name for name, _ in grid.axes]
        if grid.timeframes != (None,):
            names.append("timeframe")
        columns += [(f"{label}.{name}", ("params", label, name)) for name in names]
    options = [option for option, _ in plan.candidates[0].rules] if plan.candidates else []
    columns += [(f"rules.{option}", ("rules", option)) for option in options]
    columns += [(name, (name,)) for name in METRICS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(name for name, _ in columns)
    for row in rows:
        writer.writerow(_cell(_at(row, path)) for _, path in columns)
    return out.getvalue()


def _at(row: Mapping, path: tuple[str, ...]) -> object:
    value: object = row
    for key in path:
        value = value[key]  # type: ignore[index]
    return value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
