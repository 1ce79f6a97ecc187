"""The trade list: one line per round trip of a run's `Trades`, drawn only for the lines in view
(a LineTable over the trades' columns: no object per trade). `enter` posts `TradeChosen` with
the trade's entry time and symbol, which shows the trade on the Playback chart; `describe` is the
whole of a trade on one line, for under the table (a narrow table scrolls its last columns away).
The trades of a session of several symbols have a Symbol column first; one symbol's have none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.message import Message

from ktrdr_tui.cells import theme_style
from ktrdr_tui.widgets.line_table import Column, LineTable
from ktrdr_tui.widgets.signals_table import PRICE_WIDTH, bar_time, symbol_column

if TYPE_CHECKING:
    from engine.results import Trades

MINUTE_NS = 60 * 10**9


def trade_columns(daily: bool, symbols: Sequence[str] = ()) -> tuple[Column, ...]:
    """(label, width, right-aligned): times in the exchange's zone, as in the signal table;
    daily bars' as dates; with `symbols` (a session's several), the trade's symbol first."""
    when, zone = (10, "") if daily else (16, " (ET)")
    columns: tuple[Column, ...] = (
        ("Side", 5, False),
        ("Size", 7, True),
        (f"Entry{zone}", when, False),
        ("Price", PRICE_WIDTH, True),
        (f"Exit{zone}", when, False),
        ("Price", PRICE_WIDTH, True),
        ("P&L", 11, True),
        ("Return", 8, True),
        ("Held", 7, True),
        ("", 4, False),  # `open`: still held at the end, marked at the last close
    )
    return (symbol_column(symbols), *columns) if symbols else columns


def held(duration_ns: int) -> str:
    """A trade's duration, to the minute: `45m`, `3h 05m`, `2d 4h`, `53d`."""
    minutes = duration_ns // MINUTE_NS
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    return f"{hours}h {minutes:02}m" if hours else f"{minutes}m"


class TradeStyles:
    """The styles of a trade's coloured cells, from the theme's colours."""

    def __init__(self, variables: Mapping[str, str]):
        self.long = theme_style(variables, "success", bold=True)
        self.short = theme_style(variables, "error", bold=True)
        self.gain = theme_style(variables, "success")
        self.loss = theme_style(variables, "error")
        self.open = theme_style(variables, "warning", bold=True)


def trade_cells(trades: Trades, row: int, daily: bool, styles: TradeStyles) -> list[Text]:
    """Trade `row`'s cells, as the table draws them (before padding to the column widths),
    without the symbol's (`cells_of` puts it first in a session of several)."""
    pnl = float(trades.pnl[row])
    gain = styles.gain if pnl > 0 else styles.loss if pnl < 0 else ""
    long = trades.side[row] > 0
    return [
        Text("long" if long else "short", styles.long if long else styles.short),
        Text(f"{float(trades.size[row]):,g}"),
        Text(bar_time(int(trades.entry_time[row]), daily)),
        Text(f"{float(trades.entry_price[row]):,.2f}"),
        Text(bar_time(int(trades.exit_time[row]), daily)),
        Text(f"{float(trades.exit_price[row]):,.2f}"),
        Text(f"{pnl:+,.2f}", gain),
        Text(f"{float(trades.return_pct[row]):+.2f}%", gain),
        Text(held(int(trades.exit_time[row] - trades.entry_time[row]))),
        Text("open", styles.open) if trades.open[row] else Text(""),
    ]


class TradesTable(LineTable[int]):
    """The rows are the trades' positions in `trades`; `show` hands the table a run's trades."""

    COLUMNS = trade_columns(daily=False)

    BINDINGS = [
        Binding(
            "enter",
            "choose",
            "Show",
            tooltip="show the trade on the Playback chart",
            id="results.show-trade",
        ),
    ]

    class Highlighted(LineTable.Highlighted):
        """The cursor moved to another trade (or the trades under it changed)."""

    class TradeChosen(Message):
        """Enter on a trade: show it on the chart from its entry (int64 ns UTC, the start of the
        bar it was entered at) on."""

        def __init__(self, entry_time: int, symbol: str):
            super().__init__()
            self.entry_time = entry_time
            self.symbol = symbol

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.trades: Trades | None = None
        self._daily = False
        self._symbols: tuple[str, ...] = ()  # a session's several: a Symbol column
        self._styles: TradeStyles | None = None

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())

    def show(self, trades: Trades | None, daily: bool = False, symbols: Sequence[str] = ()) -> None:
        """List `trades` (None: none); `daily`: their times are daily bars', shown as dates;
        `symbols`: a session's several, a Symbol column. The cursor stays on its row: the
        trades of a run only grow, and its open ones change."""
        symbols = tuple(symbols)
        if trades is self.trades and (daily, symbols) == (self._daily, self._symbols):
            return
        self.trades, self._daily, self._symbols = trades, daily, symbols
        self.set_columns(trade_columns(daily, symbols))
        self.rows_changed(len(trades) if trades is not None else 0)

    def rows(self, start: int, stop: int) -> list[int]:
        return list(range(start, min(stop, self.row_count)))

    @property
    def trade_styles(self) -> TradeStyles:
        if self._styles is None:
            self._styles = TradeStyles(self.app.theme_variables)
        return self._styles

    def cells_of(self, row: int) -> list[Text]:
        assert self.trades is not None  # rows come from the trades
        cells = trade_cells(self.trades, row, self._daily, self.trade_styles)
        return [Text(str(self.trades.symbol[row])), *cells] if self._symbols else cells

    def describe(self, row: int) -> Text:
        """Trade `row` on one line, every field: `long 100 AAPL · 2024-01-05 → 2024-01-17
        (12d) · 102.94 → 106.10 · P&L +316.00 (+3.07%) · commission 2.00 · <strategy>`."""
        trades = self.trades
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        if trades is None or not 0 <= row < len(trades):
            return line
        cells = trade_cells(trades, row, self._daily, self.trade_styles)
        side, size, entry, _, exit_, _, pnl, return_pct, duration, is_open = cells
        line.append_text(side)
        line.append(f" {size.plain} {trades.symbol[row]}", "bold")
        zone = "" if self._daily else " ET"
        line.append(f" · {entry.plain} → {exit_.plain}{zone} ({duration.plain})")
        entry_price, exit_price = float(trades.entry_price[row]), float(trades.exit_price[row])
        line.append(f" · {entry_price:,.2f} → {exit_price:,.2f} · P&L ")
        line.append_text(pnl)
        line.append(" (")
        line.append_text(return_pct)
        line.append(f") · commission {float(trades.commission[row]):,.2f}")
        if trades.strategy[row]:
            line.append(f" · {trades.strategy[row]}")
        if is_open.plain:
            line.append(" · ")
            line.append("open: marked at the last close", self.trade_styles.open)
        return line

    def _restyle(self) -> None:
        self._styles = None
        self.rows_changed(self.row_count)  # the rows, and the line under them, in new colours

    def action_choose(self) -> None:
        trades = self.trades
        if trades is None or not len(trades):
            self.notify("No trades to show yet.", severity="warning")
            return
        row = self.cursor_row
        self.post_message(self.TradeChosen(int(trades.entry_time[row]), str(trades.symbol[row])))
