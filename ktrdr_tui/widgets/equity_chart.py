"""The equity curve, with its drawdown below it, drawn to fit the widget.

However many bars the curve has, the chart has as many columns as the widget has room for:
each column stands for a run of consecutive bars and draws their lowest to their highest
value (`downsample`), so a one-bar spike or crash still shows on a five-year 1m curve. A few
numpy reductions over the bars (the extremes, each column's) are all a redraw costs per bar;
the drawing after them costs what the widget's size does, and happens once per curve and size.

The glyphs, the axes and the redraw cap are the candle chart's (`GridChart`, half a cell of
vertical resolution): the equity is a heavy line joined from column to column, with the
starting cash dotted across; the drawdown fills down from 0% to its depth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.market.exchange import EXCHANGE_TZ
from ktrdr_tui.widgets.candle_chart import (
    ChartGrid,
    GridChart,
    HalfRows,
    draw_price_axis,
    draw_time_axis,
    price_labels,
    put_span,
    value_range,
)

if TYPE_CHECKING:
    import numpy as np

    from engine.results import EquityCurve

ROLES = ("equity", "drawdown", "start", "axis")
MIN_WIDTH = 16
MIN_HEIGHT = 6  # a caption row, 2 equity rows, 2 drawdown rows, the time axis
DAY_NS = 86_400 * 10**9
DATES_AFTER_NS = 7 * DAY_NS  # a longer curve's time axis reads in dates only
START = "┈"


def column_starts(bars: int, columns: int) -> np.ndarray:
    """The first bar of each of `columns` columns that share `bars` bars out evenly and in
    order: runs of one bar or more when there are at least as many bars as columns, else
    each bar over one column or more."""
    import numpy as np

    return np.arange(columns, dtype=np.int64) * bars // columns


def downsample(values: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lowest, highest and last of `values` in each of `columns` columns (`column_starts`
    says which values each column holds)."""
    import numpy as np

    starts = column_starts(len(values), columns)
    if len(values) < columns:  # a value per column: it is the column's low, high and last
        shown = values[starts]
        return shown, shown, shown
    stops = np.append(starts[1:], len(values))
    return (
        np.minimum.reduceat(values, starts),
        np.maximum.reduceat(values, starts),
        values[stops - 1],
    )


