"""Strategy specs: `sma_crossover:fast=5,slow=20` names a strategy of the catalog and sets its
parameters (the others keep their defaults). Every spec may also name the timeframe the
strategy reads (`timeframe=5m`); without one it reads the session's own bars.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.strategy.base import Strategy
from engine.strategy.catalog import Catalog, builtin_catalog

Value = bool | int | float

log = logging.getLogger(__name__)


class StrategySpecError(ValueError):
    """A spec that names no strategy, an unknown parameter or a bad value: the message is the
    one line the user sees."""


@dataclass(frozen=True)
class StrategySpec:
    strategy: type[Strategy]
    params: tuple[tuple[str, Value], ...]  # every parameter, defaults filled in, in class order
    timeframe: str | None = None  # None: the session's timeframe

    @property
    def name(self) -> str:
        return self.strategy.name

    @classmethod
    def parse(cls, text: str, catalog: Catalog | None = None) -> StrategySpec:
        """The spec `text` writes, its strategy found in `catalog` (default: the built-ins)."""
        name, _, rest = text.strip().partition(":")
        name = name.strip()
        try:
            strategy = (catalog or builtin_catalog()).strategy(name)
        except ValueError as exc:
            raise StrategySpecError(str(exc)) from None
        given: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, equals, value = item.partition("=")
            key = key.strip()
            if not equals or not key or not value.strip():
                raise StrategySpecError(f"{text!r}: expected key=value, got {item!r}")
            if key in given:
                raise StrategySpecError(f"{name}: {key} is given twice in {text!r}")
            given[key] = value.strip()
        timeframe = given.pop("timeframe", None)
        parameters = strategy.parameters()
        unknown = sorted(set(given) - {p.name for p in parameters})
        if unknown:
            known = ", ".join([*(p.name for p in parameters), "timeframe"])
            raise StrategySpecError(
                f"{name}: unknown parameter {unknown[0]!r} (parameters: {known})"
            )
        params = []
        for parameter in parameters:
            value = given.get(parameter.name)
            if value is None:
                params.append((parameter.name, parameter.default))
                continue
            try:
                params.append((parameter.name, parameter.parse(value)))
            except ValueError as exc:
                raise StrategySpecError(f"{name}: {exc}") from None
        spec = cls(strategy, tuple(params), timeframe)
        spec.build()  # the strategy checks how the values go together (fast < slow, ...)
        return spec

    def build(self) -> Strategy:
        """A new instance with the spec's values (its own state: one per session). A ValueError
        is the strategy refusing the values; anything else its `validate` or `setup` raises is
        its bug, said in one line (the traceback goes to the log)."""
        try:
            return self.strategy(**dict(self.params))
        except ValueError as exc:
            raise StrategySpecError(f"{self.name}: {exc}") from None
        except Exception as exc:
            log.error("%s: setup failed", self.name, exc_info=exc)
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise StrategySpecError(f"{self.name}: setup failed: {error}") from None

    @property
    def label(self) -> str:
        """The spec written out in full, as the signals log names the strategy; `parse` reads
        it back to the same spec."""
        shown = {p.name: p for p in self.strategy.parameters()}
        values = [f"{key}={shown[key].show(value)}" for key, value in self.params]
        if self.timeframe:
            values.append(f"timeframe={self.timeframe}")
        return f"{self.name}:{','.join(values)}" if values else self.name


def default_spec(strategy: type[Strategy]) -> str:
    """`strategy`'s spec with every default written out, as a user starts editing it."""
    return StrategySpec(strategy, tuple((p.name, p.default) for p in strategy.parameters())).label
