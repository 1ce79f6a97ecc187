"""The equity chart: the downsampling that fits any curve to the columns there are, and where
the line, the drawdown and the labels land for known curves."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.results import EquityCurve, Fills, equity_curve
from ktrdr_tui.widgets.equity_chart import (
    START,
    column_starts,
    daily_bars,
    downsample,
    draw_equity,
    same_curve,
)
from tests.support.results import daily_stamps

WIDTH, HEIGHT = 60, 13  # a caption row, 7 equity rows, 4 drawdown rows, the time axis
EQUITY_ROWS = range(1, 8)
DRAWDOWN_ROWS = range(8, 12)
EQUITY_GLYPHS = set("┃╹╻")
MINUTE_NS = 60 * 10**9


def holding(close: list[float] | np.ndarray, stamps: np.ndarray | None = None) -> EquityCurve:
    """100 shares bought at the first close and held: the equity follows the closes."""
    close = np.asarray(close, dtype=float)
    stamps = daily_stamps(len(close)) if stamps is None else stamps
    fills = Fills.of([0], [100], [close[0]])
    return equity_curve(stamps, np.arange(len(close)), close, fills, 100_000)


def rows_with(grid, role: str, x: int) -> list[int]:
    """The rows of the plots (not the caption's, nor the time axis') where x has `role`."""
    return [y for y in range(1, grid.height - 1) if grid.roles[y][x] == role]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=300),
    columns=st.integers(1, 120),
)
def test_each_column_keeps_the_lowest_highest_and_last_of_its_bars(values, columns) -> None:
    values = np.array(values)
    n = len(values)
    starts = column_starts(n, columns)
    low, high, last = downsample(values, columns)
    assert len(starts) == len(low) == len(high) == len(last) == columns
    # The columns share the bars out in order, every bar in one at least.
    assert starts[0] == 0 and np.all(np.diff(starts) >= 0)
    assert set(starts.tolist()) <= set(range(n))
    if n >= columns:
        stops = np.append(starts[1:], n)
        assert np.all(stops > starts)  # no column without a bar
    else:
        assert set(starts.tolist()) == set(range(n))  # each bar over a column or more
        stops = starts + 1
    for x in range(columns):
        bars = values[starts[x] : stops[x]]
        assert low[x] == bars.min() and high[x] == bars.max() and last[x] == bars[-1]
    assert low.min() == values.min() and high.max() == values.max()  # spikes survive


def test_a_one_bar_spike_in_a_long_curve_still_reaches_the_top() -> None:
    close = np.full(5_000, 100.0)
    close[3_217] = 150.0  # one bar of 5,000, in a column of some 100
    grid = draw_equity(holding(close), WIDTH, HEIGHT)
    top = EQUITY_ROWS[0]
    spiked = [x for x in range(WIDTH) if grid.roles[top][x] == "equity"]
    assert len(spiked) == 1 and grid.chars[top][spiked[0]] in EQUITY_GLYPHS
    # The rest of the line is flat, on the bottom row (the starting cash's).
    flat = [x for x in range(spiked[0]) if rows_with(grid, "equity", x) != [EQUITY_ROWS[-1]]]
    assert flat == []


def test_a_short_curve_stretches_across_the_plot() -> None:
    grid = draw_equity(holding([100.0, 101.0, 102.0]), WIDTH, HEIGHT)
    drawn = [x for x in range(WIDTH) if rows_with(grid, "equity", x)]
    axis = grid.rows()[1].index("┤")
    assert drawn == list(range(axis))  # every column of the plot, up to the price axis
    # A label per bar, where the bar begins.
    assert grid.rows()[-1].count("╵2024-01-0") == 3


def test_the_drawdown_fills_down_from_zero_to_its_depth() -> None:
    close = [100.0, 110.0, 99.0, 104.5, 110.0, 120.0]  # 1,100 lost from the peak at 110
    curve = holding(close)
    deepest = float(curve.drawdown_pct.min())
    grid = draw_equity(curve, WIDTH, HEIGHT)
    rows = grid.rows()
    axis = rows[1].index("┤")
    assert rows[DRAWDOWN_ROWS[0]][axis:].split() == ["┤", "0%"]
    assert rows[DRAWDOWN_ROWS[-1]][axis:].split() == ["┤", f"{deepest:.1f}%"] == ["┤", "-1.1%"]
    bar_of = column_starts(len(close), axis).tolist()  # each column's bar
    depth = {x: rows_with(grid, "drawdown", x) for x in range(axis)}
    assert {bar_of[x] for x, ys in depth.items() if ys} == {2, 3}  # below the peak at bar 1
    deepest_columns = {bar_of[x] for x, ys in depth.items() if DRAWDOWN_ROWS[-1] in ys}
    assert deepest_columns == {2}  # the close at 99
    assert all(ys == list(DRAWDOWN_ROWS)[: len(ys)] for ys in depth.values())  # from 0% down


def test_the_starting_cash_is_dotted_across_and_the_caption_names_the_curves() -> None:
    curve = holding([100.0, 90.0, 120.0])
    grid = draw_equity(curve, WIDTH, HEIGHT)
    assert grid.rows()[0].startswith("Equity · drawdown below")
    dotted = [y for y in range(grid.height) if grid.roles[y].count("start") > 10]
    assert len(dotted) == 1 and START in grid.rows()[dotted[0]]
    labels = [row.split("┤")[1].strip() for row in grid.rows()[1:8] if "┤" in row]
    assert labels and all(label.replace(",", "").isdigit() for label in labels)


def test_an_intraday_curve_reads_in_exchange_time() -> None:
    start = pd.Timestamp("2024-03-05 14:30", tz="UTC").value  # 09:30 in New York
    stamps = start + MINUTE_NS * np.arange(120, dtype=np.int64)
    curve = holding(100 + np.sin(np.arange(120) / 9), stamps)
    assert not daily_bars(curve.timestamp)
    axis = draw_equity(curve, WIDTH, HEIGHT).rows()[-1]
    assert axis.startswith("╵Mar 05")


def test_daily_bars_are_told_from_intraday_ones() -> None:
    assert daily_bars(daily_stamps(3)) and daily_bars(daily_stamps(1))
    assert not daily_bars(daily_stamps(2) + 14 * 3600 * 10**9)
    assert not daily_bars(np.array([0, MINUTE_NS]))  # minute bars from midnight (not NYSE's)


def test_nothing_to_draw_gives_a_blank_grid() -> None:
    one = holding([100.0])
    arrays = {name: value for name, value in vars(one).items() if isinstance(value, np.ndarray)}
    empty = replace(one, **{name: value[:0] for name, value in arrays.items()})
    assert set("".join(draw_equity(empty, WIDTH, HEIGHT).rows())) == {" "}
    assert set("".join(draw_equity(holding([1.0, 2.0]), WIDTH, 5).rows())) == {" "}
    assert set("".join(draw_equity(holding([1.0, 2.0]), 10, HEIGHT).rows())) == {" "}


@settings(max_examples=60, deadline=None)
@given(
    close=st.lists(st.floats(1, 1e5), min_size=1, max_size=400),
    width=st.integers(1, 140),
    height=st.integers(1, 40),
)
def test_any_curve_in_any_size_draws_inside_the_grid(close, width, height) -> None:
    grid = draw_equity(holding(close), width, height)
    rows = grid.rows()
    assert len(rows) == height and all(len(row) == width for row in rows)
    if grid.columns:  # drawn: an unbroken line in every column of the plot
        axis = rows[1].index("┤") if "┤" in rows[1] else rows[1].index("│")
        for x in range(axis):
            ys = rows_with(grid, "equity", x)
            assert ys and ys == list(range(ys[0], ys[-1] + 1))


def test_the_same_run_read_twice_is_the_same_curve() -> None:
    a, b = holding([100.0, 101.0, 99.0]), holding([100.0, 101.0, 99.0])
    assert a is not b and same_curve(a, b)
    assert not same_curve(a, holding([100.0, 101.0, 98.0]))  # another end
    assert not same_curve(a, holding([100.0, 101.0, 99.0, 99.0]))  # a bar more
