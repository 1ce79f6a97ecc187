"""`n`: a new load. The symbol field is focused and every other field has a default, so `n`,
`AAPL`, `enter` loads the last month of AAPL 1-minute bars. Fields are checked as you type by
the same function the CLI uses, and the reason shows under the field it is about.

The dates need the exchange calendar, which the app reads in a worker as it starts. The dialog
opens at once even before that: the symbol can be typed, and enter pressed that early submits
as soon as the calendar is there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from engine.loading.modes import LoadMode
from engine.market.timeframes import TIMEFRAMES

if TYPE_CHECKING:
    from datetime import datetime

    from engine.loading.request import LoadRequest
    from engine.market.calendar import TradingCalendar

# The default first, then the engine's order.
MODES = sorted(LoadMode, key=lambda mode: mode is not LoadMode.FULL)
MODE_HELP = {
    "full": "every session missing in the range",
    "tail": "from the newest stored session up to the end",
    "backfill": "from the oldest stored session back to the start",
    "local": "the store only: nothing is fetched",
}
FIELDS = ("symbols", "timeframe", "start", "end", "mode")
# Stands in for the symbols while none is typed, so the other fields are checked as you type.
_STAND_IN = ["AAPL"]
READING_CALENDAR = "Reading the exchange calendar…"


def default_range(calendar: TradingCalendar, now: datetime) -> tuple[str, str]:
    """The last completed session, and the session a calendar month before it."""
    import pandas as pd

    now = pd.Timestamp(now)
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
        width: 68;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 2;
    }
    NewLoadScreen .dialog-title {
        text-style: bold;
        color: $primary;
        padding: 1 0 0 0;
    }
    NewLoadScreen .field {
        height: auto;
        margin-top: 1;
    }
    NewLoadScreen .field Label {
        width: 12;
    }
    NewLoadScreen .field Input, NewLoadScreen .field Select {
        width: 1fr;
    }
    NewLoadScreen .field-error {
        color: $error;
        height: auto;
        padding: 0 0 0 12;
    }
    NewLoadScreen .field-error.-empty {
        display: none;
    }
    NewLoadScreen #summary {
        color: $text-muted;
        margin-top: 1;
        padding: 0 0 0 12;
    }
    NewLoadScreen #buttons {
        height: auto;
        margin: 1 0;
    }
    NewLoadScreen #buttons .hint {
        width: 1fr;
        color: $text-muted;
    }
    NewLoadScreen Button {
        width: auto;
        min-width: 10;
        margin-left: 2;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="new-load.cancel")]

    def __init__(self, now: datetime):
        super().__init__()
        self._now = now
        self._calendar: TradingCalendar | None = None  # the app's, once it has read it
        self._submit_when_ready = False  # enter came before the calendar

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("New load from IB", classes="dialog-title")
            with Horizontal(classes="field"):
                yield Label("Symbols")
                yield Input(
                    placeholder="AAPL MSFT (space between several)", id="symbols", compact=True
                )
            yield Static("", id="symbols-error", classes="field-error -empty")
            with Horizontal(classes="field"):
                yield Label("Timeframe")
                yield Select(
                    [(tf, tf) for tf in TIMEFRAMES],
                    value="1m",
                    allow_blank=False,
                    id="timeframe",
                    compact=True,
                )
            yield Static("", id="timeframe-error", classes="field-error -empty")
            for field in ("start", "end"):
                with Horizontal(classes="field"):
                    yield Label(field.capitalize())
                    yield Input(placeholder="YYYY-MM-DD", id=field, compact=True)
                yield Static("", id=f"{field}-error", classes="field-error -empty")
            with Horizontal(classes="field"):
                yield Label("Mode")
                yield Select(
                    [(m.value, m.value) for m in MODES],
                    value=LoadMode.FULL.value,
                    allow_blank=False,
                    id="mode",
                    compact=True,
                )
            yield Static("", id="mode-error", classes="field-error -empty")
            yield Static("", id="summary")
            with Horizontal(id="buttons"):
                yield Static("enter loads · escape cancels", classes="hint")
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Load", variant="primary", id="load", compact=True)

    def on_mount(self) -> None:
        self.query_one("#symbols", Input).focus()
        self.watch(self.app, "calendar", self._calendar_read)

    def _calendar_read(self, calendar: TradingCalendar | None) -> None:
        if self._calendar is not None:
            return
        if calendar is None:
            self.query_one("#summary", Static).update(READING_CALENDAR)
            return
        self._calendar = calendar
        start, end = default_range(calendar, self._now)
        for field, value in (("start", start), ("end", end)):
            widget = self.query_one(f"#{field}", Input)
            if not widget.value:  # a date typed meanwhile stays
                widget.value = value
        self.check()
        if self._submit_when_ready:
            self.submit()

    def _complain(self, field: str, message: str) -> None:
        error = self.query_one(f"#{field}-error", Static)
        error.update(message)
        error.set_class(not message, "-empty")

    def check(self, submitting: bool = False) -> LoadRequest | None:
        """The request the fields make, or None with the reason under its field. While no
        symbol is typed the other fields are still checked; the missing symbol is only a
        complaint on submit."""
        if self._calendar is None:
            return None  # and nothing imported: pandas is still being read by the app's worker
        from engine.loading.request import LoadInputError, load_request

        for name in FIELDS:
            self._complain(name, "")
        symbols = self.query_one("#symbols", Input).value.replace(",", " ").split()
        mode = str(self.query_one("#mode", Select).value)
        summary = self.query_one("#summary", Static)
        try:
            request = load_request(
                self._calendar,
                symbols or ([] if submitting else _STAND_IN),
                str(self.query_one("#timeframe", Select).value),
                self.query_one("#start", Input).value.strip(),
                self.query_one("#end", Input).value.strip() or None,
                mode,
                now=self._now,
            )
        except LoadInputError as exc:
            message = str(exc)
            self._complain(field_of(message), message)
            summary.update(MODE_HELP.get(mode, ""))
            return None
        sessions = len(self._calendar.sessions_for_dates(request.start, request.end))
        summary.update(f"{sessions:,} session{'s' if sessions != 1 else ''}: {MODE_HELP[mode]}")
        return request if symbols else None

    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self) -> None:
        self.check()

    @on(Input.Submitted)
    @on(Button.Pressed, "#load")
    def submit(self) -> None:
        if self._calendar is None:
            self._submit_when_ready = True
            self.query_one("#summary", Static).update(
                "Reading the exchange calendar: the load starts in a moment…"
            )
            return
        request = self.check(submitting=True)
        if request is not None:
            self.dismiss(request)
        else:
            self.app.bell()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
