"""`n`: a new load. The symbol field is focused and every other field has a default, so `n`,
`AAPL`, `enter` loads the last month of AAPL 1-minute bars. Fields are checked as you type by
the same function the CLI uses, and the reason shows under the field it is about."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from engine.market.timeframes import TIMEFRAMES

if TYPE_CHECKING:
    import pandas as pd

    from engine.loading.request import LoadRequest
    from engine.market.calendar import TradingCalendar

MODES = ("full", "tail", "backfill", "local")
FIELDS = ("symbols", "timeframe", "start", "end", "mode")


def default_range(calendar: TradingCalendar, now: pd.Timestamp) -> tuple[str, str]:
    """The last completed session, and the session a calendar month before it."""
    import pandas as pd

    recent = calendar.sessions_between(now - pd.Timedelta(days=10), now)
    last = next(s for s in reversed(recent) if s.close <= now)
    first = calendar.first_session_on_or_after(last.date - pd.DateOffset(months=1))
    return f"{first.date:%Y-%m-%d}", f"{last.date:%Y-%m-%d}"


def field_of(message: str) -> str:
    """Which field a `load_request` complaint is about."""
    text = message.lower()
    if "symbol" in text:
        return "symbols"
    for name in ("timeframe", "mode", "start"):
        if text.startswith(name) or f"unknown {name}" in text:
            return name
    return "end"  # the end, or the range as a whole


class NewLoadScreen(ModalScreen["LoadRequest | None"]):
    DEFAULT_CSS = """
    NewLoadScreen {
        align: center middle;
    }
    NewLoadScreen > Vertical {
        width: 64;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 1 2;
    }
    NewLoadScreen .dialog-title {
        text-style: bold;
        color: $primary;
        margin-bottom: 1;
    }
    NewLoadScreen Label {
        margin-top: 1;
    }
    NewLoadScreen .field-error {
        color: $error;
        height: auto;
    }
    NewLoadScreen Horizontal {
        height: auto;
        margin-top: 1;
    }
    NewLoadScreen Button {
        margin-right: 2;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, calendar: TradingCalendar, now: pd.Timestamp | None = None):
        super().__init__()
        import pandas as pd

        self._calendar = calendar
        self._now = now if now is not None else pd.Timestamp.now(tz="UTC")
        self._start, self._end = default_range(calendar, self._now)
        self._request: LoadRequest | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("New load from IB", classes="dialog-title")
            yield Label("Symbols (space between several)")
            yield Input(placeholder="AAPL MSFT", id="symbols")
            yield Static("", id="symbols-error", classes="field-error")
            yield Label("Timeframe")
            yield Select(
                [(tf, tf) for tf in TIMEFRAMES], value="1m", allow_blank=False, id="timeframe"
            )
            yield Static("", id="timeframe-error", classes="field-error")
            yield Label("Start (session date)")
            yield Input(self._start, id="start")
            yield Static("", id="start-error", classes="field-error")
            yield Label("End (session date)")
            yield Input(self._end, id="end")
            yield Static("", id="end-error", classes="field-error")
            yield Label("Mode")
            yield Select([(m, m) for m in MODES], value="full", allow_blank=False, id="mode")
            yield Static("", id="mode-error", classes="field-error")
            with Horizontal():
                yield Button("Load", variant="primary", id="load")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#symbols", Input).focus()

    def check(self, show_empty: bool = False) -> LoadRequest | None:
        """The request the fields make, or None with the reason under its field."""
        from engine.loading.request import LoadInputError, load_request

        for name in FIELDS:
            self.query_one(f"#{name}-error", Static).update("")
        symbols = self.query_one("#symbols", Input).value.replace(",", " ").split()
        if not symbols and not show_empty:
            return None  # nothing typed yet: no complaint either
        try:
            return load_request(
                self._calendar,
                symbols,
                str(self.query_one("#timeframe", Select).value),
                self.query_one("#start", Input).value.strip(),
                self.query_one("#end", Input).value.strip() or None,
                str(self.query_one("#mode", Select).value),
                now=self._now,
            )
        except LoadInputError as exc:
            message = str(exc)
            self.query_one(f"#{field_of(message)}-error", Static).update(message)
            return None

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self.check()

    @on(Input.Submitted)
    @on(Button.Pressed, "#load")
    def submit(self) -> None:
        request = self.check(show_empty=True)
        if request is not None:
            self.dismiss(request)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
