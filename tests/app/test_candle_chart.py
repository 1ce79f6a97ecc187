"""The candle chart: where bodies, wicks, markers and labels land for known bars, and the
widget's redraw cap."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from ktrdr_tui.widgets.candle_chart import (
    GAP,
    MAX_REDRAWS_PER_S,
    CandleChart,
    ChartData,
    FillMark,
    Marker,
    draw_chart,
    price_decimals,
)

OPEN_NS = pd.Timestamp("2024-03-05 14:30", tz="UTC").value  # 09:30 in New York
MINUTE_NS = 60 * 10**9
WIDTH, HEIGHT = 30, 12  # 11 plot rows: 9 of prices, a marker row above and below

# Two bars spanning 100..118: with 9 price rows each half row is 1.00.
# Up: wick 101..115, body 104..110. Down: wick 100..118, body 106..112.
UP = (104.0, 115.0, 101.0, 110.0)
DOWN = (112.0, 118.0, 100.0, 106.0)


def chart(bars, markers=(), start_ns=OPEN_NS, bar_seconds=60, gaps=()) -> ChartData:
    o, h, lo, c = (np.array(column, dtype=float) for column in zip(*bars, strict=True))
    stamps = start_ns + np.arange(len(bars), dtype=np.int64) * bar_seconds * 10**9
    return ChartData(
        stamps, o, h, lo, c, bar_seconds=bar_seconds, markers=tuple(markers), gaps=tuple(gaps)
    )


def test_an_up_candle_has_its_body_and_wicks_on_the_expected_rows() -> None:
    grid = draw_chart(chart([UP, DOWN]), WIDTH, HEIGHT)
    x = grid.columns[0]
    # Rows top to bottom: marker row, 9 price rows (117..100), marker row, time axis.
    # Halves of the up bar: wick 1..15, body 4..10. Row r holds halves 17-2r (top), 16-2r.
    assert grid.column(x)[:11] == "  ││╽┃┃┃│╵ "
    assert {grid.roles[y][x] for y in range(2, 10)} == {"up"}


def test_a_down_candle_spans_the_whole_range() -> None:
    grid = draw_chart(chart([UP, DOWN]), WIDTH, HEIGHT)
    x = grid.columns[1]
    # Halves: wick 0..17, body 6..12: row 3 holds wick (13) over body (12), row 6 ends it.
    assert grid.column(x)[:11] == " ││╽┃┃┃│││ "
    assert {grid.roles[y][x] for y in range(1, 10)} == {"down"}


def test_the_newest_bar_is_at_the_right_edge_of_the_plot_and_the_axis_beside_it() -> None:
    grid = draw_chart(chart([UP, DOWN]), WIDTH, HEIGHT)
    assert grid.columns[1] == grid.columns[0] + 1
    axis = grid.columns[1] + 1
    assert set(grid.column(axis)[:11]) <= {"│", "┤"}
    labels = [row[axis + 2 :].strip() for row in grid.rows()[:11] if row[axis] == "┤"]
    assert labels == ["117.0", "109.0", "101.0"]  # the middle of rows 1, 5 and 9


def test_markers_sit_under_buys_and_over_sells_at_their_bars() -> None:
    markers = [
        Marker(OPEN_NS, "BUY", True),
        Marker(OPEN_NS + MINUTE_NS, "SELL", False),
    ]
    grid = draw_chart(chart([UP, DOWN], markers), WIDTH, HEIGHT)
    up, down = grid.columns[0], grid.columns[1]
    assert grid.chars[10][up] == "▲"  # under the up bar's low (row 9)
    assert grid.roles[10][up] == "buy"
    assert grid.chars[0][down] == "▼"  # over the down bar's high (row 1)
    assert grid.roles[0][down] == "rejected"
    assert sum(row.count("▲") + row.count("▼") for row in grid.rows()) == 2


def test_an_approved_marker_wins_over_a_rejected_one_on_the_same_bar() -> None:
    markers = [Marker(OPEN_NS, "BUY", False), Marker(OPEN_NS, "BUY", True)]
    grid = draw_chart(chart([UP, DOWN], markers), WIDTH, HEIGHT)
    assert grid.roles[10][grid.columns[0]] == "buy"


def test_markers_map_to_the_bar_that_holds_them_and_off_chart_ones_are_dropped() -> None:
    # 5-minute bars; a signal from 1-minute bars at 09:37 belongs to the 09:35 bar.
    data = chart([UP, DOWN, UP], bar_seconds=300)
    marked = ChartData(
        data.timestamps,
        data.open,
        data.high,
        data.low,
        data.close,
        bar_seconds=300,
        markers=(
            Marker(OPEN_NS + 7 * MINUTE_NS, "SELL", True),
            Marker(OPEN_NS - MINUTE_NS, "BUY", True),  # before the first bar
            Marker(OPEN_NS + 60 * MINUTE_NS, "BUY", True),  # after the last bar's end
        ),
    )
    grid = draw_chart(marked, WIDTH, HEIGHT)
    columns = [x for x in range(WIDTH) if "▼" in grid.column(x) or "▲" in grid.column(x)]
    assert columns == [grid.columns[1]]


def test_fills_are_letters_on_their_bars_at_their_prices() -> None:
    # Bought at the up bar's open (104: half 4, row 7, the foot of its body), sold at the down
    # bar's (112: half 12, row 3, the top of its body).
    fills = (FillMark(OPEN_NS, 1, 104.0), FillMark(OPEN_NS + MINUTE_NS, -1, 112.0))
    data = chart([UP, DOWN])
    filled = ChartData(data.timestamps, data.open, data.high, data.low, data.close, fills=fills)
    grid = draw_chart(filled, WIDTH, HEIGHT)
    up, down = grid.columns[0], grid.columns[1]
    assert grid.column(up)[:11] == "  ││╽┃┃B│╵ "  # the candle otherwise as without the fill
    assert grid.roles[7][up] == "bought"
    assert grid.column(down)[:11] == " ││S┃┃┃│││ "
    assert grid.roles[3][down] == "sold"
    assert sum(row.count("B") + row.count("S") for row in grid.rows()) == 2


def test_fills_map_to_the_bar_that_holds_them_and_off_chart_ones_are_dropped() -> None:
    # 5-minute bars: a fill at the open of the 09:36 1-minute bar is on the 09:35 bar.
    data = chart([UP, DOWN, UP], bar_seconds=300)
    filled = ChartData(
        data.timestamps,
        data.open,
        data.high,
        data.low,
        data.close,
        bar_seconds=300,
        fills=(
            FillMark(OPEN_NS + 6 * MINUTE_NS, -1, 110.0),
            FillMark(OPEN_NS - MINUTE_NS, 1, 110.0),  # before the first bar
            FillMark(OPEN_NS + 60 * MINUTE_NS, 1, 110.0),  # after the last bar's end
        ),
    )
    grid = draw_chart(filled, WIDTH, HEIGHT)
    columns = [x for x in range(WIDTH) if "S" in grid.column(x) or "B" in grid.column(x)]
    assert columns == [grid.columns[1]]


def test_only_the_last_bars_that_fit_are_drawn() -> None:
    bars = [UP, DOWN] * 40
    grid = draw_chart(chart(bars), WIDTH, HEIGHT)
    shown = sorted(grid.columns)
    assert shown[-1] == len(bars) - 1
    assert len(shown) == grid.columns[len(bars) - 1] + 1  # from column 0 to the axis
    assert grid.columns[shown[0]] == 0


def test_the_time_axis_names_the_session_and_round_times() -> None:
    bars = [UP, DOWN] * 30  # 60 one-minute bars from 09:30
    grid = draw_chart(chart(bars), 90, HEIGHT)
    axis = grid.rows()[-1]
    first = grid.columns[0]
    assert axis[first : first + 7] == "╵Mar 05"
    # Round quarter hours after the first label (in New York time).
    assert "╵09:45" in axis and "╵10:00" in axis and "╵10:15" in axis
    assert axis.index("╵09:45") - first == 15


def test_daily_bars_are_labelled_with_their_dates() -> None:
    start = pd.Timestamp("2024-03-04", tz="UTC").value
    grid = draw_chart(chart([UP, DOWN] * 20, start_ns=start, bar_seconds=0), 60, HEIGHT)
    assert "╵2024-03-04" in grid.rows()[-1]


def test_missing_sessions_between_bars_take_one_dotted_column() -> None:
    # Two missing sessions between the third and fourth bar share a column; one before the
    # first bar shown is not drawn (its place is off the chart).
    gaps = [OPEN_NS - MINUTE_NS, OPEN_NS + 2 * MINUTE_NS + 1, OPEN_NS + 3 * MINUTE_NS]
    grid = draw_chart(chart([UP, DOWN] * 3, gaps=gaps), WIDTH, HEIGHT)
    columns = [grid.columns[bar] for bar in range(6)]
    (gap,) = grid.gap_columns
    assert columns[:3] == [columns[2] - 2, columns[2] - 1, columns[2]]
    assert gap == columns[2] + 1 and columns[3:] == [gap + 1, gap + 2, gap + 3]
    assert grid.column(gap)[: HEIGHT - 1] == GAP * (HEIGHT - 1)  # the whole plot's height
    assert {grid.roles[y][gap] for y in range(HEIGHT - 1)} == {"gap"}
    assert "╵Mar 05" in grid.rows()[-1]  # the time axis runs on under the bars


def test_missing_sessions_after_the_newest_bar_are_drawn_at_the_right_edge() -> None:
    grid = draw_chart(chart([UP, DOWN], gaps=[OPEN_NS + 5 * MINUTE_NS]), WIDTH, HEIGHT)
    (gap,) = grid.gap_columns
    assert grid.columns[1] == gap - 1
    assert set(grid.column(gap + 1)[: HEIGHT - 1]) <= {"│", "┤"}  # then the price axis


def test_a_missing_day_sits_between_the_daily_bars_around_it() -> None:
    # Daily bars start at midnight UTC; a missing session is placed by its open.
    monday, wednesday = (pd.Timestamp(day, tz="UTC").value for day in ("2024-03-04", "2024-03-06"))
    tuesday_open = pd.Timestamp("2024-03-05 14:30", tz="UTC").value
    data = chart([UP, DOWN], bar_seconds=0, gaps=[monday - 1, tuesday_open])
    daily = ChartData(
        np.array([monday, wednesday]), data.open, data.high, data.low, data.close, 0, gaps=data.gaps
    )
    grid = draw_chart(daily, 60, HEIGHT)
    assert grid.gap_columns == [grid.columns[0] + 1] == [grid.columns[1] - 1]


def test_a_flat_series_draws_a_line_in_the_middle() -> None:
    flat = (100.0, 100.0, 100.0, 100.0)
    grid = draw_chart(chart([flat] * 5), WIDTH, HEIGHT)
    heavy = [(y, x) for y, row in enumerate(grid.rows()) for x, c in enumerate(row) if c in "╹╻┃"]
    assert len(heavy) == 5
    assert len({y for y, _ in heavy}) == 1


def test_nothing_to_draw_gives_a_blank_grid() -> None:
    empty = ChartData(*(np.empty(0) for _ in range(5)))
    assert set("".join(draw_chart(empty, WIDTH, HEIGHT).rows())) == {" "}
    assert set("".join(draw_chart(chart([UP]), WIDTH, 3).rows())) == {" "}


def test_price_decimals_follow_the_label_step() -> None:
    assert price_decimals(0.05) == 3
    assert price_decimals(0.3) == 2
    assert price_decimals(8) == 1
    assert price_decimals(250) == 0


bar = st.tuples(
    st.floats(1, 1e6, allow_nan=False),
    st.floats(0, 0.2),
    st.floats(0, 0.2),
    st.floats(-0.1, 0.1),
).map(
    lambda t: (
        t[0],
        t[0] * (1 + t[1] + max(t[3], 0)),
        t[0] * (1 - t[2] + min(t[3], 0)),
        t[0] * (1 + t[3]),
    )
)


@settings(max_examples=60, deadline=None)
@given(
    bars=st.lists(bar, min_size=1, max_size=150),
    width=st.integers(1, 140),
    height=st.integers(1, 40),
    marked=st.lists(st.integers(0, 149), max_size=10),
    gapped=st.lists(st.integers(-1, 150), max_size=10),
)
def test_any_bars_in_any_size_draw_inside_the_grid(bars, width, height, marked, gapped) -> None:
    markers = [
        Marker(OPEN_NS + i * MINUTE_NS, "BUY" if i % 2 else "SELL", bool(i % 3)) for i in marked
    ]
    gaps = sorted({OPEN_NS + i * MINUTE_NS + 1 for i in gapped})  # just after bar i starts
    grid = draw_chart(chart(bars, markers, gaps=gaps), width, height)
    rows = grid.rows()
    assert len(rows) == height and all(len(row) == width for row in rows)
    if grid.columns:
        # The newest bar is shown; bars left to right in order; a gap column exactly where a
        # missing session falls between two bars shown, or after the newest one.
        shown = sorted(grid.columns)
        assert shown[-1] == len(bars) - 1
        assert shown == list(range(shown[0], len(bars)))
        between = {
            grid.columns[bar] - 1 for bar in shown[1:] if any(bar - 1 <= i < bar for i in gapped)
        }
        assert between <= set(grid.gap_columns)
        assert set(grid.gap_columns).isdisjoint(grid.columns.values())
        for bar in shown[1:]:
            step = grid.columns[bar] - grid.columns[bar - 1]
            assert step == (2 if grid.columns[bar] - 1 in between else 1)
        for x in grid.gap_columns:
            assert set(grid.column(x)[: height - 1]) == {GAP}
    for bar_index, x in grid.columns.items():
        column = grid.column(x)[: height - 1]
        drawn = [c for c in column if c not in " ▲▼"]
        assert drawn, f"bar {bar_index} drew nothing"
        # One unbroken candle per column.
        top = next(y for y, c in enumerate(column) if c not in " ▲▼")
        assert all(c not in " ▲▼" for c in column[top : top + len(drawn)])


class ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CandleChart("nothing yet")


async def test_the_widget_redraws_at_most_ten_times_a_second_and_ends_on_the_latest() -> None:
    app = ChartApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        widget = app.query_one(CandleChart)
        assert widget.updates == 0
        started = time.monotonic()
        latest = None
        for step in range(40):
            latest = chart([UP, DOWN] * (1 + step % 5))
            latest = ChartData(
                latest.timestamps,
                latest.open,
                latest.high,
                latest.low,
                latest.close,
                key=step,
            )
            widget.show(latest)
        elapsed = time.monotonic() - started
        assert widget.updates <= 1 + elapsed * MAX_REDRAWS_PER_S
        deadline = time.monotonic() + 5
        while widget.data is not latest:
            assert time.monotonic() < deadline, "the latest data was never drawn"
            await pilot.pause(0.05)
        assert widget.updates <= 2 + (time.monotonic() - started) * MAX_REDRAWS_PER_S


async def test_the_same_key_is_not_drawn_again() -> None:
    app = ChartApp()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        widget = app.query_one(CandleChart)
        data = chart([UP, DOWN])
        first = ChartData(data.timestamps, data.open, data.high, data.low, data.close, key="a")
        again = ChartData(data.timestamps, data.open, data.high, data.low, data.close, key="a")
        widget.show(first)
        await pilot.pause(0.2)
        widget.show(again)
        await pilot.pause(0.2)
        assert widget.updates == 1
        assert widget.data is first
        assert "┃" in "".join(widget.grid().rows())
        widget.show(None)
        await pilot.pause(0.2)
        assert widget.grid() is None
