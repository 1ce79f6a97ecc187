"""`?`: every key of the app on one screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# (section, [(key, what it does)]) in the order a newcomer meets them.
KEYS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Everywhere",
        [
            ("1 2 3", "Jobs, Playback, Signals pane"),
            ("?", "this help"),
            ("ctrl+p", "command palette (themes, panes, quit)"),
            ("q", "quit (asks first while loads run)"),
        ],
    ),
    (
        "Jobs",
        [
            ("n", "new load"),
            ("c", "cancel the selected job"),
            ("r", "resume the selected job"),
            ("delete", "remove a finished job (its data stays)"),
            ("enter", "segment details"),
        ],
    ),
    (
        "Playback",
        [
            ("o", "open a session (dataset and strategies)"),
            ("space", "play / pause"),
            ("+ -", "faster / slower"),
            (".", "step one bar"),
            ("g", "go to a date"),
            ("home", "restart"),
            ("t", "chart timeframe (1m … 1h)"),
        ],
    ),
    ("Signals", [("f", "follow new signals"), ("/", "filter"), ("e", "export CSV")]),
]


def keys_text() -> str:
    lines: list[str] = []
    for section, keys in KEYS:
        lines.append(f"[b]{section}[/b]")
        lines.extend(f"  [$accent]{key:>8}[/]  {what}" for key, what in keys)
        lines.append("")
    return "\n".join(lines).rstrip()


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 1 2;
    }
    HelpScreen VerticalScroll {
        height: auto;
        max-height: 65vh;  /* the rest of a 24-row terminal: title, hint, border */
    }
    HelpScreen .help-title {
        text-style: bold;
        color: $primary;
        margin-bottom: 1;
    }
    HelpScreen .help-hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close-again"),
        Binding("q", "dismiss", "Close", show=False, id="help.close-q"),
    ]

    def compose(self) -> ComposeResult:
        # The keys scroll on a small terminal; how to close the help stays in view.
        with Vertical():
            yield Static("ktrdr-tui keys", classes="help-title")
            with VerticalScroll():
                yield Static(keys_text())
                yield Static(
                    "A pane's keys act while it is shown (1 2 3); tab moves between its widgets.",
                    classes="help-hint",
                )
            yield Static("escape closes this help · ↑/↓ scroll", classes="help-hint")
