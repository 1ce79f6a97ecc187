"""The signal table: one line per signal, drawn only for the lines in view.

The table holds no rows. It knows how many there are and asks its source (`rows(start, stop)`,
the Signals pane) for the signals of the lines it draws, so a table of a million signals costs
what one of thirty does: no Python object per row for the garbage collector to walk, no work
per row added. Drawn lines are cached until the rows in view, the cursor, the focus or the
theme change. Every column has a fixed width, so nothing is measured.

The keys of a table: up/down, page up/down, home/end; a click moves the cursor too. Moving
towards older rows (up, page up, home, a click above the last row) posts `LeftTheEnd`, which
the pane takes as "stop following".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from engine.market.exchange import EXCHANGE_TZ
from ktrdr_tui.cells import theme_style

if TYPE_CHECKING:
    from engine.session.logs import Signal

# The store holds NYSE bars: signals show in the exchange's time.
EXCHANGE_ZONE = ZoneInfo(EXCHANGE_TZ)
PRICE_WIDTH = 9
PADDING = 1  # spaces each side of a cell
# (label, width, right-aligned). The full strategy and reason of the highlighted row show
# under the table.
COLUMNS = (
    ("Time (ET)", 16, False),
    ("Symbol", 6, False),
    ("Strategy", 21, False),
    ("Action", 6, False),
    ("Price", PRICE_WIDTH, True),
    ("Conf", 4, True),
    ("Decision", 8, False),
    ("Reason", 44, False),
)
WIDTH = sum(width + 2 * PADDING for _, width, _ in COLUMNS)

RowSource = Callable[[int, int], list["Signal"]]


def exchange_time(signal: Signal) -> str:
    """`2024-03-04 10:15` in exchange time; daily bars (midnight UTC of the session date):
    the date."""
    seconds = signal.time_ns // 1_000_000_000
    if signal.timeframe == "1d":
        return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d}"
    return f"{datetime.fromtimestamp(seconds, EXCHANGE_ZONE):%Y-%m-%d %H:%M}"


def short_strategy(label: str) -> str:
    """`sma_crossover:fast=3,slow=8,timeframe=15m` → `sma_crossover 3,8 15m`: the values
    in the spec's order, which tell a session's strategies apart in a narrow column."""
    name, _, rest = label.partition(":")
    values, timeframe = [], ""
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key == "timeframe":
            timeframe = value
        else:
            values.append(value or key)
    return " ".join(part for part in (name, ",".join(values), timeframe) if part)


class RowStyles:
    """The styles of a row's coloured cells, from the theme's colours."""

    def __init__(self, variables: Mapping[str, str]):
        self.buy = theme_style(variables, "success", bold=True)
        self.sell = theme_style(variables, "error", bold=True)
        self.approved = theme_style(variables, "success")
        self.rejected = Style(dim=True)


def row_cells(signal: Signal, styles: RowStyles) -> list[Text]:
    """One row's cells, as the table draws them (before padding to the column widths)."""
    action = styles.buy if signal.action == "BUY" else styles.sell
    decision = styles.approved if signal.approved else styles.rejected
    return [
        Text(exchange_time(signal)),
        Text(signal.symbol),
        Text(short_strategy(signal.strategy)),
        Text(signal.action, action),
        Text(f"{signal.price:,.2f}"),
        Text(f"{signal.confidence:.2f}"),
        Text("approved" if signal.approved else "rejected", decision),
        Text(signal.reason),
    ]


def _line(cells: list[Text], base: Style, over: Style | None = None) -> list[Segment]:
    """Cells padded and cut to their columns, in the row's `base` style plus each cell's own,
    and `over` (the cursor's) over both."""
    segments = []
    pad = " " * PADDING
    for cell, (_, width, right) in zip(cells, COLUMNS, strict=True):
        text = cell.plain
        fitted = set_cell_size(text.rjust(width) if right else text, width)
        style = base + cell.style if isinstance(cell.style, Style) else base
        segments.append(Segment(f"{pad}{fitted}{pad}", style + over if over else style))
    return segments


class SignalsTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    SignalsTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .signals-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .signals-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .signals-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .signals-table--even-row {
            background: $surface-lighten-1 50%;
        }
        &:dark > .signals-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .signals-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    COMPONENT_CLASSES = {
        "signals-table--header",
        "signals-table--even-row",
        "signals-table--cursor",
    }

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    header_height = 1

    class Highlighted(Message):
        """The cursor moved to another row (or the rows under it changed)."""

        def __init__(self, row: int):
            super().__init__()
            self.row = row

    class LeftTheEnd(Message):
        """The user moved the cursor towards older rows."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.cursor_row = 0
        self._count = 0
        self._source: RowSource = lambda start, stop: []
        self._styles = RowStyles({})
        self._lines: LRUCache[int, Strip] = LRUCache(256)  # cleared when the cursor moves
        self.virtual_size = Size(WIDTH, self.header_height)  # the header, from the first frame

    # -- what the pane tells ----------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return self._count

    def reset(self, source: RowSource, count: int, styles: RowStyles) -> None:
        """Other rows altogether (another log, another filter, another theme)."""
        self._source, self._styles = source, styles
        self._count, self.cursor_row = count, 0
        self._lines.clear()
        self.virtual_size = Size(WIDTH, count + self.header_height)
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Highlighted(0))

    def grow(self, count: int) -> None:
        """The source now has `count` rows (rows only join at the end between resets, so the
        lines drawn so far stay as they are)."""
        if count == self._count:
            return
        had = self._count
        self._count = count
        self.virtual_size = Size(WIDTH, count + self.header_height)
        self.refresh()
        if had <= self.cursor_row < count:
            self.post_message(self.Highlighted(self.cursor_row))

    def signals(self, start: int, stop: int) -> list[Signal]:
        """The signals of rows start…stop (for the pane and for tests)."""
        stop = min(stop, self._count)
        return self._source(start, stop) if start < stop else []

    def cells(self, row: int) -> list[Text]:
        """A row's cells as drawn (unpadded)."""
        [signal] = self.signals(row, row + 1)
        return row_cells(signal, self._styles)

    # -- the cursor -------------------------------------------------------------------------

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - self.header_height)

    def move_cursor(self, row: int) -> None:
        row = max(0, min(row, self._count - 1))
        if row != self.cursor_row:
            self.cursor_row = row
            self._lines.clear()
            self.refresh()
            self.post_message(self.Highlighted(row))
        top = round(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + self._page:
            self.scroll_to(y=row - self._page + 1, animate=False, immediate=True)

    def _towards_older(self, row: int) -> None:
        self.move_cursor(row)
        self.post_message(self.LeftTheEnd())

    def action_cursor_up(self) -> None:
        self._towards_older(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self._towards_older(self.cursor_row - self._page)

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._page)

    def action_first(self) -> None:
        self._towards_older(0)

    def action_last(self) -> None:
        self.move_cursor(self._count - 1)

    def on_click(self, event: events.Click) -> None:
        y = event.y - self.header_height
        if y >= 0 and round(self.scroll_y) + y < self._count:
            self._towards_older(round(self.scroll_y) + y)

    # -- drawing ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()

    def on_focus(self) -> None:
        self._lines.clear()  # the cursor's colours follow the focus

    def on_blur(self) -> None:
        self._lines.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y < self.header_height:
            style = self.get_component_rich_style("signals-table--header")
            header = [Text(label) for label, _, _ in COLUMNS]
            strip = Strip(_line(header, style), WIDTH)
        else:
            row = scroll_y + y - self.header_height
            strip = self._row_strip(row) if row < self._count else Strip.blank(0)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _row_strip(self, row: int) -> Strip:
        strip = self._lines.get(row)
        if strip is None:
            # Fetch the whole page at once: one read of the source per frame, not per line.
            top = round(self.scroll_y)
            signals = self.signals(top, top + self._page)
            for offset, signal in enumerate(signals):
                index = top + offset
                base, over = self.rich_style, None
                if index == self.cursor_row:
                    over = self.get_component_rich_style("signals-table--cursor")
                elif index % 2 == 0:
                    base += self.get_component_rich_style("signals-table--even-row")
                line = Strip(_line(row_cells(signal, self._styles), base, over), WIDTH)
                self._lines[index] = line
            strip = self._lines.get(row) or Strip.blank(WIDTH)
        return strip
