"""The three panes of the main screen. Each says what it will hold until its feature lands."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static


class _Pane(Vertical):
    TITLE = ""
    PURPOSE = ""

    def compose(self) -> ComposeResult:
        yield Static(self.TITLE, classes="pane-title")
        yield Static(self.PURPOSE, classes="pane-empty")
