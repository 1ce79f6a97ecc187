"""The indicator helpers of `engine.strategy.indicators` against pandas references, their
chunk invariance, and exact arithmetic on a tick grid: SMAs and the `sma_crossover` built-in
against integer / `Fraction` references on cent prices with flat stretches (where the averages
tie exactly and float sums used to see false crossings)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.strategy import Bars
from engine.strategy.builtins import SmaCrossover
from engine.strategy.indicators import (
    Atr,
    Ema,
    Rsi,
    crossed_above,
    crossed_below,
    crossings,
    rolling_max,
    rolling_min,
    sma,
    sma_order,
)
from tests.support.strategy_calls import signal_at

AGREE = 1e-9  # relative to the prices: two summation orders differ in the last bits only


# -- data -----------------------------------------------------------------------------------


@st.composite
def cent_prices(draw, min_size: int = 2, max_size: int = 300) -> np.ndarray:
    """Cents as floats (the store's prices): a walk of moves, each held for a run of bars, so
    flat stretches (where a short and a long average tie exactly) are common."""
    runs = draw(
        st.lists(
            st.tuples(st.integers(-3, 3), st.integers(1, 25)), min_size=1, max_size=max_size // 4
        )
    )
    start = draw(st.integers(100, 50_000_000))  # $1 .. $500,000
    cents = [start]
    for move, length in runs:
        cents += [max(1, cents[-1] + move)] * length
    cents = cents[: max(min_size, min(len(cents), max_size))]
    assume(len(cents) >= min_size)
    return np.array(cents, dtype=np.int64)


def unrounded(seed: int, n: int) -> np.ndarray:
    return 100 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.001, n)))


def bars_of(close: np.ndarray, high: np.ndarray | None = None, low=None) -> Bars:
    n = len(close)
    high = close if high is None else high
    low = close if low is None else low
    return Bars("1m", np.arange(n, dtype=np.int64), close, high, low, close, np.ones(n))


# -- window indicators against pandas ----------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 1000),
    n=st.integers(1, 400),
    window=st.integers(1, 60),
    cents=st.booleans(),
)
def test_sma_and_rolling_extremes_equal_pandas(seed, n, window, cents) -> None:
    values = unrounded(seed, n)
    if cents:
        values = np.round(values, 2)
    rolling = pd.Series(values).rolling(window)
    np.testing.assert_allclose(sma(values, window), rolling.mean(), rtol=AGREE, equal_nan=True)
    assert np.array_equal(rolling_max(values, window), rolling.max(), equal_nan=True)
    assert np.array_equal(rolling_min(values, window), rolling.min(), equal_nan=True)
    # `last` computes the tail only, the same bits.
    last = min(n, 3)
    assert np.array_equal(
        sma(values, window, last=last), sma(values, window)[-last:], equal_nan=True
    )
    for each in (rolling_max, rolling_min):
        assert np.array_equal(
            each(values, window, last=last), each(values, window)[-last:], equal_nan=True
        )


def test_a_window_is_at_least_one_bar() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        sma(np.ones(5), 0)


# -- recursive indicators against pandas -------------------------------------------------------


def wilder_reference(values: pd.Series, period: int, first: int) -> pd.Series:
    """Wilder's average of `values` (defined from position `first`): the plain mean of the first
    `period`, then ewm with alpha 1/period from that seed."""
    seed = values.iloc[first : first + period].mean()
    at = first + period - 1
    tail = pd.concat([pd.Series([seed], index=[values.index[at]]), values.iloc[at + 1 :]])
    return tail.ewm(alpha=1.0 / period, adjust=False).mean().reindex(values.index)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(2, 500), period=st.integers(1, 40))
def test_ema_rsi_and_atr_equal_the_pandas_references(seed, n, period) -> None:
    close = pd.Series(np.round(unrounded(seed, n), 2))
    rng = np.random.default_rng(seed)
    high = close + np.round(rng.random(n), 2)
    low = close - np.round(rng.random(n), 2)

    alpha = 2 / (period + 1)
    if n >= period:
        seeded = pd.concat([pd.Series([close.iloc[:period].mean()]), close.iloc[period:]])
        ema = seeded.ewm(alpha=alpha, adjust=False).mean().to_numpy()
        expected = np.concatenate([np.full(period - 1, np.nan), ema])
    else:
        expected = np.full(n, np.nan)
    np.testing.assert_allclose(Ema(period)(close.to_numpy()), expected, rtol=AGREE, equal_nan=True)

    change = close.diff()
    if n > period:
        gain = wilder_reference(change.clip(lower=0.0), period, 1)
        loss = wilder_reference((-change).clip(lower=0.0), period, 1)
        total = gain + loss
        rsi = (100 * gain / total).where(total > 0, 50.0).where(gain.notna())
        before = close.shift()
        true_range = pd.concat([high - low, (high - before).abs(), (low - before).abs()], axis=1)
        atr = wilder_reference(true_range.max(axis=1, skipna=False), period, 1)
    else:
        rsi = atr = pd.Series(np.full(n, np.nan))
    got = Rsi(period)(close.to_numpy())
    np.testing.assert_allclose(got, rsi, rtol=0, atol=1e-9, equal_nan=True)
    assert np.isnan(got[: min(period, n)]).all() and not np.isnan(got[period:]).any()
    got = Atr(period)(high.to_numpy(), low.to_numpy(), close.to_numpy())
    np.testing.assert_allclose(got, atr, rtol=AGREE, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 1000),
    period=st.integers(1, 30),
    cuts=st.lists(st.integers(1, 3000), max_size=40),
)
def test_recursive_indicators_give_the_same_bits_whatever_the_calls(seed, period, cuts) -> None:
    """Called with the series growing by any steps (one bar, a few, thousands), an indicator
    gives the bits of one call with the whole series: its values depend on the bars only."""
    close = np.round(unrounded(seed, 3000), 2)
    high, low = close + 0.03, close - 0.05
    whole = {
        "ema": Ema(period)(close),
        "rsi": Rsi(period)(close),
        "atr": Atr(period)(high, low, close),
    }
    growing = {"ema": Ema(period), "rsi": Rsi(period), "atr": Atr(period)}
    for stop in [*sorted(set(cuts)), len(close)]:
        got = {
            "ema": growing["ema"](close[:stop]),
            "rsi": growing["rsi"](close[:stop]),
            "atr": growing["atr"](high[:stop], low[:stop], close[:stop]),
        }
        for name, values in got.items():
            assert np.array_equal(values, whole[name][:stop], equal_nan=True), (name, stop)
    with pytest.raises(ValueError):
        got["rsi"][0] = 1.0  # read-only


def test_a_series_that_does_not_continue_the_last_one_starts_over() -> None:
    first, other = np.round(unrounded(1, 200), 2), np.round(unrounded(2, 200), 2)
    rsi = Rsi(14)
    rsi(first)
    assert np.array_equal(rsi(other[:150]), Rsi(14)(other[:150]), equal_nan=True)
    assert np.array_equal(rsi(other[:100]), Rsi(14)(other[:100]), equal_nan=True)  # shorter


# -- crossings --------------------------------------------------------------------------------


def test_a_crossing_is_strict_and_a_touch_is_none() -> None:
    a = np.array([1.0, 2.0, 3.0, 2.0, 2.0, 1.0, 3.0])
    b = np.full(7, 2.0)
    # 1 -> 2 touches, 2 -> 3 leaves from equal: no cross; 2 -> 1 ... 1 -> 3 crosses.
    assert crossings(a, b).tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert crossings(a, 2.5).tolist() == [0, 0, 1, -1, 0, 0, 1]
    assert crossed_above(a, 2.0) and not crossed_below(a, 2.0)
    assert crossed_below(a[:4], 2.5) and not crossed_above(a[:4], 2.5)
    assert not crossed_above(a[:1], 0.0)
    assert crossings(np.array([np.nan, 1.0, 3.0]), 2.0).tolist() == [0, 0, 1]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(2, 60))
def test_the_last_crossing_agrees_with_every_crossing(seed, n) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)
    every = crossings(a, b)
    assert crossed_above(a, b) == (every[-1] == 1)
    assert crossed_below(a, b) == (every[-1] == -1)


# -- exact arithmetic on a tick grid -----------------------------------------------------------


def exact_order(cents: list[int], fast: int, slow: int) -> list[int]:
    """sign(SMA(fast) - SMA(slow)) at every position, in Fractions (0 before slow is full)."""
    out = []
    for t in range(len(cents)):
        if t < slow - 1:
            out.append(0)
            continue
        f = Fraction(sum(cents[t - fast + 1 : t + 1]), fast)
        s = Fraction(sum(cents[t - slow + 1 : t + 1]), slow)
        out.append((f > s) - (f < s))
    return out


def exact_crossings(cents: list[int], fast: int, slow: int) -> list[tuple[int, str]]:
    """DESIGN: BUY at t when fast[t-1] < slow[t-1] and fast[t] > slow[t]; SELL mirrored."""
    side = exact_order(cents, fast, slow)
    found = []
    for t in range(1, len(side)):
        if side[t - 1] < 0 < side[t]:
            found.append((t, "BUY"))
        elif side[t - 1] > 0 > side[t]:
            found.append((t, "SELL"))
    return found


def strategy_signals(close: np.ndarray, fast: int, slow: int) -> tuple[list, list]:
    """The built-in's signals (position, action) from on_chunk over all bars, and on_bar."""
    chunked = SmaCrossover(fast=fast, slow=slow)._chunk(bars_of(close), 0)
    batch = [
        (int(i), "BUY" if a > 0 else "SELL")
        for i, a in zip(chunked.index, chunked.action, strict=True)
    ]
    strategy, per_bar = SmaCrossover(fast=fast, slow=slow), []
    view = bars_of(close)
    for t in range(len(close)):
        view._length = t + 1
        signal = signal_at(strategy, view)
        if signal is not None:
            per_bar.append((t, "BUY" if signal.action > 0 else "SELL"))
    return batch, per_bar


@settings(max_examples=150, deadline=None)
@given(cents=cent_prices(min_size=3), fast=st.integers(1, 8), extra=st.integers(1, 25))
def test_sma_crossover_signals_equal_exact_arithmetic_on_cents(cents, fast, extra) -> None:
    slow = fast + extra
    close = cents / 100  # how prices are stored: floats near the cents
    expected = exact_crossings(cents.tolist(), fast, slow)
    batch, per_bar = strategy_signals(close, fast, slow)
    assert batch == expected
    assert per_bar == expected
    # The averages: a tie in exact arithmetic is a tie in floats, and the order is exact.
    side, fast_mean, slow_mean = sma_order(close, fast, slow)
    assert side.tolist() == exact_order(cents.tolist(), fast, slow)
    full = slice(slow - 1, None)
    assert ((fast_mean[full] == slow_mean[full]) == (side[full] == 0)).all()
    assert np.array_equal(fast_mean[full], sma(close, fast)[full])  # the same averages
    assert np.array_equal(slow_mean, sma(close, slow), equal_nan=True)


def test_a_flat_stretch_is_no_crossing_though_float_sums_see_one() -> None:
    """Found by search: summed as floats, the 2-bar mean ends above the 7-bar one at the last
    bar after being below it, a BUY; in cents the two are equal at the bar before (a tie,
    not below), so there is no crossing."""
    close = np.array([127.0] * 4 + [126.98] * 2 + [126.96] * 2 + [126.97] * 3 + [126.98])
    float_fast = pd.Series(close).rolling(2).mean().to_numpy()[-2:]
    float_slow = np.array([sum(close[-8:-1].tolist()) / 7, sum(close[-7:].tolist()) / 7])
    assert float_fast[0] < float_slow[0] and float_fast[1] > float_slow[1]  # floats cross
    assert exact_crossings([round(c * 100) for c in close], 2, 7) == []
    assert strategy_signals(close, 2, 7) == ([], [])


@settings(max_examples=60, deadline=None)
@given(cents=cent_prices(min_size=30), window=st.integers(1, 30), off=st.integers(0, 29))
def test_an_off_grid_price_makes_only_its_own_windows_float(cents, window, off) -> None:
    """Windows holding a price off the grid fall back to float sums; every other window stays
    exact, so where a chunk starts never changes which arithmetic a window gets."""
    close = cents / 100
    close[off] += 1e-7  # off the 10^-4 grid
    got = sma(close, window)
    exact = sma(cents / 100, window)
    for t in range(window - 1, len(close)):
        if not t - window < off <= t:  # windows without the changed price: untouched
            assert got[t] == exact[t]
    for start in range(0, len(close), 7):  # any starting point gives the same windows
        tail = sma(close[start:], window)
        assert np.array_equal(tail[window - 1 :], got[start + window - 1 :])
