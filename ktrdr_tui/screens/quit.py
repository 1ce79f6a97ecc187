"""`q` while loads run: say which, and that they stay resumable, before quitting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ktrdr_tui.formatting import plural

if TYPE_CHECKING:
    from engine.loading.load_job import LoadStatus

SHOWN = 5  # loads named in the dialog; the rest are counted


def running_text(running: Sequence[LoadStatus]) -> str:
    """`2 loads are running: AAPL 1m (52%), MSFT 5m (31%).`"""
    names = [f"{s.symbol} {s.timeframe} ({s.percent:.0f}%)" for s in running[:SHOWN]]
    if len(running) > SHOWN:
        names.append(f"{len(running) - SHOWN} more")
    verb = "is" if len(running) == 1 else "are"
    return f"{plural(len(running), 'load')} {verb} running: {', '.join(names)}."


class QuitScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    QuitScreen {
        align: center middle;
    }
    QuitScreen > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: round $warning;
        background: $surface;
        padding: 0 2;
    }
    QuitScreen .dialog-title {
        text-style: bold;
        color: $warning;
        padding: 1 0 0 0;
    }
    QuitScreen #running {
        padding: 1 0 0 0;
    }
    QuitScreen #buttons {
        height: auto;
        align-horizontal: right;
        padding: 1 0 0 0;
    }
    QuitScreen Button {
        margin-left: 2;
    }
    QuitScreen .hint {
        color: $text-muted;
        padding: 1 0;
    }
    """

    BINDINGS = [
        Binding("y", "quit", "Quit", id="quit.yes"),
        Binding("n,escape", "stay", "Stay", id="quit.no"),
    ]

    def __init__(self, running: Sequence[LoadStatus]):
        super().__init__()
        self._loads = running

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Quit while loads run?", classes="dialog-title")
            yield Static(running_text(self._loads), id="running")
            yield Static(
                "They stop now, keep every bar fetched so far, and show as interrupted on "
                "the next start: r resumes them."
            )
            with Horizontal(id="buttons"):
                yield Button("Stay", id="stay", compact=True)
                yield Button("Quit", variant="warning", id="quit", compact=True)
            yield Static("y quits · n or escape stays", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()  # enter by reflex keeps the loads running

    @on(Button.Pressed, "#quit")
    def action_quit(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#stay")
    def action_stay(self) -> None:
        self.dismiss(False)
