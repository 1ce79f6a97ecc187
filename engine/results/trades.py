"""Round trips from fills (DESIGN.md, "Results"): each entry fill to the exit fill that closes it.

Fills close the oldest open entries first (FIFO), as backtesting.py's trades do: an exit that
closes part of an entry splits it into a closed trade and a smaller open one, and a fill larger
than the open position closes it and opens the rest the other way (long to short and back).
Each fill's commission is shared among the trades it opens or closes in proportion to shares.

A trade still open after the last fill is closed at the last bar's close for the statistics
and marked `open`; it carries only its entry commission (no exit was paid), so the P&L of all
trades adds up to the final equity less the starting cash.

Fills are few next to bars (one per approved signal), so one Python pass over them is cheap;
the trades come out as columns all the same, ready for the CSV and the statistics. A playing
session keeps a `TradeBook` and hands it only the fills since it last asked.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from engine.results.equity import Fills


@dataclass(frozen=True)
class Trades:
    """Round trips in the order they were closed (the still-open ones last), as columns. Times
    are int64 ns UTC bar starts: an entry or exit at a bar's open has that bar's time."""

    symbol: np.ndarray  # str
    strategy: np.ndarray  # str: the strategy of the entry fill
    side: np.ndarray  # int8: 1 long, -1 short
    size: np.ndarray  # float64 shares, > 0
    entry_bar: np.ndarray  # int64
    entry_time: np.ndarray
    entry_price: np.ndarray
    exit_bar: np.ndarray  # int64; the last bar for an open trade
    exit_time: np.ndarray
    exit_price: np.ndarray  # the last close for an open trade
    pnl: np.ndarray  # net of the trade's entry and exit commissions
    return_pct: np.ndarray  # pnl / (size * entry price), in %
    commission: np.ndarray
    open: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.side)

    @classmethod
    def concat(cls, parts: list[Trades]) -> Trades:
        """The rows of `parts`, one after the other."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    @property
    def duration(self) -> np.ndarray:
        """int64 ns from entry to exit."""
        return self.exit_time - self.entry_time


@dataclass
class _Lot:
    """The still-open part of an entry fill."""

    bar: int
    size: float  # signed
    price: float
    commission: float  # the entry commission of the part still open
    strategy: str


class TradeBook:
    """Round trips kept as fills arrive, as a playing session's results are asked for again and
    again: a closed trade never changes, so `add` matches only the new fills, and `trades()`
    adds the open ones at the last close."""

    def __init__(self, symbol: str, timestamp: np.ndarray):
        """`timestamp`: the start of every bar the fills may be at."""
        self.symbol = symbol
        self._timestamp = np.asarray(timestamp, dtype=np.int64)
        self._lots: deque[_Lot] = deque()
        self._closed = _columns([], False, self._timestamp, symbol)
        self.fills = 0  # how many have been added

    def add(self, fills: Fills) -> None:
        """Match the next fills (after those added before) against the open entries."""
        rows: list[_Row] = []
        lots = self._lots
        for bar, size, price, commission, strategy in zip(
            fills.bar.tolist(),
            fills.size.tolist(),
            fills.price.tolist(),
            fills.commission.tolist(),
            fills.strategy.tolist(),
            strict=True,
        ):
            left = size
            while left and lots and (lots[0].size > 0) != (left > 0):
                lot = lots[0]
                shares = min(abs(left), abs(lot.size))
                entry_cost = lot.commission * shares / abs(lot.size)
                exit_cost = commission * shares / abs(size)
                rows.append(_Row.closing(lot, shares, bar, price, entry_cost + exit_cost))
                if shares == abs(lot.size):
                    lots.popleft()
                else:
                    lot.size -= math.copysign(shares, lot.size)
                    lot.commission -= entry_cost
                left = 0.0 if shares == abs(left) else left - math.copysign(shares, left)
            if left:
                lots.append(_Lot(bar, left, price, commission * abs(left) / abs(size), strategy))
        if rows:
            closed = _columns(rows, False, self._timestamp, self.symbol)
            self._closed = Trades.concat([self._closed, closed])
        self.fills += len(fills)

    def trades(self, close: np.ndarray) -> Trades:
        """Every trade so far; those still open closed at the last of `close` (the closes of
        the bars so far) and marked open."""
        if not self._lots:
            return self._closed
        last = len(close) - 1
        rows = [
            _Row.closing(lot, abs(lot.size), last, float(close[last]), lot.commission)
            for lot in self._lots
        ]
        return Trades.concat([self._closed, _columns(rows, True, self._timestamp, self.symbol)])


def round_trips(fills: Fills, timestamp: np.ndarray, close: np.ndarray, symbol: str) -> Trades:
    """The trades `fills` make over the bars (`timestamp` and `close` per bar) of `symbol`."""
    book = TradeBook(symbol, timestamp)
    book.add(fills)
    return book.trades(close)


class _Row(NamedTuple):
    side: int
    size: float
    entry_bar: int
    entry_price: float
    strategy: str
    exit_bar: int
    exit_price: float
    commission: float

    @classmethod
    def closing(cls, lot: _Lot, shares: float, bar: int, price: float, commission: float) -> _Row:
        side = 1 if lot.size > 0 else -1
        return cls(side, shares, lot.bar, lot.price, lot.strategy, bar, price, commission)


def _columns(rows: list[_Row], is_open: bool, timestamp: np.ndarray, symbol: str) -> Trades:
    n = len(rows)
    side = np.array([row.side for row in rows], dtype=np.int8)
    size = np.array([row.size for row in rows], dtype=np.float64)
    entry_bar = np.array([row.entry_bar for row in rows], dtype=np.int64)
    entry_price = np.array([row.entry_price for row in rows], dtype=np.float64)
    exit_bar = np.array([row.exit_bar for row in rows], dtype=np.int64)
    exit_price = np.array([row.exit_price for row in rows], dtype=np.float64)
    commission = np.array([row.commission for row in rows], dtype=np.float64)
    pnl = side * size * (exit_price - entry_price) - commission
    return Trades(
        symbol=np.full(n, symbol),
        strategy=np.array([row.strategy for row in rows], dtype=str),
        side=side,
        size=size,
        entry_bar=entry_bar,
        entry_time=timestamp[entry_bar],
        entry_price=entry_price,
        exit_bar=exit_bar,
        exit_time=timestamp[exit_bar],
        exit_price=exit_price,
        pnl=pnl,
        return_pct=pnl / (size * entry_price) * 100,
        commission=commission,
        open=np.full(n, is_open),
    )
