"""A candle chart drawn with box-drawing characters, half a cell of vertical resolution.

`draw_chart` is pure: plain arrays and markers in, a grid of characters and roles out, so tests
check it without a session or a terminal. `CandleChart` draws that grid in the theme's colours
and redraws at most MAX_REDRAWS_PER_S times a second, and only when its data changed. The grid,
its glyphs (`put_span`), axes and that widget part (`GridChart`) serve the equity chart too.

A candle takes one column: the body a heavy line (┃), the wicks light ones (│), and where a
row holds half of each the mixed glyphs (╽ ╿ ╻ ╹ ╷ ╵). BUY markers sit under the candle (▲),
SELL markers above it (▼); approved ones in the action's colour, rejected ones dim. A fill
is a letter on the candle of the bar whose open filled it, at its price: B bought, S sold,
each on a block of its side's colour. A trading session with no stored bars takes a column of
its own, dotted (┊), where it falls between the bars (or after the newest one): consecutive
missing sessions share one column.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.market.exchange import EXCHANGE_TZ

if TYPE_CHECKING:
    from collections.abc import Callable, Sized

    import numpy as np

MAX_REDRAWS_PER_S = 10
LABEL_EVERY_ROWS = 4  # a price label on every 4th row of the plot
LABEL_MIN_COLUMNS = 12  # time labels at least this far apart (where the bars allow)

# (top half, bottom half) of a cell → glyph; each half is empty, wick or body.
_EMPTY, _WICK, _BODY = 0, 1, 2
_GLYPHS = {
    (_BODY, _BODY): "┃",
    (_WICK, _WICK): "│",
    (_BODY, _WICK): "╿",
    (_WICK, _BODY): "╽",
    (_BODY, _EMPTY): "╹",
    (_EMPTY, _BODY): "╻",
    (_WICK, _EMPTY): "╵",
    (_EMPTY, _WICK): "╷",
    (_EMPTY, _EMPTY): " ",
}
D = TypeVar("D", bound="Sized")  # what a GridChart draws: nothing while empty
# Sensible label spacings for intraday bars, in seconds: the first that leaves room is used.
_TIME_STEPS = (300, 900, 1800, 3600, 7200, 14400)

ROLES = ("up", "down", "axis", "buy", "sell", "rejected", "gap", "bought", "sold")
GAP = "┊"


@dataclass(frozen=True)
class Marker:
    """A signal on the chart: the start of the bar it is on, BUY or SELL, and its decision."""

    time_ns: int
    action: str
    approved: bool


@dataclass(frozen=True)
class FillMark:
    """A fill on the chart: the start of the bar whose open filled it, its side (1 bought,
    -1 sold) and its price."""

    time_ns: int
    side: int
    price: float


@dataclass(frozen=True, eq=False)
class ChartData:
    """What the chart draws: bars (int64 ns UTC starts; daily bars at midnight UTC) and the
    signals on them. `key` names the content: data with an equal key is not drawn again."""

    timestamps: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    bar_seconds: int = 60  # 0 for daily bars
    markers: tuple[Marker, ...] = ()
    fills: tuple[FillMark, ...] = ()
    timezone: str = EXCHANGE_TZ  # the exchange's: the time axis reads in it
    # The opens (int64 ns UTC, in order) of sessions with no bars: drawn as gaps where they
    # fall after the first bar.
    gaps: tuple[int, ...] = ()
    key: object = None

    def __len__(self) -> int:
        return len(self.timestamps)


@dataclass
class ChartGrid:
    """The chart as cells: `chars[y][x]` and its role (one of ROLES, or "" for none)."""

    width: int
    height: int
    chars: list[list[str]]
    roles: list[list[str]]
    columns: dict[int, int] = field(default_factory=dict)  # bar index → its column
    gap_columns: list[int] = field(default_factory=list)  # the columns of the gap marks
    low: float = 0.0  # the price range of the plot
    high: float = 0.0

    @classmethod
    def blank(cls, width: int, height: int) -> ChartGrid:
        return cls(
            width,
            height,
            [[" "] * width for _ in range(height)],
            [[""] * width for _ in range(height)],
        )

    def put(self, x: int, y: int, char: str, role: str) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.chars[y][x] = char
            self.roles[y][x] = role

    def write(self, x: int, y: int, text: str, role: str) -> None:
        for offset, char in enumerate(text):
            self.put(x + offset, y, char, role)

    def rows(self) -> list[str]:
        return ["".join(row) for row in self.chars]

    def column(self, x: int) -> str:
        """Column x top to bottom, as text (tests read candles this way)."""
        return "".join(row[x] for row in self.chars)


def price_decimals(step: float) -> int:
    """Decimals that tell two labels `step` apart: 2 for cents-wide steps, fewer for wide."""
    if step <= 0 or not math.isfinite(step):
        return 2
    return max(0, min(4, math.ceil(-math.log10(step)) + 1))


def draw_chart(data: ChartData, width: int, height: int) -> ChartGrid:
    """The grid for `data` in a width-by-height area: candles right-aligned (the newest at the
    right edge of the plot), the price axis on the right, the time axis on the bottom row."""
    grid = ChartGrid.blank(width, height)
    plot_height = height - 1  # the bottom row holds the time axis
    rows = plot_height - 2  # a row above and below the prices for the markers
    if len(data) == 0 or rows < 1 or width < 12:
        return grid
    # The range of the candles shown sets the labels, whose width sets how many show: twice.
    columns, gap_columns = _place(data, width - 10)
    for _ in range(2):
        low, high = _price_range(data, max(1, len(columns)))
        labels = price_labels(low, high, rows)
        axis_width = 2 + max(len(text) for _, text in labels)
        plot_width = width - axis_width
        columns, gap_columns = _place(data, plot_width)
    if plot_width < 1:
        return grid
    first = len(data) - len(columns)
    grid.columns, grid.gap_columns = columns, gap_columns
    grid.low, grid.high = low, high
    scale = HalfRows(low, high, rows)
    half, row_of = scale.half, scale.row_of

    for x in gap_columns:
        for y in range(plot_height):
            grid.put(x, y, GAP, "gap")
    for bar, x in columns.items():
        o, h, lo_, c = (
            float(data.open[bar]),
            float(data.high[bar]),
            float(data.low[bar]),
            float(data.close[bar]),
        )
        role = "up" if c >= o else "down"
        wick = (half(lo_), half(h))
        body = (half(min(o, c)), half(max(o, c)))
        put_span(grid, x, wick, body, row_of, role)
    _draw_markers(grid, data, first, half, row_of)
    _draw_fills(grid, data, first, half, row_of)
    draw_price_axis(grid, labels, plot_width, plot_height)
    draw_time_axis(grid, data.timestamps, data.bar_seconds, data.timezone, plot_width, height - 1)
    return grid


def put_span(
    grid: ChartGrid,
    x: int,
    light: tuple[int, int],
    heavy: tuple[int, int],
    row_of: Callable[[int], int],
    role: str,
) -> None:
    """Column x from half row `light[0]` up to `light[1]` (inclusive; half rows count up from
    the bottom, `row_of` gives a half's grid row) in light line glyphs, the halves within
    `heavy` in heavy ones: a candle's wick and body, an equity line, a drawdown's depth."""
    for k_row in range(light[0] // 2, light[1] // 2 + 1):
        parts = []
        for k in (2 * k_row + 1, 2 * k_row):  # top half, then bottom half
            if heavy[0] <= k <= heavy[1]:
                parts.append(_BODY)
            elif light[0] <= k <= light[1]:
                parts.append(_WICK)
            else:
                parts.append(_EMPTY)
        grid.put(x, row_of(2 * k_row), _GLYPHS[(parts[0], parts[1])], role)


def _place(data: ChartData, plot_width: int) -> tuple[dict[int, int], list[int]]:
    """The columns of the newest bars that fit in `plot_width`, right-aligned (bar index →
    column), and of the gap marks among them: one where missing sessions fall between two
    bars, one after the newest bar for those since it. The newest bar always gets a column."""
    import numpy as np

    stamps = data.timestamps
    gaps = np.asarray(data.gaps, dtype=np.int64)
    # Gaps at or before each bar's start: a bar starts after a gap when its count grows.
    upto = np.searchsorted(gaps, stamps, side="right").tolist()
    columns: dict[int, int] = {}
    marks: list[int] = []
    x = plot_width - 1
    if len(gaps) > upto[-1] and plot_width > 1:
        marks.append(x)
        x -= 1
    for bar in range(len(stamps) - 1, -1, -1):
        if x < 0:
            break
        columns[bar] = x
        x -= 1
        if bar and upto[bar] > upto[bar - 1] and x >= 0:
            marks.append(x)
            x -= 1
    return dict(reversed(columns.items())), marks


def _price_range(data: ChartData, count: int) -> tuple[float, float]:
    """The lowest low and highest high of the last `count` bars; never an empty range."""
    return value_range(float(data.low[-count:].min()), float(data.high[-count:].max()))


def value_range(low: float, high: float) -> tuple[float, float]:
    """low..high, or around it for a flat line (centred): never an empty range."""
    if high <= low:
        pad = abs(low) * 0.001 or 1.0
        low, high = low - pad, high + pad
    return low, high


@dataclass(frozen=True)
class HalfRows:
    """Values low..high on `rows` rows of a grid from row `top` down, half a row each step:
    `half` numbers a value's half row from the bottom, `row_of` gives a half's grid row."""

    low: float
    high: float
    rows: int
    top: int = 1  # the candle chart's marker row is above the prices

    def half(self, value: float) -> int:
        halves = 2 * self.rows
        return min(
            halves - 1, max(0, math.floor((value - self.low) / (self.high - self.low) * halves))
        )

    def row_of(self, k: int) -> int:
        return self.top + self.rows - 1 - k // 2


def price_labels(low: float, high: float, rows: int) -> list[tuple[int, str]]:
    """(row of the plot, text) for every LABEL_EVERY_ROWS-th of `rows` price rows from the top,
    under the plot's top row (the chart's marker row)."""
    step = (high - low) / rows
    decimals = price_decimals(step * LABEL_EVERY_ROWS)
    labels = []
    for row in range(0, rows, LABEL_EVERY_ROWS):
        price = low + (rows - row - 0.5) * step  # the middle of the row
        labels.append((1 + row, f"{price:,.{decimals}f}"))
    return labels


def _bars_of(data: ChartData, first: int, times: list[int]) -> list[int | None]:
    """The bar each of `times` falls in, None for one off the chart or between its bars."""
    import numpy as np

    stamps = data.timestamps
    length = data.bar_seconds * 10**9 if data.bar_seconds else 86_400 * 10**9
    bars = (np.searchsorted(stamps, np.asarray(times, dtype=np.int64), side="right") - 1).tolist()
    return [
        bar if bar >= first and time < int(stamps[bar]) + length else None
        for time, bar in zip(times, bars, strict=True)
    ]


def _draw_markers(grid: ChartGrid, data: ChartData, first: int, half, row_of) -> None:
    if not data.markers:
        return
    best: dict[tuple[int, str], bool] = {}  # (bar, action) → approved, approved winning
    bars = _bars_of(data, first, [m.time_ns for m in data.markers])
    for marker, bar in zip(data.markers, bars, strict=True):
        if bar is None:
            continue
        key = (bar, marker.action)
        best[key] = best.get(key, False) or marker.approved
    for (bar, action), approved in best.items():
        x = grid.columns[bar]
        if action == "BUY":
            y, char, role = row_of(half(float(data.low[bar]))) + 1, "▲", "buy"
        else:
            y, char, role = row_of(half(float(data.high[bar]))) - 1, "▼", "sell"
        grid.put(x, y, char, role if approved else "rejected")


def _draw_fills(grid: ChartGrid, data: ChartData, first: int, half, row_of) -> None:
    """Each fill's letter on its bar's candle, at its price; over the candle, under no signal
    (those sit above and below it)."""
    bars = _bars_of(data, first, [fill.time_ns for fill in data.fills])
    for fill, bar in zip(data.fills, bars, strict=True):
        if bar is None:
            continue
        char, role = ("B", "bought") if fill.side > 0 else ("S", "sold")
        grid.put(grid.columns[bar], row_of(half(fill.price)), char, role)


def draw_price_axis(
    grid: ChartGrid, labels: list[tuple[int, str]], x: int, plot_height: int
) -> None:
    rows = dict(labels)
    for y in range(plot_height):
        if y in rows:
            grid.put(x, y, "┤", "axis")
            grid.write(x + 2, y, rows[y], "axis")
        else:
            grid.put(x, y, "│", "axis")


def draw_time_axis(
    grid: ChartGrid,
    timestamps: np.ndarray,
    bar_seconds: int,
    timezone: str,
    plot_width: int,
    y: int,
) -> None:
    """Under the bars of `grid.columns` (their `timestamps`, `bar_seconds` long; 0: daily):
    dates where a session starts, times at round steps between them; a label only where it
    does not run into the previous one."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    daily = bar_seconds == 0
    zone = UTC if daily else ZoneInfo(timezone)
    step = next(
        (s for s in _TIME_STEPS if s >= bar_seconds * LABEL_MIN_COLUMNS),
        0,
    )
    free = 0  # the first column a label may use
    previous_date = None
    for bar, x in grid.columns.items():
        stamp = int(timestamps[bar])
        when = datetime.fromtimestamp(stamp // 10**9, tz=zone)
        new_day = when.date() != previous_date
        previous_date = when.date()
        if daily or new_day:
            text = f"{when:%Y-%m-%d}" if daily else f"{when:%b %d}"
        elif step and (stamp // 10**9) % step == 0:
            text = f"{when:%H:%M}"
        else:
            continue
        if x < free or x + len(text) > plot_width:
            continue
        grid.put(x, y, "╵", "axis")
        grid.write(x + 1, y, text, "axis")
        free = x + len(text) + 3


class GridChart(Widget, Generic[D]):
    """A chart of data D drawn as a ChartGrid in the theme's colours. `show` hands it new data,
    redrawn at most MAX_REDRAWS_PER_S times a second and only when it changed; the grid is
    drawn once per data and size. A subclass says how to draw (`draw`), when two data are the
    same (`same`), and which roles its grids use (`CHART_ROLES`), each styled by its component
    class `<COMPONENT_PREFIX>--<role>`; `<COMPONENT_PREFIX>--message` styles the message shown
    while there is nothing to draw."""

    COMPONENT_PREFIX = ""
    CHART_ROLES: tuple[str, ...] = ()

    def __init__(
        self,
        message: str = "",
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(name=name, id=id, classes=classes)
        self.message = message  # shown while there is nothing to draw
        self.data: D | None = None
        self.updates = 0  # times the drawn data changed (tests check the cap)
        self._pending: D | None = None
        self._has_pending = False
        self._timer = None
        self._drawn_at = -math.inf
        self._grid: tuple[tuple[int, int], ChartGrid] | None = None

    def draw(self, data: D, width: int, height: int) -> ChartGrid:
        raise NotImplementedError

    def same(self, a: D, b: D) -> bool:
        """Whether `b`, another object than `a`, draws as `a` does: showing it need not redraw."""
        return False

    def show(self, data: D | None) -> None:
        """Draw `data` from now on: at once, or when the last redraw is 1/MAX_REDRAWS_PER_S old."""
        latest = self._pending if self._has_pending else self.data
        if latest is data or (latest is not None and data is not None and self.same(latest, data)):
            return
        self._pending, self._has_pending = data, True
        if self._timer is not None:
            return  # the coming redraw takes the newest data
        wait = self._drawn_at + 1 / MAX_REDRAWS_PER_S - time.monotonic()
        if wait <= 0:
            self._flush()
        else:
            self._timer = self.set_timer(wait, self._flush)

    def set_message(self, message: str) -> None:
        if message != self.message:
            self.message = message
            self.refresh()

    def _flush(self) -> None:
        self._timer = None
        if not self._has_pending:
            return
        self.data, self._pending, self._has_pending = self._pending, None, False
        self._drawn_at = time.monotonic()
        self._grid = None
        self.updates += 1
        self.refresh()

    def grid(self) -> ChartGrid | None:
        """The grid as drawn now (None while there is nothing to draw)."""
        if self.data is None or len(self.data) == 0:
            return None
        size = (self.content_size.width, self.content_size.height)
        if self._grid is None or self._grid[0] != size:
            self._grid = (size, self.draw(self.data, *size))
        return self._grid[1]

    def render(self) -> Text:
        grid = self.grid()
        prefix = self.COMPONENT_PREFIX
        if grid is None:
            return Text(self.message, style=self.get_component_rich_style(f"{prefix}--message"))
        styles = {
            role: self.get_component_rich_style(f"{prefix}--{role}") for role in self.CHART_ROLES
        }
        return grid_text(grid, styles)


class CandleChart(GridChart[ChartData]):
    """Draws ChartData; `show` hands it new data (redrawn at most MAX_REDRAWS_PER_S a second)."""

    DEFAULT_CSS = """
    CandleChart {
        height: 1fr;
        min-height: 6;
    }
    CandleChart > .candle-chart--up {
        color: $success;
    }
    CandleChart > .candle-chart--down {
        color: $error;
    }
    CandleChart > .candle-chart--axis {
        color: $text-muted;
    }
    CandleChart > .candle-chart--buy {
        color: $success;
        text-style: bold;
    }
    CandleChart > .candle-chart--sell {
        color: $error;
        text-style: bold;
    }
    CandleChart > .candle-chart--rejected {
        color: $text-disabled;
    }
    CandleChart > .candle-chart--gap {
        color: $warning;
    }
    CandleChart > .candle-chart--bought {
        color: auto 90%;
        background: $success;
        text-style: bold;
    }
    CandleChart > .candle-chart--sold {
        color: auto 90%;
        background: $error;
        text-style: bold;
    }
    CandleChart > .candle-chart--message {
        color: $text-muted;
    }
    """

    COMPONENT_PREFIX = "candle-chart"
    CHART_ROLES = ROLES
    COMPONENT_CLASSES = {f"candle-chart--{role}" for role in ROLES} | {"candle-chart--message"}

    def draw(self, data: ChartData, width: int, height: int) -> ChartGrid:
        return draw_chart(data, width, height)

    def same(self, a: ChartData, b: ChartData) -> bool:
        return a.key is not None and a.key == b.key


def grid_text(grid: ChartGrid, styles: dict[str, Style]) -> Text:
    """The grid as Rich text, runs of one role styled together."""
    text = Text(no_wrap=True, overflow="crop", end="")
    for y in range(grid.height):
        if y:
            text.append("\n")
        chars, roles = grid.chars[y], grid.roles[y]
        start = 0
        for x in range(1, grid.width + 1):
            if x == grid.width or roles[x] != roles[start]:
                role = roles[start]
                text.append("".join(chars[start:x]), styles.get(role) if role else None)
                start = x
    return text
