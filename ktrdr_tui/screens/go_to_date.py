"""`g` in the Playback pane: move the clock to a date or a time, in exchange time.

`2024-03-05` goes to that session's open (a weekend or holiday: the next session's), a datetime
`2024-03-05 10:30` to that instant, a bare time `10:30` to that time of the current session.
What the text means shows as you type; enter seeks there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

if TYPE_CHECKING:
    import pandas as pd

    from engine.market.calendar import Session

_TIME_ONLY = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


class SeekError(ValueError):
    """Text that names no instant of the playback: the message is the line the user sees."""


def seek_target(
    text: str,
    sessions: Sequence[Session],
    timezone: str,
    current: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp, str]:
    """The UTC instant `text` names within `sessions`, and a line that describes it.
    `current` is the session date a bare time belongs to."""
    import pandas as pd

    text = " ".join(text.split())
    if not text:
        raise SeekError("type a date (YYYY-MM-DD), a date and time, or a time (HH:MM)")
    if not sessions:
        raise SeekError("the session has no trading days")
    first, last = sessions[0], sessions[-1]
    if _TIME_ONLY.fullmatch(text):
        day = current if current is not None else first.date
        text = f"{day:%Y-%m-%d} {text}"
    try:
        when = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise SeekError(f"not a date or time: {text!r} (e.g. 2024-03-05 or 10:30)") from None
    if when is pd.NaT:
        raise SeekError(f"not a date or time: {text!r}")
    span = f"{first.date:%Y-%m-%d} … {last.date:%Y-%m-%d}"
    if _DATE_ONLY.fullmatch(text):
        day = when.tz_localize(None) if when.tzinfo is not None else when
        session = next((s for s in sessions if s.date >= day), None)
        if day < first.date or session is None:
            raise SeekError(f"{day:%Y-%m-%d} is outside this playback ({span})")
        local = session.open.tz_convert(timezone)
        note = "session open" if session.date == day else f"next session's open, {day:%a} closed"
        return session.open, f"→ {local:%a %Y-%m-%d %H:%M %Z} ({note})"
    if when.tzinfo is None:
        when = when.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")
    instant = when.tz_convert("UTC")
    if instant < first.open or instant > last.close:
        raise SeekError(f"{text} is outside this playback ({span})")
    local = instant.tz_convert(timezone)
    inside = any(s.open <= instant <= s.close for s in sessions)
    note = "" if inside else " (market closed: the clock stops at the last close before)"
    return instant, f"→ {local:%a %Y-%m-%d %H:%M:%S %Z}{note}"


class GoToDateScreen(ModalScreen["pd.Timestamp | None"]):
    DEFAULT_CSS = """
    GoToDateScreen {
        align: center middle;
    }
    GoToDateScreen > Vertical {
        width: 64;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 1 2;
    }
    GoToDateScreen .dialog-title {
        text-style: bold;
        color: $primary;
        margin-bottom: 1;
    }
    GoToDateScreen Label {
        color: $text-muted;
    }
    GoToDateScreen #target {
        margin-top: 1;
        color: $text-muted;
    }
    GoToDateScreen #target.-error {
        color: $error;
    }
    GoToDateScreen .hint {
        margin-top: 1;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="go-to-date.cancel")]

    def __init__(
        self,
        sessions: Sequence[Session],
        timezone: str,
        current: pd.Timestamp | None = None,
    ):
        super().__init__()
        self._sessions = sessions
        self._timezone = timezone
        self._current = current

    def compose(self) -> ComposeResult:
        first, last = self._sessions[0].date, self._sessions[-1].date
        value = f"{self._current:%Y-%m-%d}" if self._current is not None else ""
        with Vertical():
            yield Static("Go to a date or time", classes="dialog-title")
            yield Label(f"Exchange time ({self._timezone}), {first:%Y-%m-%d} … {last:%Y-%m-%d}")
            yield Input(value, placeholder="2024-03-05, 2024-03-05 10:30 or 10:30", id="when")
            yield Static("", id="target")
            yield Label("enter goes there · escape cancels", classes="hint")

    def on_mount(self) -> None:
        self._check(self.query_one("#when", Input).value)

    def target(self, text: str) -> pd.Timestamp | None:
        try:
            return seek_target(text, self._sessions, self._timezone, self._current)[0]
        except SeekError:
            return None

    def _check(self, text: str) -> None:
        target = self.query_one("#target", Static)
        try:
            _, description = seek_target(text, self._sessions, self._timezone, self._current)
        except SeekError as exc:
            target.set_class(True, "-error")
            target.update(str(exc))
            return
        target.set_class(False, "-error")
        target.update(description)

    @on(Input.Changed, "#when")
    def _changed(self, event: Input.Changed) -> None:
        self._check(event.value)

    @on(Input.Submitted, "#when")
    def _submitted(self, event: Input.Submitted) -> None:
        when = self.target(event.value)
        if when is None:
            self._check(event.value)
            return
        self.dismiss(when)

    def action_cancel(self) -> None:
        self.dismiss(None)
