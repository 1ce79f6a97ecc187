"""Signals, the decision taken on each, and the simulated account the approved ones trade, by
the session's trading rules (engine/trading_rules.py; DESIGN.md, "Results").

Checks run in a fixed order and the first that fails names the reason: the day's data quality
so far, the strategy's confidence, the position limit, then the cash. A BUY when flat or long
buys `size` more shares, up to `max_position`; a SELL when long sells the whole position. With
`short`, a SELL when flat or short sells `size` more short, up to `max_position`, and a BUY
when short buys the whole short back; without, a SELL when flat is refused. So a position is
only ever opened, added to or closed whole, never turned from long to short by one order.

An order that opens or adds needs its cost — shares at the signal's close (the last price known
when deciding) with slippage, plus commission — within the buying power: the cash as it will be
once the orders approved but not yet filled have filled (each priced the same way: a long
closed at the same instant pays for a new entry), less twice the value of the short position
(its proceeds are in that cash and it must be bought back). The order fills at the next open,
so a gap from that close can overdraw the cash by the gap times the shares. An order that
closes needs no cash: a short's loss is not capped (a rising price can take the equity below
zero, as in a real account before a margin call; the simulation does not liquidate).

Every decision sees the account as the fills before it left it: the orders due at any bar that
opened before the signal became known have filled first. Approved orders count against the
limit and the buying power at once, though they fill at the next bar's open. So a decision
depends on the bars alone, never on how the session's clock was moved.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import overload

import numpy as np

from engine.session.bars import SessionBars
from engine.session.logs import FillLog
from engine.trading_rules import TradingRules


class Account:
    """Cash and each symbol's shares, changed only by fills, each priced with the rules'
    costs. One account trades every symbol of a session: the cash is theirs together."""

    def __init__(
        self, rules: TradingRules, market: Sequence[SessionBars], strategies: Sequence[str]
    ):
        """`market`: each symbol's stored bars (the fills are at their opens); `strategies`:
        the labels of the session's strategies, in its order (each runs on every symbol)."""
        self.cash = rules.cash
        self.positions = [0] * len(market)
        # Each symbol's cash flow so far and when it was last flat: its open position's gain.
        self._flow = [0.0] * len(market)
        self._flat_flow = [0.0] * len(market)
        self.fills = FillLog(
            [bars.timestamps for bars in market], [bars.symbol for bars in market], strategies
        )
        self._costs = None if rules.costs.free else rules.costs
        self._new: list[tuple[int, int, int, float, float, int]] = []  # not in the log yet

    @property
    def position(self) -> int:
        """The shares of a one-symbol session (of several: their sum)."""
        return sum(self.positions)

    def fill(self, symbol: int, bar: int, size: int, quote: float, strategy: int) -> None:
        """Fill `size` shares (signed) of `symbol` at the open of its stored bar `bar`,
        `quote`, for the strategy in place `strategy` of the session's order."""
        costs = self._costs
        if costs is None:
            price, commission = quote, 0.0
        else:
            price = costs.fill_price(quote, size)
            commission = costs.commission(size, price)
        flow = -size * price - commission
        self.cash += flow  # as the equity curve sums
        self._flow[symbol] += flow
        self.positions[symbol] = position = self.positions[symbol] + size
        if not position:
            self._flat_flow[symbol] = self._flow[symbol]
        self._new.append((symbol, bar, size, price, commission, strategy))

    def fill_all(
        self,
        symbol: int,
        bar: np.ndarray,
        size: np.ndarray,
        quote: np.ndarray,
        strategy: np.ndarray,
    ) -> None:
        """`fill` each order in turn (arrays, one value an order): the same cash, flows and
        log to the bit (the same operations on each value, and a running sum in numpy adds in
        order, as `+=` does)."""
        if not len(bar):
            return
        flow, price, commission = self.fill_flows(size, quote)
        self.cash = float(np.cumsum(np.concatenate(([self.cash], flow)))[-1])
        flows = np.cumsum(np.concatenate(([self._flow[symbol]], flow)))
        self._flow[symbol] = float(flows[-1])
        held = self.positions[symbol] + np.cumsum(size)
        self.positions[symbol] = int(held[-1])
        flat = np.flatnonzero(held == 0)
        if len(flat):
            self._flat_flow[symbol] = float(flows[flat[-1] + 1])
        self.flush()  # the log keeps the fills' order
        self.fills.append(np.full(len(bar), symbol), bar, size, price, commission, strategy)

    def fill_flows(
        self, size: np.ndarray, quote: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What `fill` makes of each order (arrays): its cash flow, price and commission."""
        costs = self._costs
        if costs is None:
            price, commission = quote, np.zeros(len(quote))
        else:
            price = costs.fill_price(quote, size)
            commission = costs.commission(size, price)
        return -size * price - commission, price, commission

    def flush(self) -> None:
        """Add the fills since the last flush to the log (in one append: a log row per fill
        would cost more than the fill)."""
        if self._new:
            self.fills.append(*zip(*self._new, strict=True))
            self._new = []

    def equity(self, prices: Sequence[float]) -> float:
        """The cash and every position at `prices` (one per symbol)."""
        return self.cash + sum(p * q for p, q in zip(self.positions, prices, strict=True))

    def open_pnl(self, prices: Sequence[float]) -> float:
        """The open positions' gain at `prices`, net of their entries' commission: what their
        trades would make if closed there, before the exits' costs. (Each symbol's cash flow
        since it was last flat plus its position's value: the decisions only open, add to and
        close whole, never reduce a position.)"""
        return sum(
            flow - flat + position * price
            for flow, flat, position, price in zip(
                self._flow, self._flat_flow, self.positions, prices, strict=True
            )
        )


class RiskManager:
    """Decides signals in the order they become known, and fills the approved orders at their
    bars' opens (the pipeline says when a bar has opened)."""

    def __init__(self, rules: TradingRules, account: Account, market: Sequence[SessionBars]):
        self.rules = rules
        self.account = account
        self._opens = [bars.open for bars in market]
        self._starts = [bars.timestamps for bars in market]
        self._ends = [bars.end for bars in market]
        self._closes = [bars.close for bars in market]
        self._costs = None if rules.costs.free else rules.costs
        # Per symbol, the approved orders not filled yet, in the order decided: (stored bar
        # to fill at, signed shares, strategy, the cash it is expected to take: negative for
        # what it brings in).
        self.pendings = tuple(deque() for _ in market)
        self.committed = [0] * len(market)  # shares held once every approved order has filled
        self._reserved = 0.0  # the cash the pending orders are expected to take, in all

    def fill_until(self, due: Sequence[int]) -> None:
        """Fill the approved orders at each symbol's stored bars before its `due`, in the
        order of their bars' starts, then the symbols' order: however the clock moved, the
        fills happen in one order, and so add up to the same cash to the last bit."""
        pendings = self.pendings
        if len(pendings) == 1:
            pending, bound = pendings[0], due[0]
            while pending and pending[0][0] < bound:
                self._fill_first(0)
            return
        starts = self._starts
        while True:
            first = None
            for symbol, pending in enumerate(pendings):
                if pending and pending[0][0] < due[symbol]:
                    start = starts[symbol].item(pending[0][0])
                    if first is None or start < first[0]:
                        first = (start, symbol)
            if first is None:
                return
            self._fill_first(first[1])

    def fill_before(self, known: int, symbol: int, bar: int) -> None:
        """Fill the orders at the bars that opened before `known`: of `symbol`, those before
        its stored bar `bar` (the caller knows it), of the others those that start earlier."""
        pendings = self.pendings
        if len(pendings) == 1:
            pending = pendings[0]
            if pending and pending[0][0] < bar:  # (tested here: the call costs more)
                self.fill_until((bar,))
            return
        if any(pendings):  # (usually none: an order fills at the next bar's open)
            self.fill_until(
                [
                    bar if other == symbol else int(starts.searchsorted(known, side="left"))
                    for other, starts in enumerate(self._starts)
                ]
            )

    def _fill_first(self, symbol: int) -> None:
        bar, size, strategy, reserved = self.pendings[symbol].popleft()
        self._reserved -= reserved
        self.account.fill(symbol, bar, size, self._opens[symbol].item(bar), strategy)

    def decide(
        self,
        action: int,
        quality_pct: float,
        confidence: float,
        price: float,
        bar: int,
        strategy: int,
        symbol: int,
        known: int,
    ) -> str:
        """The reason to reject a signal of `symbol`, known at `known` (ns), or "" to approve
        it (and commit to its order). The order fills at the open of the symbol's stored bar
        `bar`, the first to start at or after `known`; `price` is the signal's bar's close."""
        self.fill_before(known, symbol, bar)  # the bars that opened before it was known
        rules = self.rules
        if quality_pct < rules.min_quality:
            return _low_quality(quality_pct, rules)
        if confidence < rules.min_confidence:
            return _unsure(confidence, rules)
        committed = self.committed[symbol]
        if committed and (committed > 0) != (action > 0):  # closes the position whole
            takes = self._cost(-committed, price)
            self.committed[symbol] = 0
            self._reserved += takes
            self.pendings[symbol].append((bar, -committed, strategy, takes))
            return ""
        if action < 0 and not rules.short:
            return _nothing_to_sell(committed)
        return self._open_or_add(action, price, bar, strategy, symbol, known)

    def decide_all(
        self,
        action: np.ndarray,
        quality_pct: np.ndarray,
        confidence: np.ndarray,
        price: np.ndarray,
        bar: np.ndarray,
        strategy: np.ndarray,
        symbol: np.ndarray,
        known: np.ndarray,
        lacking: Sequence[str],
    ) -> list[str]:
        """`decide` each signal in turn (arrays of one value a signal, in the order they
        became known), a signal `lacking` its historical context ("" when it is not) rejected
        with that reason before `decide` sees it: the reasons, and the account and orders as
        deciding them one by one leaves them, to the bit."""
        reasons = self._decide_alternating(
            action, quality_pct, confidence, price, bar, strategy, lacking
        )
        decide, done = self.decide, len(reasons)
        reasons.extend(
            lacks or decide(*values)
            for *values, lacks in zip(
                *(
                    column[done:].tolist()
                    for column in (action, quality_pct, confidence, price, bar, strategy, symbol)
                ),
                known[done:].tolist(),
                lacking[done:],
                strict=True,
            )
        )
        return reasons

    def _alternates(self) -> bool:
        """Whether a position can only go from flat to long and back, in one symbol: each
        entry buys `size` shares and a second would pass `max_position`."""
        rules, shares = self.rules, self.rules.size.shares
        return (
            len(self.pendings) == 1
            and not rules.size.percent
            and not rules.short
            and shares <= rules.max_position < 2 * shares
        )

    def _decide_alternating(
        self,
        action: np.ndarray,
        quality_pct: np.ndarray,
        confidence: np.ndarray,
        price: np.ndarray,
        bar: np.ndarray,
        strategy: np.ndarray,
        lacking: Sequence[str],
    ) -> list[str]:
        """Decide the signals in arrays where a position alternates (`_alternates`), up to
        the first entry the cash refuses; their reasons (none where it does not alternate).

        A signal that passes the gates is then approved if and only if its action differs
        from the one before (a BUY when long passes the limit, a SELL when flat has nothing
        to sell), unless the cash refuses the entry. The cash and the reserve each decision
        sees are running sums over the fills and approvals before it, added in the order
        deciding one by one adds them: the same floats."""
        rules, count = self.rules, len(action)
        if not (count and self._alternates()):
            return []
        shares = rules.size.shares
        if any(lacking):
            decides = np.fromiter((not lacks for lacks in lacking), bool, count)
        else:  # (nearly always: a list's `any` costs a tenth of that)
            decides = np.ones(count, bool)
        low_quality = decides & (quality_pct < rules.min_quality)
        unsure = decides & ~low_quality & (confidence < rules.min_confidence)
        passing = np.flatnonzero(decides & ~low_quality & ~unsure)
        acts = action[passing]
        held = self.committed[0]
        approved = passing[acts != np.concatenate(([1 if held else -1], acts[:-1]))]
        size = np.where(action[approved] > 0, shares, -shares)
        takes = self._cost(size, price[approved])

        # Every order in the order it fills: those pending already, then these.
        pending = self.pendings[0]
        before = [np.array(column) for column in zip(*pending, strict=True)] or [[]] * 4
        order_bar = np.concatenate((before[0], bar[approved])).astype(np.int64)
        order_size = np.concatenate((before[1], size)).astype(np.int64)
        order_strategy = np.concatenate((before[2], strategy[approved])).astype(np.int64)
        order_takes = np.concatenate((before[3], takes)).astype(np.float64)
        if np.any(np.diff(order_bar) < 0):  # (orders fill in the order decided: never so)
            return []
        # The orders filled before each decision (`decide` fills those at earlier bars).
        deciding = np.flatnonzero(decides)
        made = len(pending) + np.searchsorted(approved, deciding)
        filled = np.minimum(made, np.searchsorted(order_bar, bar[deciding]))
        fills = np.arange(filled[-1] if len(filled) else 0)
        quote = self._opens[0][order_bar[fills]]  # (an order at the last bar never fills)
        flow, _, _ = self.account.fill_flows(order_size[fills], quote)
        cash = np.cumsum(np.concatenate(([self.account.cash], flow)))
        # The reserve's changes in the order they happen: a decision's fills, then its order.
        at = deciding[np.searchsorted(filled, fills, side="right")]
        keys = np.concatenate((2 * at, 2 * approved + 1))
        sequence = np.argsort(keys, kind="stable")
        changes = np.concatenate((-order_takes[fills], takes))[sequence]
        reserved = np.cumsum(np.concatenate(([self._reserved], changes)))
        seen = np.empty(len(sequence), np.int64)
        seen[sequence] = np.arange(len(sequence))  # each change's place in the sequence

        # The first entry the cash refuses ends the stretch decided here.
        place = np.searchsorted(deciding, approved)
        power = cash[filled[place]] - reserved[seen[len(fills) :]]
        refused = np.flatnonzero((size > 0) & (takes > power))
        end = int(approved[refused[0]]) if len(refused) else count

        # The account and the orders as the decisions before `end` leave them.
        kept = int(np.searchsorted(approved, end))
        last = int(np.searchsorted(deciding, end)) - 1
        done = int(filled[last]) if last >= 0 else 0
        self.account.fill_all(
            0, order_bar[:done], order_size[:done], quote[:done], order_strategy[:done]
        )
        waiting = slice(done, len(pending) + kept)
        pending.clear()
        pending.extend(
            zip(
                order_bar[waiting].tolist(),
                order_size[waiting].tolist(),
                order_strategy[waiting].tolist(),
                order_takes[waiting].tolist(),
                strict=True,
            )
        )
        if kept:
            self.committed[0] = shares if size[kept - 1] > 0 else 0
        self._reserved = float(reserved[np.searchsorted(keys[sequence], 2 * end)])
        gated = np.flatnonzero((low_quality | unsure)[:end])
        limited = np.setdiff1d(passing[passing < end], approved, assume_unique=True)
        return self._alternating_reasons(
            action, quality_pct, confidence, lacking[:end], gated, limited
        )

    def _alternating_reasons(
        self,
        action: np.ndarray,
        quality_pct: np.ndarray,
        confidence: np.ndarray,
        lacking: Sequence[str],
        gated: np.ndarray,
        limited: np.ndarray,
    ) -> list[str]:
        """The reasons `decide` gives the signals `_decide_alternating` decided: `gated`, the
        rows refused for their quality or confidence, `limited` those for the position."""
        rules = self.rules
        reasons = list(lacking)
        for row, pct, conf in zip(
            gated.tolist(), quality_pct[gated].tolist(), confidence[gated].tolist(), strict=True
        ):
            reasons[row] = (
                _low_quality(pct, rules) if pct < rules.min_quality else _unsure(conf, rules)
            )
        full, flat = _at_limit(rules.size.shares, rules), _nothing_to_sell(0)
        for row, act in zip(limited.tolist(), action[limited].tolist(), strict=True):
            reasons[row] = full if act > 0 else flat
        return reasons

    def _open_or_add(
        self, action: int, price: float, bar: int, strategy: int, symbol: int, known: int
    ) -> str:
        rules, account, sizing = self.rules, self.account, self.rules.size
        # Every symbol's last close, where the equity or a short elsewhere counts.
        shorts = rules.short and any(held < 0 for held in self.committed)
        prices = self._prices(symbol, price, known) if sizing.percent or shorts else []
        if sizing.percent:
            quote = rules.costs.fill_price(price, action)
            shares = sizing.shares_for(account.equity(prices), quote, rules.costs)
            if not shares:
                return f"size {sizing} of equity buys no share at {quote:,.2f}"
        else:
            shares = sizing.shares
        committed = self.committed[symbol]
        if abs(committed + action * shares) > rules.max_position:
            return _at_limit(committed, rules)
        size = action * shares
        takes = self._cost(size, price)  # what a short brings in: negative
        power = account.cash - self._reserved
        needed = takes
        # A short's value is owed back: it ties up twice its value.
        if shorts:
            power += sum(
                2 * held * at for held, at in zip(self.committed, prices, strict=True) if held < 0
            )
        if action < 0:
            needed += 2 * shares * price
        if needed > power:
            return f"cash: {needed:,.2f} needed, {power:,.2f} available"
        self.committed[symbol] = committed + size
        self._reserved += takes
        self.pendings[symbol].append((bar, size, strategy, takes))
        return ""

    def _prices(self, symbol: int, price: float, known: int) -> list[float]:
        """Every symbol's last close known at `known`: `price` for `symbol` (0 for a symbol
        with no bar complete yet, which holds nothing)."""
        if len(self._closes) == 1:
            return [price]
        prices = []
        for other, (ends, closes) in enumerate(zip(self._ends, self._closes, strict=True)):
            if other == symbol:
                prices.append(price)
                continue
            last = int(ends.searchsorted(known, side="right")) - 1
            prices.append(closes.item(last) if last >= 0 else 0.0)
        return prices

    @overload
    def _cost(self, size: int, price: float) -> float: ...
    @overload
    def _cost(self, size: np.ndarray, price: np.ndarray) -> np.ndarray: ...
    def _cost(self, size, price):
        """The cash an order of `size` shares is expected to take (negative: to bring in),
        priced at `price` with slippage and commission (of each order, given arrays)."""
        costs = self._costs
        if costs is None:
            return size * price
        quote = costs.fill_price(price, size)
        return size * quote + costs.commission(size, quote)


# The reasons a signal is rejected for, in `decide`'s words (its one-by-one path and its path in
# arrays give the same).


def _low_quality(pct: float, rules: TradingRules) -> str:
    return f"data quality {pct:.1f}% < {rules.min_quality:g}% for the day so far"


def _unsure(confidence: float, rules: TradingRules) -> str:
    return f"confidence {confidence:.3g} < {rules.min_confidence:g}"


def _at_limit(held: int, rules: TradingRules) -> str:
    return f"position limit: {held} held, at most {rules.max_position}"


def _nothing_to_sell(held: int) -> str:
    return f"position limit: {held} held, nothing to sell"
