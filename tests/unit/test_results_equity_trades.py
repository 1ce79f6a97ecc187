"""The equity curve and the round trips (DESIGN.md, "Results"): the curve equals an account kept
fill by fill, the trades account for every dollar of it, and longs and shorts are matched the
way a broker would — FIFO, with partial exits, flips and a trade left open at the end."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.results import Fills, TradeBook, equity_curve, round_trips
from tests.support.results import accounts, daily_stamps

CASH = 100_000.0


def run(close, fills):
    stamps = daily_stamps(len(close))
    close = np.asarray(close, dtype=np.float64)
    return equity_curve(stamps, np.arange(len(close)), close, fills, CASH), round_trips(
        fills, stamps, close, "T"
    )


def kept_fill_by_fill(close, fills):
    """The account as a broker keeps it: fill after fill, marked at each close."""
    by_bar = {}
    for fill in zip(fills.bar, fills.size, fills.price, fills.commission, strict=True):
        by_bar.setdefault(int(fill[0]), []).append(fill)
    cash, position, peak = CASH, 0.0, -np.inf
    columns = {name: [] for name in ("cash", "position", "equity", "drawdown_pct", "exposed")}
    for bar, price in enumerate(close):
        held = position != 0
        for _, size, at, fee in by_bar.get(bar, []):
            cash -= size * at + fee
            position += size
            held = True  # a fill is an entry or an exit: inside a round trip
        equity = cash + position * price
        peak = max(peak, equity)
        row = (cash, position, equity, (equity / peak - 1) * 100, held or position != 0)
        for column, value in zip(columns.values(), row, strict=True):
            column.append(value)
    return columns


@settings(max_examples=300)
@given(accounts())
def test_the_curve_is_the_account_kept_fill_by_fill(account):
    close, fills = account
    curve, _ = run(close, fills)
    expected = kept_fill_by_fill(close, fills)
    assert curve.exposed.tolist() == expected.pop("exposed")
    for name, column in expected.items():
        np.testing.assert_allclose(getattr(curve, name), column, rtol=1e-9, atol=1e-6, err_msg=name)
    np.testing.assert_array_equal(curve.equity, curve.cash + curve.position * np.array(close))
    assert (curve.drawdown_pct <= 0).all()
    assert curve.drawdown_pct[0] == 0


@settings(max_examples=300)
@given(accounts())
def test_the_trades_account_for_the_whole_run(account):
    close, fills = account
    curve, trades = run(close, fills)
    # P&L net of commissions adds up to the equity's change (the open trades at the last close).
    assert trades.pnl.sum() == pytest.approx(curve.equity[-1] - CASH, rel=1e-9, abs=1e-6)
    assert trades.commission.sum() == pytest.approx(fills.commission.sum(), abs=1e-9)
    # What is still open is the position held at the end, all one way.
    open_shares = (trades.side * trades.size)[trades.open]
    assert open_shares.sum() == curve.position[-1]
    assert len(set(np.sign(open_shares))) <= 1
    assert (trades.size > 0).all() and (trades.exit_bar >= trades.entry_bar).all()
    assert not trades.open[: (~trades.open).sum()].any()  # the closed ones first
    # Every share bought or sold is an entry or an exit of exactly one trade.
    traded = np.zeros(len(close))
    np.add.at(traded, trades.entry_bar, trades.size)
    np.add.at(traded, trades.exit_bar[~trades.open], trades.size[~trades.open])
    np.testing.assert_allclose(traded, np.bincount(fills.bar, np.abs(fills.size), len(close)))
    # A bar is exposed exactly when some trade spans it (backtesting.py's exposure).
    spanned = np.zeros(len(close), dtype=bool)
    for entry, exit_ in zip(trades.entry_bar, trades.exit_bar, strict=True):
        spanned[entry : exit_ + 1] = True
    np.testing.assert_array_equal(curve.exposed, spanned)


CLOSE = [50.0, 50.0, 45.0, 40.0, 42.0]


@pytest.mark.parametrize(("cover", "pnl"), [(40.0, 1000.0), (60.0, -1000.0)])
def test_a_short_gains_when_the_price_falls_and_loses_when_it_rises(cover, pnl):
    curve, trades = run(CLOSE, Fills.of([1, 3], [-100, 100], [50.0, cover]))
    assert trades.side.tolist() == [-1] and trades.size.tolist() == [100]
    assert trades.pnl.tolist() == [pnl]
    assert trades.return_pct.tolist() == [pnl / 5000 * 100]
    assert not trades.open[0]
    # Short 100 at 50: 5,000 more cash and -100 shares; marked at 45: 500 up.
    covered = CASH + 5000 - 100 * cover
    assert curve.cash.tolist() == [CASH, CASH + 5000, CASH + 5000, covered, covered]
    assert curve.position.tolist() == [0, -100, -100, 0, 0]
    assert curve.equity[2] == CASH + 500
    assert curve.equity[-1] == CASH + pnl
    assert curve.exposed.tolist() == [False, True, True, True, False]


def test_a_fill_past_the_position_flips_it_and_shares_its_commission():
    # Long 100 at 10; sell 300 at 12 (closes the long, opens 200 short); buy 200 back at 11.
    fills = Fills.of([1, 2, 3], [100, -300, 200], [10.0, 12.0, 11.0], [1.0, 3.0, 2.0])
    curve, trades = run([10.0, 10.0, 12.0, 11.0], fills)
    assert trades.side.tolist() == [1, -1]
    assert trades.size.tolist() == [100, 200]
    assert trades.entry_price.tolist() == [10, 12] and trades.exit_price.tolist() == [12, 11]
    # The flipping fill's 3.0: 1.0 for the 100 that close, 2.0 for the 200 that open.
    assert trades.commission.tolist() == [2.0, 4.0]
    assert trades.pnl.tolist() == [200 - 2.0, 200 - 4.0]
    assert curve.position.tolist() == [0, 100, -200, 0]
    assert curve.equity[-1] == CASH + 394


def test_exits_close_the_oldest_entries_first_and_the_rest_stays_open():
    # Buy 100 at 10, buy 100 at 12 (fee 2.0), sell 150 at 15: the first lot closes whole, 50
    # of the second with half its fee; 50 at 12 are still open at the last close, 16.
    fills = Fills.of([1, 2, 3], [100, 100, -150], [10.0, 12.0, 15.0], [0.0, 2.0, 3.0])
    stamps = daily_stamps(5)
    close = np.array([10.0, 11.0, 13.0, 15.0, 16.0])
    trades = round_trips(fills, stamps, close, "T")
    assert trades.entry_price.tolist() == [10, 12, 12]
    assert trades.size.tolist() == [100, 50, 50]
    assert trades.exit_price.tolist() == [15, 15, 16]
    assert trades.open.tolist() == [False, False, True]
    assert trades.exit_time.tolist() == [stamps[3], stamps[3], stamps[4]]
    # The sell's 3.0 split 2.0 / 1.0 by shares; the open trade pays only its entry's half.
    assert trades.commission.tolist() == [2.0, 1.0 + 1.0, 1.0]
    assert trades.pnl.tolist() == [500 - 2.0, 150 - 2.0, 200 - 1.0]
    assert trades.duration.tolist() == [2 * 86_400 * 10**9, 86_400 * 10**9, 2 * 86_400 * 10**9]
    assert trades.symbol.tolist() == ["T"] * 3 and trades.strategy.tolist() == [""] * 3


def test_no_fills_no_trades_and_a_flat_curve():
    curve, trades = run(CLOSE, Fills.of([], [], []))
    assert len(trades) == 0
    assert curve.equity.tolist() == [CASH] * len(CLOSE)
    assert curve.exposure_pct == 0 and (curve.drawdown_pct == 0).all()


@pytest.mark.parametrize(
    ("fills", "message"),
    [
        (lambda: Fills.of([2, 1], [1, -1], [1.0, 1.0]), "fills must be in the order they happened"),
        (lambda: Fills.of([1, 2], [1], [1.0, 1.0]), "fills: every column must have one value"),
        (lambda: Fills.of([1, 2], [1, 0], [1.0, 1.0]), "every fill has a size"),
        (lambda: run(CLOSE, Fills.of([5], [1], [1.0])), "fills must be at bars 0..4"),
    ],
)
def test_inconsistent_fills_are_refused(fills, message):
    with pytest.raises(ValueError, match=message):
        fills()


def fifo_lot_by_lot(fills, close):
    """The round trips as a broker's book keeps them, fill by fill: each fill closes the oldest
    open lots first and opens what is left of it; a fill's commission shared by shares."""
    lots, rows = [], []  # a lot: [bar, signed shares, price, commission per share, strategy]
    for bar, size, price, fee, strategy in zip(
        fills.bar.tolist(),
        fills.size.tolist(),
        fills.price.tolist(),
        fills.commission.tolist(),
        fills.strategy.tolist(),
        strict=True,
    ):
        left = size
        while left and lots and (lots[0][1] > 0) != (left > 0):
            lot = lots[0]
            shares = min(abs(left), abs(lot[1]))
            cost = (lot[3] + fee / abs(size)) * shares
            rows.append((np.sign(lot[1]), shares, lot[0], lot[2], lot[4], bar, price, cost, False))
            lot[1] -= np.sign(lot[1]) * shares
            left -= np.sign(left) * shares
            if not lot[1]:
                lots.pop(0)
        if left:
            lots.append([bar, left, price, fee / abs(size), strategy])
    last = len(close) - 1
    for bar, size, price, fee, strategy in lots:
        rows.append(
            (
                np.sign(size),
                abs(size),
                bar,
                price,
                strategy,
                last,
                close[last],
                fee * abs(size),
                True,
            )
        )
    return rows


