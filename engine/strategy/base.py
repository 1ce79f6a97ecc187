"""What a strategy is: a class with declared parameters whose `on_bar` reads the bars published
so far and signals with `buy` / `sell`. Users subclass `Strategy`; the built-ins do too.

Parameters are annotated class attributes with defaults (`lookback: int = 20`); their types
(`int`, `float`, `bool`) come from the annotations, and the spec parser, the app's dialog and
`ktrdr-tui strategies` read them from `parameters()`. The class docstring is the description.

A strategy may also implement `on_chunk`, the same rules over many bars at once (the built-ins
do, for speed): the session then calls it instead of `on_bar`. It must give exactly the signals
`on_bar` would, however the bars are cut into chunks; a shared property test checks that.

A strategy that declares `history = HistoryNeeds(...)` reads each day's context (previous
close, average volumes, high and low of the sessions before it) as `self.context`.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from engine.strategy.context import DayContext, DayContexts, HistoryNeeds

BUY = 1
SELL = -1
PARAMETER_KINDS = (bool, int, float)  # bool first: a bool is an int to isinstance


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: type  # one of PARAMETER_KINDS
    default: bool | int | float

    def parse(self, text: str) -> bool | int | float:
        """The value `text` means, or a ValueError whose message the user sees."""
        text = text.strip()
        if self.kind is bool:
            lowered = text.lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise ValueError(f"{self.name} must be true or false, got {text!r}")
        try:
            value = self.kind(text)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            raise ValueError(f"{self.name} must be {what}, got {text!r}") from None
        if not math.isfinite(value):  # `inf` and `nan` read as floats
            raise ValueError(f"{self.name} must be a finite number, got {text!r}")
        return value

    def show(self, value: bool | int | float) -> str:
        """`value` as a spec writes it."""
        if self.kind is bool:
            return "true" if value else "false"
        if self.kind is not float:
            return str(value)
        short = f"{value:g}"  # 0.5, not 0.5000; but never at the cost of the value itself
        return short if float(short) == value else repr(float(value))


class Bars:
    """Every bar of one timeframe published so far, the current one last: read-only numpy
    views (`timestamp` int64 ns UTC bar start, `open high low close volume` float64).

    The session keeps one `Bars` per strategy and timeframe and moves its length forward as
    bars complete, so handing it to `on_bar` costs nothing; each attribute is a view of the
    first `len(bars)` values, never one of a bar not yet complete."""

    __slots__ = (
        "_close",
        "_high",
        "_length",
        "_low",
        "_open",
        "_timestamp",
        "_volume",
        "timeframe",
    )

    def __init__(
        self,
        timeframe: str,
        timestamp: np.ndarray,
        open: np.ndarray,  # the column's name, as numpy and pandas call it
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        length: int | None = None,
    ):
        self.timeframe = timeframe
        self._timestamp = _read_only(timestamp)
        self._open = _read_only(open)
        self._high = _read_only(high)
        self._low = _read_only(low)
        self._close = _read_only(close)
        self._volume = _read_only(volume)
        self._length = len(timestamp) if length is None else length

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return f"<Bars {self.timeframe} x{self._length}>"

    @property
    def timestamp(self) -> np.ndarray:
        return self._timestamp[: self._length]

    @property
    def open(self) -> np.ndarray:
        return self._open[: self._length]

    @property
    def high(self) -> np.ndarray:
        return self._high[: self._length]

    @property
    def low(self) -> np.ndarray:
        return self._low[: self._length]

    @property
    def close(self) -> np.ndarray:
        return self._close[: self._length]

    @property
    def volume(self) -> np.ndarray:
        return self._volume[: self._length]


def _read_only(values: np.ndarray) -> np.ndarray:
    view = values.view()
    view.flags.writeable = False
    return view


# The one signal `on_bar` made at a bar: (action BUY or SELL, confidence in [0, 1], reason).
# A tuple: one is made per signal, and a dataclass takes several times as long to make.
Signal = tuple[int, float, str]


@dataclass(frozen=True)
class Signals:
    """What `on_chunk` returns: the signals among the chunk's bars, in bar order."""

    index: np.ndarray  # positions in the `bars` given to on_chunk, each >= start, increasing
    action: np.ndarray  # BUY or SELL
    confidence: np.ndarray  # in [0, 1]
    reason: np.ndarray | Sequence[str] | str = ()  # one text per signal, or one for all

    @classmethod
    def none(cls) -> Signals:
        return cls(np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0))

    def checked(self, name: str, start: int, stop: int) -> Signals:
        """These signals as arrays of the right types, or a ValueError naming the mistake (a
        strategy that returns it is stopped like one that raises)."""
        index = np.asarray(self.index, dtype=np.int64)
        action = np.asarray(self.action, dtype=np.int8)
        confidence = np.asarray(self.confidence, dtype=np.float64)
        count = len(index)
        if isinstance(self.reason, str):
            reason = np.full(count, self.reason, dtype=object)
        elif not len(self.reason):
            reason = np.full(count, "", dtype=object)
        else:
            reason = np.asarray(self.reason, dtype=object)
        if len(action) != count or len(confidence) != count or len(reason) != count:
            raise ValueError(f"{name}: on_chunk returned columns of different lengths")
        if count and (index[0] < start or index[-1] >= stop or np.any(np.diff(index) <= 0)):
            raise ValueError(
                f"{name}: on_chunk must return increasing positions in {start}..{stop - 1}"
            )
        if not np.all((action == BUY) | (action == SELL)):
            raise ValueError(f"{name}: on_chunk actions must be BUY (1) or SELL (-1)")
        if not np.all((confidence >= 0.0) & (confidence <= 1.0)):
            raise ValueError(f"{name}: confidence must be in [0, 1]")
        return Signals(index, action, confidence, reason)