def draw_equity(curve: EquityCurve, width: int, height: int) -> ChartGrid:
    """The grid for `curve` in a width-by-height area: a caption row, the equity (two thirds
    of the rows) with its price axis on the right, the drawdown below it, the time axis on the
    bottom row. The whole curve spans the plot's width."""
    import numpy as np

    grid = ChartGrid.blank(width, height)
    if len(curve) == 0 or width < MIN_WIDTH or height < MIN_HEIGHT:
        return grid
    plot_rows = height - 1
    drawdown_rows = max(2, plot_rows // 3)
    equity_rows = plot_rows - drawdown_rows - 1  # under the caption row
    low, high = value_range(float(curve.equity.min()), float(curve.equity.max()))
    deepest = float(curve.drawdown_pct.min())
    labels = price_labels(low, high, equity_rows)
    depth_labels = [(0, "0%")]
    if deepest < 0:
        depth_labels.append((drawdown_rows - 1, f"{deepest:.{1 if deepest <= -1 else 2}f}%"))
    axis_width = 2 + max(len(text) for _, text in labels + depth_labels)
    columns = plot_width = width - axis_width  # the whole curve spans the plot
    if plot_width < 1:
        return grid
    grid.low, grid.high = low, high

    equity = ChartGrid.blank(width, 1 + equity_rows)
    equity.write(0, 0, "Equity", "equity")
    equity.write(7, 0, "· drawdown below", "axis")
    scale = HalfRows(low, high, equity_rows)
    if low <= curve.starting_cash <= high:
        equity.write(0, scale.row_of(scale.half(curve.starting_cash)), START * plot_width, "start")
    lows, highs, lasts = downsample(curve.equity, columns)
    before = float(lasts[0])
    columns_drawn = zip(lows.tolist(), highs.tolist(), lasts.tolist(), strict=True)
    for x, (lo, hi, last) in enumerate(columns_drawn):
        span = (scale.half(min(lo, before)), scale.half(max(hi, before)))  # joined to the left
        put_span(equity, x, span, span, scale.row_of, "equity")
        before = last
    draw_price_axis(equity, labels, plot_width, 1 + equity_rows)

    drawdown = ChartGrid.blank(width, drawdown_rows)
    if deepest < 0:
        depth = HalfRows(deepest, 0.0, drawdown_rows, top=0)
        top = 2 * drawdown_rows - 1
        for x, lo in enumerate(downsample(curve.drawdown_pct, columns)[0].tolist()):
            if lo < 0:
                span = (depth.half(lo), top)
                put_span(drawdown, x, span, span, depth.row_of, "drawdown")
    draw_price_axis(drawdown, depth_labels, plot_width, drawdown_rows)

    axis = ChartGrid.blank(width, 1)
    starts = column_starts(len(curve), columns)
    stamps = curve.timestamp[starts]
    # A bar stretched over several columns is labelled at its first.
    axis.columns = {x: x for x in np.flatnonzero(np.diff(starts, prepend=-1)).tolist()}
    draw_time_axis(axis, stamps, _label_seconds(curve, columns), EXCHANGE_TZ, plot_width, 0)
    grid.chars = equity.chars + drawdown.chars + axis.chars
    grid.roles = equity.roles + drawdown.roles + axis.roles
    grid.columns = axis.columns
    return grid


def daily_bars(stamps: np.ndarray) -> bool:
    """Whether bars starting at `stamps` (int64 ns UTC) are daily bars: those start at midnight
    UTC, a day apart; no bar of a day's session does."""
    first = int(stamps[0]) if len(stamps) else 1
    return first % DAY_NS == 0 and (len(stamps) < 2 or int(stamps[1]) - first >= DAY_NS)


def _label_seconds(curve: EquityCurve, columns: int) -> int:
    """The time a column stands for, as the time axis takes it: 0 (dates only) for daily bars
    or a curve longer than DATES_AFTER_NS."""
    stamps = curve.timestamp
    span = int(stamps[-1]) - int(stamps[0])
    if span > DATES_AFTER_NS or daily_bars(stamps):
        return 0
    return max(1, span // 10**9 // columns)


def same_curve(a: EquityCurve, b: EquityCurve) -> bool:
    """Curves of as many bars, from and to the same bar, ending at the same equity: the same
    run's results read twice (a poll that found nothing new)."""
    if len(a) != len(b) or a.starting_cash != b.starting_cash:
        return False
    if not len(a):
        return True
    ends = (0, -1)
    return (
        all(a.timestamp[i] == b.timestamp[i] and a.equity[i] == b.equity[i] for i in ends)
        and a.drawdown_pct[-1] == b.drawdown_pct[-1]
    )


class EquityChart(GridChart["EquityCurve"]):
    """Draws an EquityCurve; `show` hands it a new one (redrawn at most MAX_REDRAWS_PER_S a
    second, and only when it is another curve than the one drawn)."""

    DEFAULT_CSS = """
    EquityChart {
        height: 1fr;
        min-height: 6;
    }
    EquityChart > .equity-chart--equity {
        color: $primary;
    }
    EquityChart > .equity-chart--drawdown {
        color: $error;
    }
    EquityChart > .equity-chart--start {
        color: $text-disabled;
    }
    EquityChart > .equity-chart--axis {
        color: $text-muted;
    }
    EquityChart > .equity-chart--message {
        color: $text-muted;
    }
    """

    COMPONENT_PREFIX = "equity-chart"
    CHART_ROLES = ROLES
    COMPONENT_CLASSES = {f"equity-chart--{role}" for role in ROLES} | {"equity-chart--message"}

    def draw(self, data: EquityCurve, width: int, height: int) -> ChartGrid:
        return draw_equity(data, width, height)

    def same(self, a: EquityCurve, b: EquityCurve) -> bool:
        return same_curve(a, b)
