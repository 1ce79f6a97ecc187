"""`?`: every key of the app on one screen, from the bindings (as the keymap remaps them)."""

from __future__ import annotations

from collections.abc import Mapping

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# (section, bindings): the help lists those with a tooltip, which says what the key does.
HelpSections = list[tuple[str, list[Binding]]]


def keys_of(binding: Binding, keymap: Mapping[str, str]) -> str:
    """The keys of `binding` by their names (`delete`, `ctrl+p`): the keymap's if it remaps
    the binding's id, else the binding's own display or keys."""
    keys = keymap.get(binding.id or "")
    if keys is None and binding.key_display:
        return binding.key_display
    return " ".join(key.strip() for key in (keys or binding.key).split(","))


def keys_text(sections: HelpSections, keymap: Mapping[str, str]) -> str:
    lines: list[str] = []
    for section, bindings in sections:
        lines.append(f"[b]{section}[/b]")
        for binding in bindings:
            if binding.tooltip:
                keys = escape(keys_of(binding, keymap))
                lines.append(f"  [$accent]{keys:>8}[/]  {binding.tooltip}")
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

    def __init__(self, sections: HelpSections, keymap: Mapping[str, str]):
        super().__init__()
        self._sections = sections
        self._keymap = keymap

    def compose(self) -> ComposeResult:
        # The keys scroll on a small terminal; how to close the help stays in view.
        with Vertical():
            yield Static("ktrdr-tui keys", classes="help-title")
            with VerticalScroll():
                yield Static(keys_text(self._sections, self._keymap))
                yield Static(
                    "A pane's keys act while it is shown (1 2 3); tab moves between its widgets.",
                    classes="help-hint",
                )
            yield Static("escape closes this help · ↑/↓ scroll", classes="help-hint")