class Strategy:
    """A strategy: override `on_bar` (and, for speed, optionally `on_chunk`)."""

    name: ClassVar[str]  # the spec's name: `breakout:lookback=20`
    # Extra timeframes this strategy reads with `self.bars_of(tf)`, derived from the session's
    # bars; each shows only the bars complete by the current bar's end.
    timeframes: ClassVar[tuple[str, ...]] = ()
    # The sessions before each day whose context `self.context` shows; None: no context.
    history: ClassVar[HistoryNeeds | None] = None
    _parameters: ClassVar[tuple[Parameter, ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls._parameters = _declared_parameters(cls)
        if cls.history is not None and not isinstance(cls.history, HistoryNeeds):
            raise TypeError(f"{cls.__name__}.history: declare it as HistoryNeeds(days=...)")

    def __init__(self, **values: bool | int | float):
        known = {p.name: p for p in self._parameters}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown parameter {unknown[0]!r} (parameters: {', '.join(known) or 'none'})"
            )
        for parameter in self._parameters:
            setattr(self, parameter.name, values.get(parameter.name, parameter.default))
        self._position = 0  # this symbol's shares, as the session last settled them
        # Set by the session while signals wait to be decided or orders to fill: it brings
        # `_position` up to the current bar (decisions wait until a position is read).
        self._settle: Callable[[], None] | None = None
        self._signal: Signal | None = None
        self._extra: dict[str, Bars] = {}
        self._in_chunk = False
        self._bars: Bars | None = None  # the view of the last on_bar call
        self._history: DayContexts | None = None  # set by the session when `history` is declared
        self.validate()
        self.setup()

    @classmethod
    def parameters(cls) -> tuple[Parameter, ...]:
        return cls._parameters

    @classmethod
    def description(cls) -> str:
        doc = cls.__dict__.get("__doc__")  # the class's own: a subclass without one has none
        return inspect.cleandoc(doc) if doc else ""

    @classmethod
    def batched(cls) -> bool:
        """Whether the strategy implements `on_chunk` (the session then calls it, not on_bar)."""
        return cls.on_chunk is not Strategy.on_chunk

    # -- what a strategy implements -------------------------------------------------------

    def validate(self) -> None:
        """Check how the parameters go together; raise ValueError with the user's message."""

    def setup(self) -> None:
        """Called once the parameters are set and checked: create the strategy's state here
        (indicators, counters)."""

    def on_bar(self, bars: Bars) -> None:
        """Called once per published bar of this strategy's timeframe, with every bar so far."""
        raise NotImplementedError(f"{type(self).__name__} does not implement on_bar")

    def on_chunk(self, bars: Bars, start: int) -> Signals:
        """Optional, for speed: the signals `on_bar` would make at each of bars[start:], given
        every bar before. Called with consecutive chunks in order (it may keep state); the
        signals must not depend on where the chunks are cut. It cannot read `position` or
        other timeframes: those change within a chunk."""
        raise NotImplementedError(f"{type(self).__name__} does not implement on_chunk")

    # -- what on_bar may call -------------------------------------------------------------

    def buy(self, confidence: float = 1.0, reason: str = "") -> None:
        self._signal_once(BUY, confidence, reason)

    def sell(self, confidence: float = 1.0, reason: str = "") -> None:
        self._signal_once(SELL, confidence, reason)

    @property
    def position(self) -> int:
        """This symbol's signed shares held at the current bar (orders fill at a bar's open,
        so a signal shows here from the bar after the one filling it)."""
        if self._in_chunk:
            raise RuntimeError(f"{self.name}: on_chunk cannot read position (use on_bar)")
        if self._settle is not None:
            self._settle()
        return self._position

    def bars_of(self, timeframe: str) -> Bars:
        """The bars of a declared extra timeframe complete by the current bar's end."""
        if self._in_chunk:
            raise RuntimeError(f"{self.name}: on_chunk cannot read other timeframes (use on_bar)")
        try:
            return self._extra[timeframe]
        except KeyError:
            declared = ", ".join(self.timeframes) or "none"
            raise ValueError(
                f"{self.name}: timeframe {timeframe!r} is not declared (declared: {declared})"
            ) from None

    @property
    def context(self) -> DayContext | None:
        """The context of the current bar's trading day, from the sessions before it; None
        when the strategy declares no `history`."""
        if self.history is None:
            return None
        if self._in_chunk:
            raise RuntimeError(
                f"{self.name}: on_chunk reads a bar's context with self.context_at(time)"
            )
        bars = self._bars
        if bars is None or not len(bars):
            raise RuntimeError(f"{self.name}: the context is known from the first bar on")
        return self.context_at(bars._timestamp.item(len(bars) - 1))

    def context_at(self, time_ns: int) -> DayContext:
        """The context of the trading day of the bar starting at `time_ns` (ns UTC), e.g.
        `bars.timestamp[i]` in on_chunk."""
        if self.history is None:
            raise ValueError(f"{self.name}: declares no history (history = HistoryNeeds(...))")
        if self._history is None:
            raise RuntimeError(f"{self.name}: no history given (the session gives it)")
        return self._history.context_at(int(time_ns))

    # -- what the session calls -----------------------------------------------------------

    def _chunk(self, bars: Bars, start: int) -> Signals:
        self._in_chunk = True
        try:
            found = self.on_chunk(bars, start)
        finally:
            self._in_chunk = False
        return found.checked(self.name, start, len(bars))

    def _signal_once(self, action: int, confidence: float, reason: str) -> None:
        if self._signal is not None:
            made = "a BUY" if self._signal[0] == BUY else "a SELL"
            raise RuntimeError(f"{self.name}: one signal per bar (already {made} at this bar)")
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"{self.name}: confidence must be in [0, 1], got {confidence}")
        self._signal = (action, float(confidence), str(reason))


def _declared_parameters(cls: type[Strategy]) -> tuple[Parameter, ...]:
    hints = typing.get_type_hints(cls)
    parameters = []
    for name, kind in hints.items():
        if name.startswith("_") or typing.get_origin(kind) is ClassVar or kind is ClassVar:
            continue
        if name in ("name", "timeframes", "history"):
            continue
        if kind not in PARAMETER_KINDS:
            raise TypeError(f"{cls.__name__}.{name}: a parameter is an int, float or bool")
        if not hasattr(cls, name):
            raise TypeError(f"{cls.__name__}.{name}: a parameter needs a default")
        parameters.append(Parameter(name, kind, getattr(cls, name)))
    return tuple(parameters)
