"""The signal table: one line per signal, drawn only for the lines in view (a LineTable,
whose source is the Signals pane).

Moving towards older rows (up, page up, home, a click above the last row) posts `LeftTheEnd`,
which the pane takes as "stop following".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.style import Style
from rich.text import Text
from textual.message import Message

from engine.market.exchange import EXCHANGE_TZ
from ktrdr_tui.cells import theme_style
from ktrdr_tui.widgets.line_table import Column, LineTable, RowSource

if TYPE_CHECKING:
    from engine.session.logs import Signal

# The store holds NYSE bars: signals show in the exchange's time.
EXCHANGE_ZONE = ZoneInfo(EXCHANGE_TZ)
PRICE_WIDTH = 9
SYMBOL_WIDTH = 6  # at least: AAPL, BRK.B; a session of longer symbols widens the column
# (label, width, right-aligned). The full strategy and reason of the highlighted row show
# under the table.
COLUMNS: tuple[Column, ...] = (
    ("Time (ET)", 16, False),
    ("Symbol", SYMBOL_WIDTH, False),
    ("Strategy", 21, False),
    ("Action", 6, False),
    ("Price", PRICE_WIDTH, True),
    ("Conf", 4, True),
    ("Decision", 8, False),
    ("Reason", 44, False),
)


def symbol_column(symbols: Sequence[str]) -> Column:
    """The Symbol column of a session of `symbols`: as wide as the longest."""
    return ("Symbol", max([SYMBOL_WIDTH, *map(len, symbols)]), False)


def signal_columns(symbols: Sequence[str]) -> tuple[Column, ...]:
    """COLUMNS, the Symbol column as wide as the longest of a session's `symbols`."""
    return (COLUMNS[0], symbol_column(symbols), *COLUMNS[2:])


def bar_time(time_ns: int, daily: bool) -> str:
    """`2024-03-04 10:15` in exchange time; a daily bar's (midnight UTC of the session date):
    the date."""
    seconds = time_ns // 1_000_000_000
    if daily:
        return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d}"
    return f"{datetime.fromtimestamp(seconds, EXCHANGE_ZONE):%Y-%m-%d %H:%M}"


def exchange_time(signal: Signal) -> str:
    return bar_time(signal.time_ns, signal.timeframe == "1d")


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


class SignalsTable(LineTable["Signal"]):
    COLUMNS = COLUMNS

    class Highlighted(LineTable.Highlighted):
        """The cursor moved to another row (or the rows under it changed)."""

    class LeftTheEnd(Message):
        """The user moved the cursor towards older rows."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self._styles = RowStyles({})

    def reset(  # type: ignore[override]  # the pane's rows come with their theme's styles
        self, source: RowSource[Signal], count: int, styles: RowStyles
    ) -> None:
        """Other rows altogether (another log, another filter, another theme)."""
        self._styles = styles
        super().reset(source, count)

    def cells_of(self, row: Signal) -> list[Text]:
        return row_cells(row, self._styles)

    def towards_first(self, row: int) -> None:
        super().towards_first(row)
        self.post_message(self.LeftTheEnd())
