"""Round trips from fills (DESIGN.md, "Results"): each entry fill to the exit fill that closes it.

Fills close the oldest open entries first (FIFO), as backtesting.py's trades do: an exit that
closes part of an entry splits it into a closed trade and a smaller open one, and a fill larger
than the open position closes it and opens the rest the other way (long to short and back).
Each fill's commission is shared among the trades it opens or closes in proportion to shares.

A trade still open after the last fill is closed at the last bar's close for the statistics
and marked `open`; it carries only its entry commission (no exit was paid), so the P&L of all
trades adds up to the final equity less the starting cash.

The fills are matched as columns (`TradeBook`: a sweep's backtest of a year of 1m bars has
thousands of fills, and a Python step per fill cost more than its statistics), and the trades
come out as columns, ready for the CSV and the statistics. A playing session keeps a
`TradeBook` and hands it only the fills since it last asked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

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


@dataclass(frozen=True)
class _Legs:
    """Entries as columns: each the part of an entry fill still open, all one way."""

    side: np.ndarray  # int8: 1 long, -1 short
    shares: np.ndarray  # float64 > 0: the shares of it still open
    bar: np.ndarray  # int64
    price: np.ndarray
    strategy: np.ndarray  # str
    fee: np.ndarray  # the commission of its whole fill
    filled: np.ndarray  # the shares of its whole fill

    def __len__(self) -> int:
        return len(self.side)

    def take(self, rows: np.ndarray) -> _Legs:
        return _Legs(*(getattr(self, f.name)[rows] for f in fields(self)))

    @classmethod
    def concat(cls, first: _Legs, second: _Legs) -> _Legs:
        return cls(
            *(
                np.concatenate([getattr(first, f.name), getattr(second, f.name)])
                for f in fields(cls)
            )
        )

    def commission(self, shares: np.ndarray) -> np.ndarray:
        """The part of each one's fill commission that `shares` of it carry."""
        return self.fee * shares / self.filled


_NO_LEGS = _Legs(
    np.empty(0, np.int8),
    np.empty(0),
    np.empty(0, np.int64),
    np.empty(0),
    np.empty(0, str),
    np.empty(0),
    np.empty(0),
)


class TradeBook:
    """Round trips kept as fills arrive, as a playing session's results are asked for again and
    again: a closed trade never changes, so `add` matches only the new fills, and `trades()`
    adds the open ones at the last close.

    Matching is done on columns, not fill by fill. Lay every share entered end to end (the open
    entries first, then each new fill's opening shares) and every share exited likewise: FIFO
    closes the n-th share entered with the n-th share exited, because a position that goes flat
    has exited exactly what it entered. So the trades are the pieces between the cuts of the
    two lines. Sizes are whole shares (as a session's orders are), so the cuts are exact and
    the trades are the same however the fills were cut into `add` calls."""

    def __init__(self, symbol: str, timestamp: np.ndarray):
        """`timestamp`: the start of every bar the fills may be at."""
        self.symbol = symbol
        self._timestamp = np.asarray(timestamp, dtype=np.int64)
        self._open = _NO_LEGS
        self._position = 0.0  # signed shares: the open legs' sum
        none = np.empty(0)
        self._closed = [self._trades(_NO_LEGS, none, _NO_LEGS.bar, none, none, False)]
        self.fills = 0  # how many have been added

    def add(self, fills: Fills) -> None:
        """Match the next fills (after those added before) against the open entries."""
        if not len(fills):
            return
        size = fills.size
        if np.any(size != np.trunc(size)):
            raise ValueError("fills: sizes must be whole shares to be matched into trades")
        after = self._position + np.cumsum(size)
        before = np.concatenate(([self._position], after[:-1]))
        amount = np.abs(size)
        side = np.sign(size).astype(np.int8)
        # A fill against the position closes up to the position; the rest of it opens.
        closing = np.where(side == -np.sign(before), np.minimum(amount, np.abs(before)), 0.0)
        opening = amount - closing
        rows = opening > 0
        entries = _Legs.concat(
            self._open,
            _Legs(
                side[rows],
                opening[rows],
                fills.bar[rows],
                fills.price[rows],
                fills.strategy[rows],
                fills.commission[rows],
                amount[rows],
            ),
        )
        entered = np.cumsum(entries.shares)  # the end of each entry on the line of shares
        exits = np.flatnonzero(closing)
        exited = np.cumsum(closing[exits])
        done = float(exited[-1]) if len(exits) else 0.0
        if len(exits):
            cuts = np.union1d(entered[entered < done], exited)  # its last is `done`
            start = np.concatenate(([0.0], cuts[:-1]))
            shares = cuts - start
            entry = entries.take(np.searchsorted(entered, start, "right"))
            exit_ = exits[np.searchsorted(exited, start, "right")]
            commission = entry.commission(shares) + fills.commission[exit_] * shares / amount[exit_]
            closed = self._trades(
                entry, shares, fills.bar[exit_], fills.price[exit_], commission, False
            )
            self._closed.append(closed)
        still = entered > done
        left = entries.take(still)
        self._open = replace(
            left, shares=entered[still] - np.maximum(entered[still] - left.shares, done)
        )
        self._position = float(after[-1])
        self.fills += len(fills)

    def trades(self, close: np.ndarray) -> Trades:
        """Every trade so far; those still open closed at the last of `close` (the closes of
        the bars so far) and marked open."""
        if len(self._closed) > 1:
            self._closed = [Trades.concat(self._closed)]
        closed = self._closed[0]
        if not len(self._open):
            return closed
        legs, last = self._open, len(close) - 1
        at_last = np.full(len(legs), last)
        still_open = self._trades(
            legs, legs.shares, at_last, close[at_last], legs.commission(legs.shares), True
        )
        return Trades.concat([closed, still_open])

    def _trades(
        self,
        entry: _Legs,
        shares: np.ndarray,
        exit_bar: np.ndarray,
        exit_price: np.ndarray,
        commission: np.ndarray,
        is_open: bool,
    ) -> Trades:
        n = len(shares)
        pnl = entry.side * shares * (exit_price - entry.price) - commission
        return Trades(
            symbol=np.full(n, self.symbol),
            strategy=entry.strategy,
            side=entry.side,
            size=shares,
            entry_bar=entry.bar,
            entry_time=self._timestamp[entry.bar],
            entry_price=entry.price,
            exit_bar=exit_bar,
            exit_time=self._timestamp[exit_bar],
            exit_price=exit_price,
            pnl=pnl,
            return_pct=pnl / (shares * entry.price) * 100,
            commission=commission,
            open=np.full(n, is_open),
        )


def round_trips(fills: Fills, timestamp: np.ndarray, close: np.ndarray, symbol: str) -> Trades:
    """The trades `fills` make over the bars (`timestamp` and `close` per bar) of `symbol`."""
    book = TradeBook(symbol, timestamp)
    book.add(fills)
    return book.trades(close)
