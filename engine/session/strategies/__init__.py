"""Strategy plugins and their specs (`sma_crossover:fast=5,slow=20`).

A plugin is a `Strategy` subclass listed in STRATEGIES: its `parameters` say what a spec may set.
Every spec may also name the timeframe the strategy reads (`timeframe=5m`); without one it reads
the session's own bars.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.session.strategies.base import BUY, SELL, Strategy, StrategySignals
from engine.session.strategies.rsi import Rsi
from engine.session.strategies.sma_crossover import SmaCrossover

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (SmaCrossover, Rsi)}

__all__ = ["BUY", "SELL", "STRATEGIES", "Strategy", "StrategySignals", "StrategySpec"]


class StrategySpecError(ValueError):
    """A spec that names no strategy, an unknown parameter or a bad value: the message is the
    one line the user sees."""


@dataclass(frozen=True)
class StrategySpec:
    name: str
    params: tuple[tuple[str, float], ...]  # every parameter, defaults filled in, in plugin order
    timeframe: str | None = None  # None: the session's timeframe

    @classmethod
    def parse(cls, text: str) -> StrategySpec:
        name, _, rest = text.strip().partition(":")
        plugin = STRATEGIES.get(name)
        if plugin is None:
            known = ", ".join(STRATEGIES)
            raise StrategySpecError(f"unknown strategy {name!r} in {text!r} (choose from {known})")
        given: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, equals, value = item.partition("=")
            if not equals or not value.strip():
                raise StrategySpecError(f"{text!r}: expected key=value, got {item!r}")
            given[key.strip()] = value.strip()
        timeframe = given.pop("timeframe", None)
        unknown = sorted(set(given) - set(plugin.parameters))
        if unknown:
            known = ", ".join([*plugin.parameters, "timeframe"])
            raise StrategySpecError(
                f"{name}: unknown parameter {unknown[0]!r} (parameters: {known})"
            )
        params = []
        for key, (default, kind) in plugin.parameters.items():
            value = given.get(key)
            params.append((key, default if value is None else _number(name, key, value, kind)))
        spec = cls(name, tuple(params), timeframe)
        spec.build()  # the plugin checks how the values go together (fast < slow, ...)
        return spec

    def build(self) -> Strategy:
        try:
            return STRATEGIES[self.name](**dict(self.params))
        except ValueError as exc:
            raise StrategySpecError(f"{self.name}: {exc}") from None

    @property
    def label(self) -> str:
        """The spec written out in full, as the signals log names the strategy."""
        values = ",".join(f"{key}={value:g}" for key, value in self.params)
        if self.timeframe:
            values += f",timeframe={self.timeframe}"
        return f"{self.name}:{values}"


def _number(strategy: str, key: str, text: str, kind: type) -> float:
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise StrategySpecError(f"{strategy}: {key} must be {what}, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise StrategySpecError(f"{strategy}: {key} must be a finite number, got {text!r}")
    return value
