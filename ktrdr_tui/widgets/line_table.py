"""A table drawn one line at a time, only for the lines in view (the line API).

The table holds no rows. It knows how many there are and asks its source (`rows(start,
stop)`) for the rows of the lines it draws, so a table of a million rows costs what one of
thirty does: no Python object per row for the garbage collector to walk, no work per row
added. Drawn lines are cached until the rows in view, the cursor, the focus or the theme
change. Every column has a fixed width, so nothing is measured.

A subclass names its `COLUMNS` (`set_columns` lays a table out anew) and turns a row into
its cells (`cells_of`). The keys: up/down,
page up/down, home/end; a click moves the cursor too. Moves towards the first row go through
`towards_first`, which a subclass may extend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Generic, TypeVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

PADDING = 1  # spaces each side of a cell

R = TypeVar("R")  # a row, as the source gives it
Column = tuple[str, int, bool]  # (label, width, right-aligned)
RowSource = Callable[[int, int], list[R]]


def table_width(columns: tuple[Column, ...]) -> int:
    return sum(width + 2 * PADDING for _, width, _ in columns)


def fit_line(
    cells: list[Text], columns: tuple[Column, ...], base: Style, over: Style | None = None
) -> list[Segment]:
    """Cells padded and cut to their columns, in the row's `base` style plus each cell's own,
    and `over` (the cursor's) over both."""
    segments = []
    pad = " " * PADDING
    for cell, (_, width, right) in zip(cells, columns, strict=True):
        text = cell.plain
        fitted = set_cell_size(text.rjust(width) if right else text, width)
        style = base + cell.style if isinstance(cell.style, Style) else base
        segments.append(Segment(f"{pad}{fitted}{pad}", style + over if over else style))
    return segments


class LineTable(ScrollView, Generic[R], can_focus=True):
    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .line-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .line-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .line-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .line-table--even-row {
            background: $surface-lighten-1 50%;
        }
        &:dark > .line-table--even-row {
            background: $surface-darken-1 40%;
        }
        & > .line-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    COMPONENT_CLASSES = {
        "line-table--header",
        "line-table--even-row",
        "line-table--cursor",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    header_height = 1

    class Highlighted(Message):
        """The cursor moved to another row (or the rows under it changed)."""

        def __init__(self, row: int):
            super().__init__()
            self.row = row

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.cursor_row = 0
        self._count = 0
        self._source: RowSource[R] = lambda start, stop: []
        self.columns = self.COLUMNS
        self._width = table_width(self.columns)
        self._lines: LRUCache[int, Strip] = LRUCache(256)  # cleared when the cursor moves
        # The header, from the first frame.
        self.virtual_size = Size(self._width, self.header_height)

    def cells_of(self, row: R) -> list[Text]:
        """A row's cells, one per column (before padding to the column widths)."""
        raise NotImplementedError

    # -- what the owner tells ---------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return self._count

    def reset(self, source: RowSource[R], count: int) -> None:
        """Other rows altogether: the cursor back on the first."""
        self._source = source
        self._count, self.cursor_row = count, 0
        self._lines.clear()
        self.virtual_size = Size(self._width, count + self.header_height)
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
        self.virtual_size = Size(self._width, count + self.header_height)
        self.refresh()
        if had <= self.cursor_row < count:
            self.post_message(self.Highlighted(self.cursor_row))

    def rows_changed(self, count: int) -> None:
        """The source's rows changed where they are (or their styles did), and it now has
        `count`: the lines are drawn again, the cursor stays on its row (or the last)."""
        self._count = count
        self.cursor_row = max(0, min(self.cursor_row, count - 1))
        self.virtual_size = Size(self._width, count + self.header_height)
        self._lines.clear()
        self.refresh()
        self.post_message(self.Highlighted(self.cursor_row))

    def set_columns(self, columns: tuple[Column, ...]) -> None:
        """The same rows in other columns (another width of one of them)."""
        if columns != self.columns:
            self.columns, self._width = columns, table_width(columns)
            self.virtual_size = Size(self._width, self._count + self.header_height)
            self._lines.clear()
            self.refresh()

    def rows(self, start: int, stop: int) -> list[R]:
        """The rows start…stop (for the owner and for tests)."""
        stop = min(stop, self._count)
        return self._source(start, stop) if start < stop else []

    def cells(self, row: int) -> list[Text]:
        """Row `row`'s cells as drawn (unpadded)."""
        [item] = self.rows(row, row + 1)
        return self.cells_of(item)

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

    def towards_first(self, row: int) -> None:
        """The user moved the cursor up to `row` (up, page up, home, a click)."""
        self.move_cursor(row)

    def action_cursor_up(self) -> None:
        self.towards_first(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.towards_first(self.cursor_row - self._page)

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._page)

    def action_first(self) -> None:
        self.towards_first(0)

    def action_last(self) -> None:
        self.move_cursor(self._count - 1)

    def on_click(self, event: events.Click) -> None:
        y = event.y - self.header_height
        if y >= 0 and round(self.scroll_y) + y < self._count:
            self.towards_first(round(self.scroll_y) + y)

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
            style = self.get_component_rich_style("line-table--header")
            header = [Text(label) for label, _, _ in self.columns]
            strip = Strip(fit_line(header, self.columns, style), self._width)
        else:
            row = scroll_y + y - self.header_height
            strip = self._row_strip(row) if row < self._count else Strip.blank(0)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _row_strip(self, row: int) -> Strip:
        strip = self._lines.get(row)
        if strip is None:
            # Fetch the whole page at once: one read of the source per frame, not per line.
            top = round(self.scroll_y)
            for offset, item in enumerate(self.rows(top, top + self._page)):
                index = top + offset
                base, over = self.rich_style, None
                if index == self.cursor_row:
                    over = self.get_component_rich_style("line-table--cursor")
                elif index % 2 == 0:
                    base += self.get_component_rich_style("line-table--even-row")
                cells = fit_line(self.cells_of(item), self.columns, base, over)
                self._lines[index] = Strip(cells, self._width)
            strip = self._lines.get(row) or Strip.blank(self._width)
        return strip
