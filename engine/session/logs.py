"""The session's signal log and its fills, kept column-wise.

A long session at full speed yields hundreds of thousands of signals. Kept as Python objects
they would sit in the garbage collector's oldest generation, and every full collection would
walk them all: 100 ms and more, a visible stall in the app drawing them. In numpy columns the
collector sees a few arrays; `Signal` and `Fill` rows are built only for the rows someone reads.

One thread appends, any thread reads, with no lock: rows are only ever added, a reader counts
the rows before it takes the arrays, and the writer fills rows before it counts them (growing
means copying into new arrays and swapping them in first), so every row a reader counted is in
the arrays it took.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar, overload

import numpy as np
import pandas as pd

ACTIONS = {1: "BUY", -1: "SELL"}
SIGNAL_COLUMNS = (
    "timestamp",
    "symbol",
    "timeframe",
    "strategy",
    "action",
    "price",
    "confidence",
    "approved",
    "reason",
)
_ACTION_CODES = {name: code for code, name in ACTIONS.items()}
_FIRST_CAPACITY = 1024
_FILL_DTYPES = {
    "time_ns": "i8",
    "symbol": "i2",
    "bar": "i8",
    "action": "i1",
    "quantity": "i8",
    "price": "f8",
    "commission": "f8",
    "strategy": "i2",
}

Row = TypeVar("Row")


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
    note: str = ""  # the strategy's own reason for the signal (not in the CSV)

    @property
    def timestamp(self) -> pd.Timestamp:
        return pd.Timestamp(self.time_ns, tz="UTC")


@dataclass(frozen=True, slots=True)
class Fill:
    time_ns: int  # the start of the bar whose open filled it
    action: str
    quantity: int
    price: float  # slippage included
    commission: float = 0.0
    strategy: str = ""  # the label of the strategy whose signal it was
    symbol: str = ""


@dataclass(frozen=True)
class FillColumns:
    """Fills as columns: views of the log's rows, which never change once counted, so they may
    be kept and read from any thread."""

    strategies: tuple[str, ...]  # the labels the `strategy` codes index
    symbols: tuple[str, ...]  # the symbols the `symbol` codes index
    time_ns: np.ndarray  # int64: the start of the bar whose open filled it
    symbol: np.ndarray  # int16: the place of its symbol in `symbols`
    bar: np.ndarray  # int64: that bar's place among its symbol's stored bars
    action: np.ndarray  # int8: 1 BUY, -1 SELL
    quantity: np.ndarray  # int64 shares
    price: np.ndarray
    commission: np.ndarray
    strategy: np.ndarray  # int16: the place of its strategy in `strategies`

    def __len__(self) -> int:
        return len(self.time_ns)

    @property
    def size(self) -> np.ndarray:
        """Signed shares: + bought, - sold."""
        return self.action * self.quantity

    def of_symbol(self, symbol: int) -> FillColumns:
        """The fills of one symbol (all of them, as views, in a one-symbol session)."""
        if len(self.symbols) == 1:
            return self
        rows = np.flatnonzero(self.symbol == symbol)
        return FillColumns(
            self.strategies,
            self.symbols,
            **{name: getattr(self, name)[rows] for name in _FILL_DTYPES},
        )


class _Columns:
    """Equal-length numpy columns that only grow."""

    def __init__(self, **dtypes: str):
        self._arrays = {name: np.empty(_FIRST_CAPACITY, dtype) for name, dtype in dtypes.items()}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, rows: int, **values: object) -> None:
        count, arrays = self._count, self._arrays
        capacity = len(next(iter(arrays.values())))
        if count + rows > capacity:
            size = max(2 * capacity, count + rows)
            grown = {}
            for name, old in arrays.items():
                grown[name] = np.empty(size, old.dtype)
                grown[name][:count] = old[:count]
            self._arrays = arrays = grown
        for name, column in arrays.items():
            column[count : count + rows] = values[name]
        self._count = count + rows

    def take(self, rows: slice | np.ndarray) -> dict[str, np.ndarray]:
        """The columns at `rows` (a slice or indices within the rows counted before)."""
        return {name: column[rows] for name, column in self._arrays.items()}


class _Log(Sequence[Row]):
    """A sequence of rows over `_Columns`: reading a row builds it, nothing else does."""

    _columns: _Columns

    def __len__(self) -> int:
        return len(self._columns)

    def _span(self, start: int, stop: int | None) -> slice:
        """start…stop within the rows counted now (never the unwritten room past them)."""
        count = len(self)
        stop = count if stop is None else min(stop, count)
        return slice(min(start, stop), stop)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        count = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(count)
            return self._rows(self._columns.take(slice(start, stop, step)))
        position = index + count if index < 0 else index
        if not 0 <= position < count:
            raise IndexError(f"row {index} of {count}")
        return self._rows(self._columns.take(slice(position, position + 1)))[0]

    def __iter__(self) -> Iterator[Row]:
        return iter(self[:])

    def rows(self, indices: Sequence[int] | np.ndarray) -> list[Row]:
        """The rows at `indices` (each below the length), in that order."""
        return self._rows(self._columns.take(np.asarray(indices, dtype=np.int64)))

    def _rows(self, columns: dict[str, np.ndarray]) -> list[Row]:
        raise NotImplementedError


class SignalLog(_Log[Signal]):
    """Every signal of one run of a session, with its decision, in the order decided."""

    def __init__(self, runs: Sequence[tuple[str, str, str]]):
        """`runs`: (symbol, strategy label, timeframe) of each strategy on each symbol, in the
        session's order: a row's `strategy` code is its place here."""
        self.run_symbols = tuple(symbol for symbol, _, _ in runs)
        self.strategies = tuple(label for _, label, _ in runs)
        self._timeframes = tuple(timeframe for _, _, timeframe in runs)
        # A row's reason and note are indices here (0: none): few texts, many rows.
        self._texts = [""]
        self._text_codes = {"": 0}
        self._columns = _Columns(
            time_ns="i8",
            strategy="i2",
            action="i1",
            price="f8",
            confidence="f8",
            reason="i4",
            note="i4",
        )

    def append(
        self,
        time_ns: np.ndarray,
        strategy: np.ndarray,
        action: np.ndarray,
        price: np.ndarray,
        confidence: np.ndarray,
        reasons: Sequence[str],
        notes: Sequence[str] | None = None,
    ) -> None:
        """Add decided signals: the start of each one's bar, its run's place in the session's
        order (a strategy on a symbol), the action (1 BUY, -1 SELL), the bar's close, the
        confidence, the reason it was rejected ("" if approved) and the strategy's note (None:
        none)."""
        codes = self._text_codes_of(reasons)
        self._columns.append(
            len(codes),
            time_ns=time_ns,
            strategy=strategy,
            action=action,
            price=price,
            confidence=confidence,
            reason=codes,
            note=0 if notes is None else self._text_codes_of(notes),
        )

    def _text_codes_of(self, texts: Sequence[str]) -> list[int]:
        known = self._text_codes  # a signal's text is nearly always one seen before
        return [known[t] if t in known else self._text_code(t) for t in texts]

    def _text_code(self, text: str) -> int:
        code = self._text_codes.get(text)
        if code is None:
            code = len(self._texts)
            self._texts.append(text)  # before any row holding the code is counted
            self._text_codes[text] = code
        return code

    def approved(self, start: int = 0, stop: int | None = None) -> int:
        """How many of the rows start…stop were approved."""
        return int(np.count_nonzero(self._columns.take(self._span(start, stop))["reason"] == 0))

    def where(
        self,
        start: int = 0,
        stop: int | None = None,
        *,
        strategy: str = "",
        action: str | None = None,
        approved: bool | None = None,
        symbol: str = "",
    ) -> np.ndarray:
        """The indices of the rows start…stop whose strategy label holds `strategy` (any
        case), of `symbol` (exactly; "": any), with that action and decision (None: any)."""
        span = self._span(start, stop)
        columns = self._columns.take(span)
        mask = np.ones(span.stop - span.start, dtype=bool)
        if strategy or symbol:
            needle = strategy.casefold()
            chosen = [
                i
                for i, (label, of) in enumerate(zip(self.strategies, self.run_symbols, strict=True))
                if needle in label.casefold() and symbol in ("", of)
            ]
            mask &= np.isin(columns["strategy"], chosen)
        if action is not None:
            mask &= columns["action"] == _ACTION_CODES[action]
        if approved is not None:
            mask &= (columns["reason"] == 0) == approved
        return np.flatnonzero(mask) + span.start

    def _rows(self, columns: dict[str, np.ndarray]) -> list[Signal]:
        symbols, labels, timeframes, texts = (
            self.run_symbols,
            self.strategies,
            self._timeframes,
            self._texts,
        )
        return [
            Signal(
                time_ns,
                symbols[strategy],
                timeframes[strategy],
                labels[strategy],
                ACTIONS[action],
                price,
                confidence,
                reason == 0,
                texts[reason],
                texts[note],
            )
            for time_ns, strategy, action, price, confidence, reason, note in zip(
                columns["time_ns"].tolist(),
                columns["strategy"].tolist(),
                columns["action"].tolist(),
                columns["price"].tolist(),
                columns["confidence"].tolist(),
                columns["reason"].tolist(),
                columns["note"].tolist(),
                strict=True,
            )
        ]


class FillLog(_Log[Fill]):
    """The account's fills, in order."""

    def __init__(
        self, timestamps: Sequence[np.ndarray], symbols: Sequence[str], strategies: Sequence[str]
    ):
        """`timestamps`: the starts of each symbol's stored bars; `symbols`: their names;
        `strategies`: the labels of the session's strategies, in its order."""
        self._timestamps = tuple(timestamps)
        self.symbols = tuple(symbols)
        self.strategies = tuple(strategies)
        self._columns = _Columns(**_FILL_DTYPES)

    def append(
        self,
        symbol: Sequence[int] | np.ndarray,
        bar: Sequence[int] | np.ndarray,
        size: Sequence[int] | np.ndarray,
        price: Sequence[float] | np.ndarray,
        commission: Sequence[float] | np.ndarray,
        strategy: Sequence[int] | np.ndarray,
    ) -> None:
        """Add fills, as columns: each one's symbol's place, its stored bar, signed shares,
        price, commission, place of the strategy in the session's order."""
        symbols = np.array(symbol, dtype=np.int16)
        bars = np.array(bar, dtype=np.int64)
        sizes = np.array(size, dtype=np.int64)
        if len(self._timestamps) == 1:
            time_ns = self._timestamps[0][bars]
        else:
            time_ns = np.empty(len(bars), np.int64)
            for code, stamps in enumerate(self._timestamps):
                rows = symbols == code
                time_ns[rows] = stamps[bars[rows]]
        self._columns.append(
            len(bars),
            time_ns=time_ns,
            symbol=symbols,
            bar=bars,
            action=np.sign(sizes),
            quantity=np.abs(sizes),
            price=price,
            commission=commission,
            strategy=strategy,
        )

    def view(self, start: int = 0) -> FillColumns:
        """The rows from `start` on, as columns (views, cheap)."""
        columns = self._columns.take(self._span(start, None))
        return FillColumns(self.strategies, self.symbols, **columns)

    def _rows(self, columns: dict[str, np.ndarray]) -> list[Fill]:
        labels, symbols = self.strategies, self.symbols
        return [
            Fill(
                time_ns,
                ACTIONS[action],
                quantity,
                price,
                commission,
                labels[strategy],
                symbols[symbol],
            )
            for time_ns, symbol, action, quantity, price, commission, strategy in zip(
                columns["time_ns"].tolist(),
                columns["symbol"].tolist(),
                columns["action"].tolist(),
                columns["quantity"].tolist(),
                columns["price"].tolist(),
                columns["commission"].tolist(),
                columns["strategy"].tolist(),
                strict=True,
            )
        ]


def signals_csv(signals: Iterable[Signal]) -> str:
    """DESIGN.md's signals CSV: ISO UTC timestamps, approved as true/false."""
    signals = list(signals)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(SIGNAL_COLUMNS)
    stamps = np.datetime_as_string(
        np.array([s.time_ns for s in signals], dtype="M8[ns]"), unit="s", timezone="UTC"
    )
    for stamp, s in zip(stamps, signals, strict=True):
        writer.writerow(
            (
                stamp,
                s.symbol,
                s.timeframe,
                s.strategy,
                s.action,
                f"{s.price:.4f}",
                f"{s.confidence:.4f}",
                "true" if s.approved else "false",
                s.reason,
            )
        )
    return out.getvalue()
