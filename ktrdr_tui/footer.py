"""The footer: the keys that apply, with `?` and `q` always in view.

Textual's footer lists the focused widget's keys first and the app's last, and cuts what does
not fit: at 80 columns a pane with many keys pushed help and quit out of sight. Here they sit
at the right end, beside the command palette's key, and the pane's keys take the room left.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # the footer's own key widget: no public name

PINNED_KEYS = ("question_mark", "q")


class KeysFooter(Footer):
    DEFAULT_CSS = """
    KeysFooter .pinned-keys {
        dock: right;
        width: auto;
        height: 1;
    }
    KeysFooter .pinned-keys FooterKey.-command-palette {
        dock: none;
    }
    """

    def compose(self) -> ComposeResult:
        pinned: list[FooterKey] = []
        for widget in super().compose():
            is_key = isinstance(widget, FooterKey)
            if is_key and (widget.key in PINNED_KEYS or widget.has_class("-command-palette")):
                pinned.append(widget)
            else:
                yield widget
        if pinned:
            # A class, not an id: bindings that change twice in a row recompose the footer
            # again before the first recomposition has removed its group.
            yield HorizontalGroup(*pinned, classes="pinned-keys")
