"""The column-wise signal log and fills: the rows read back are the rows appended, however they
were batched; slices, indices and filters agree with plain lists; a reader on another thread
only ever sees whole rows; and a long session keeps no Python object per signal."""

from __future__ import annotations

import gc
import itertools
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ib.synthetic import SyntheticMarket
from engine.market.calendar import calendar_for
from engine.results import Costs
from engine.session.bars import NS, SessionBars
from engine.session.decisions import Account
from engine.session.logs import Fill, FillLog, Signal, SignalLog
from engine.session.pipeline import Pipeline
from engine.strategy.spec import StrategySpec
from engine.trading_rules import TradingRules
from tests.support.results import session_of

RUNS = (
    ("AAPL", "rsi:period=14,oversold=30,overbought=70", "1m"),
    ("AAPL", "sma_crossover:fast=3", "15m"),
)
REASONS = ("", "", "confidence 0.312 < 0.5", "position limit: 100 held, at most 100")

rows = st.lists(
    st.tuples(
        st.integers(0, 2**62),  # time_ns
        st.integers(0, len(RUNS) - 1),
        st.sampled_from((1, -1)),
        st.floats(0.01, 1e6, allow_nan=False),
        st.floats(0, 1, allow_nan=False),
        st.sampled_from(REASONS),
    ),
    max_size=300,
)


def as_signal(row: tuple) -> Signal:
    time_ns, strategy, action, price, confidence, reason = row
    _, label, timeframe = RUNS[strategy]
    return Signal(
        time_ns,
        "AAPL",
        timeframe,
        label,
        "BUY" if action > 0 else "SELL",
        price,
        confidence,
        not reason,
        reason,
    )


def append_rows(log: SignalLog, batch: list[tuple]) -> None:
    columns = list(zip(*batch, strict=True)) or [()] * 6
    log.append(*(np.array(column) for column in columns[:5]), list(columns[5]))


def log_of(batches: list[list[tuple]]) -> SignalLog:
    log = SignalLog(RUNS)
    for batch in batches:
        append_rows(log, batch)
    return log


def batches_of(items: list, cuts: list[int]) -> list[list]:
    bounds = [0, *sorted(min(cut, len(items)) for cut in cuts), len(items)]
    return [items[lo:hi] for lo, hi in itertools.pairwise(bounds)]


@settings(max_examples=60, deadline=None)
@given(rows=rows, cuts=st.lists(st.integers(0, 300), max_size=8))
def test_rows_read_back_as_appended_whatever_the_batches(rows, cuts):
    log = log_of(batches_of(rows, cuts))
    expected = [as_signal(row) for row in rows]
    assert len(log) == len(expected)
    assert list(log) == log[:] == expected
    if expected:
        assert log[-1] == expected[-1] and log[0] == expected[0]


@settings(max_examples=60, deadline=None)
@given(rows=rows, start=st.integers(-350, 350), stop=st.integers(-350, 350), step=st.integers(1, 4))
def test_slices_and_indices_behave_like_a_list(rows, start, stop, step):
    log, expected = log_of([rows]), [as_signal(row) for row in rows]
    assert log[start:stop:step] == expected[start:stop:step]
    assert log[start:] == expected[start:]
    chosen = np.arange(len(expected))[::-1][::step]
    assert log.rows(chosen) == [expected[i] for i in chosen]
    if -len(expected) <= start < len(expected):
        assert log[start] == expected[start]
    else:
        with pytest.raises(IndexError):
            log[start]


@settings(max_examples=60, deadline=None)
@given(
    rows=rows,
    start=st.integers(0, 320),
    stop=st.one_of(st.none(), st.integers(0, 320)),
    strategy=st.sampled_from(("", "RSI", "fast=3", "crossover:", "nothing")),
    action=st.sampled_from((None, "BUY", "SELL")),
    approved=st.sampled_from((None, True, False)),
)
def test_where_and_approved_agree_with_a_plain_filter(
    rows, start, stop, strategy, action, approved
):
    log, signals = log_of([rows]), [as_signal(row) for row in rows]
    span = range(len(signals))[start:stop]
    expected = [
        i
        for i in span
        if strategy.casefold() in signals[i].strategy.casefold()
        and action in (None, signals[i].action)
        and approved in (None, signals[i].approved)
    ]
    found = log.where(start, stop, strategy=strategy, action=action, approved=approved)
    assert found.tolist() == expected
    assert log.approved(start, stop) == sum(signals[i].approved for i in span)


