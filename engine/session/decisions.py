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

from engine.session.bars import SessionBars
from engine.session.logs import FillLog
from engine.trading_rules import TradingRules


class Account:
    """Cash and shares, changed only by fills, each priced with the rules' costs."""

    def __init__(self, rules: TradingRules, bars: SessionBars, strategies: Sequence[str]):
        """`bars`: the session's stored bars (the fills are at their opens); `strategies`: the
        labels of its strategies, in its order."""
        self.cash = rules.cash
        self.position = 0
        self.flat_cash = self.cash  # the cash when the account last held no position
        self.fills = FillLog(bars.timestamps, strategies)
        self._costs = None if rules.costs.free else rules.costs
        self._new: list[tuple[int, int, float, float, int]] = []  # not in the log yet

    def fill(self, bar: int, size: int, quote: float, strategy: int) -> None:
        """Fill `size` shares (signed) at the open of stored bar `bar`, `quote`, for the
        strategy in place `strategy` of the session's order."""
        costs = self._costs
        if costs is None:
            price, commission = quote, 0.0
        else:
            price = costs.fill_price(quote, size)
            commission = costs.commission(size, price)
        self.cash = cash = self.cash + (-size * price - commission)  # as the equity curve sums
        self.position = position = self.position + size
        if not position:
            self.flat_cash = cash
        self._new.append((bar, size, price, commission, strategy))

    def flush(self) -> None:
        """Add the fills since the last flush to the log (in one append: a log row per fill
        would cost more than the fill)."""
        if self._new:
            self.fills.append(self._new)
            self._new = []

    def equity(self, price: float) -> float:
        return self.cash + self.position * price

    def open_pnl(self, price: float) -> float:
        """The open position's gain at `price`, net of its entries' commission: what its trades
        would make if closed there, before the exit's costs. (The equity less the cash when
        last flat: the decisions only open, add to and close whole, never reduce a position.)"""
        return self.equity(price) - self.flat_cash


class RiskManager:
    """Decides signals in the order they become known, and fills the approved orders at their
    bars' opens (the pipeline says when a bar has opened)."""

    def __init__(self, rules: TradingRules, account: Account, bars: SessionBars):
        self.rules = rules
        self.account = account
        self._open = bars.open
        self._costs = None if rules.costs.free else rules.costs
        # Approved orders not filled yet, in the order decided: (stored bar to fill at, signed
        # shares, strategy, the cash it is expected to take: negative for what it brings in).
        self.pending: deque[tuple[int, int, int, float]] = deque()
        self.committed = 0  # shares held once every approved order has filled
        self._reserved = 0.0  # the cash the pending orders are expected to take, in all

    def fill_until(self, due: int) -> None:
        """Fill the approved orders of the stored bars before `due`, in order."""
        pending, account = self.pending, self.account
        while pending and pending[0][0] < due:
            bar, size, strategy, reserved = pending.popleft()
            self._reserved -= reserved
            account.fill(bar, size, self._open.item(bar), strategy)

    def decide(
        self,
        action: int,
        quality_pct: float,
        confidence: float,
        price: float,
        bar: int,
        strategy: int,
    ) -> str:
        """The reason to reject a signal, or "" to approve it (and commit to its order). The
        order fills at the open of stored bar `bar`; `price` is the signal's bar's close."""
        pending = self.pending
        if pending and pending[0][0] < bar:  # (tested here: the call costs more than the test)
            self.fill_until(bar)  # the fills at the bars that opened before the signal was known
        rules = self.rules
        if quality_pct < rules.min_quality:
            return f"data quality {quality_pct:.1f}% < {rules.min_quality:g}% for the day so far"
        if confidence < rules.min_confidence:
            return f"confidence {confidence:.3g} < {rules.min_confidence:g}"
        committed = self.committed
        if committed and (committed > 0) != (action > 0):  # closes the position whole
            takes = self._cost(-committed, price)
            self.committed = 0
            self._reserved += takes
            pending.append((bar, -committed, strategy, takes))
            return ""
        if action < 0 and not rules.short:
            return f"position limit: {committed} held, nothing to sell"
        return self._open_or_add(action, price, bar, strategy)

    def _open_or_add(self, action: int, price: float, bar: int, strategy: int) -> str:
        rules, account, sizing = self.rules, self.account, self.rules.size
        if sizing.percent:
            quote = rules.costs.fill_price(price, action)
            shares = sizing.shares_for(account.equity(price), quote, rules.costs)
            if not shares:
                return f"size {sizing} of equity buys no share at {quote:,.2f}"
        else:
            shares = sizing.shares
        committed = self.committed
        if abs(committed + action * shares) > rules.max_position:
            return f"position limit: {committed} held, at most {rules.max_position}"
        size = action * shares
        takes = self._cost(size, price)  # what a short brings in: negative
        power = account.cash - self._reserved
        needed = takes
        if action < 0:  # a short's value is owed back: it ties up twice its value
            power += 2 * committed * price
            needed += 2 * shares * price
        if needed > power:
            return f"cash: {needed:,.2f} needed, {power:,.2f} available"
        self.committed = committed + size
        self._reserved += takes
        self.pending.append((bar, size, strategy, takes))
        return ""

    def _cost(self, size: int, price: float) -> float:
        """The cash an order of `size` shares is expected to take (negative: to bring in),
        priced at `price` with slippage and commission."""
        costs = self._costs
        if costs is None:
            return size * price
        quote = costs.fill_price(price, size)
        return size * quote + costs.commission(size, quote)