def rows_of(trades):
    columns = ("side", "size", "entry_bar", "entry_price", "strategy", "exit_bar", "exit_price")
    return [
        (*row, commission, is_open)
        for *row, commission, is_open in zip(
            *(getattr(trades, name).tolist() for name in columns),
            trades.commission.tolist(),
            trades.open.tolist(),
            strict=True,
        )
    ]


def with_strategies(fills):
    """The same fills, each made by one of three strategies in turn."""
    names = np.array(["a", "bb", "ccc"])[np.arange(len(fills)) % 3]
    return Fills.of(fills.bar, fills.size, fills.price, fills.commission, names)


@settings(max_examples=300)
@given(accounts())
def test_the_trades_are_those_of_a_book_kept_lot_by_lot(account):
    close, fills = account
    fills = with_strategies(fills)
    trades = round_trips(fills, daily_stamps(len(close)), np.asarray(close), "T")
    got, expected = rows_of(trades), fifo_lot_by_lot(fills, close)
    assert [row[:7] + row[8:] for row in got] == [row[:7] + row[8:] for row in expected]
    np.testing.assert_allclose([row[7] for row in got], [row[7] for row in expected], atol=1e-9)


@settings(max_examples=300)
@given(accounts(), st.data())
def test_fills_added_in_any_cuts_make_the_same_trades(account, data):
    """A playing session hands its book the fills a few at a time: the trades, to the last bit,
    are those of every fill at once."""
    close, fills = account
    fills = with_strategies(fills)
    stamps, close = daily_stamps(len(close)), np.asarray(close)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(fills)), max_size=4)))
    book = TradeBook("T", stamps)
    for lo, hi in zip([0, *cuts], [*cuts, len(fills)], strict=True):
        book.add(Fills.of(*(column[lo:hi] for column in vars(fills).values())))
    assert book.fills == len(fills)
    whole = round_trips(fills, stamps, close, "T")
    for name, column in vars(book.trades(close)).items():
        np.testing.assert_array_equal(column, getattr(whole, name), err_msg=name)


def test_fractional_shares_are_refused():
    with pytest.raises(ValueError, match="whole shares"):
        round_trips(Fills.of([1], [0.5], [10.0]), daily_stamps(3), np.ones(3), "T")