def test_a_reader_on_another_thread_only_sees_whole_rows():
    rows = [
        (i, i % 2, 1 if i % 3 else -1, 100 + i / 8, (i % 10) / 10, REASONS[i % 4])
        for i in range(60_000)
    ]
    expected = [as_signal(row) for row in rows]
    log = SignalLog(RUNS)
    done = threading.Event()
    seen: list[int] = []

    def write() -> None:
        for batch in batches_of(rows, list(range(0, len(rows), 7))):  # many growths
            append_rows(log, batch)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        count = len(log)
        tail = log[max(0, count - 50) : count]
        assert tail == expected[max(0, count - 50) : count]
        seen.append(count)
    writer.join()
    assert list(log) == expected
    assert len(set(seen)) > 1  # the reader did read while rows were being added


def test_fills_logged_one_at_a_time_or_together_read_back_the_same():
    actions = [1, -1, 1, -1, 1]
    quotes = [181.37, 182.011, 179.5, 180.25, 0.1]
    bars = session_of(quotes, quotes, "")
    costs = Costs(per_share=0.01, min_commission=1.0, slippage_bp=2)
    rules = TradingRules(costs=costs)
    one_by_one, batched = (Account(rules, [bars], ["a", "b"]) for _ in range(2))
    for k, (action, quote) in enumerate(zip(actions, quotes, strict=True)):
        for account in (one_by_one, batched):
            account.fill(0, k, 100 * action, quote, k % 2)
        one_by_one.flush()
    batched.flush()
    assert batched.cash == one_by_one.cash
    assert batched.position == one_by_one.position == 100
    expected = []
    for k, (action, quote) in enumerate(zip(actions, quotes, strict=True)):
        price = costs.fill_price(quote, 100 * action)
        commission = costs.commission(100 * action, price)
        side = "BUY" if action > 0 else "SELL"
        expected.append(
            Fill(int(bars.timestamps[k]), side, 100, price, commission, "ab"[k % 2], bars.symbol)
        )
    assert list(batched.fills) == list(one_by_one.fills) == expected
    assert isinstance(batched.fills, FillLog)
    columns = batched.fills.view(2)
    assert columns.bar.tolist() == [2, 3, 4] and columns.size.tolist() == [100, -100, 100]
    assert columns.strategies == ("a", "b") and columns.strategy.tolist() == [0, 1, 0]


def month_of_bars() -> SessionBars:
    calendar = calendar_for()
    sessions = calendar.sessions_for_dates(pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-28"))
    generated = SyntheticMarket(calendar).bars("AAPL", 60, sessions[0].open, sessions[-1].close)
    prices = np.vstack(
        [generated.open, generated.high, generated.low, generated.close, generated.volume]
    )
    return SessionBars.from_arrays("AAPL", "1m", sessions, generated.start * NS, prices)


def test_a_long_session_keeps_no_python_object_per_signal():
    """What keeps the app smooth: the collector's full passes walk every tracked object, so the
    signals and fills of a long session must not be objects of their own."""
    bars = month_of_bars()
    specs = [StrategySpec.parse("sma_crossover:fast=2,slow=3"), StrategySpec.parse("rsi:period=2")]
    gc.collect()
    before = len(gc.get_objects())
    pipeline = Pipeline(bars, specs, None)
    pipeline.advance_to(pipeline.end)
    gc.collect()
    kept = len(gc.get_objects()) - before
    signals, fills = len(pipeline.signals), len(pipeline.account.fills)
    assert signals > 4_000 and fills > 1_000
    assert kept < (signals + fills) / 10
