"""The Signals pane (placeholder until its feature lands)."""

from __future__ import annotations

from ktrdr_tui.widgets.panes import _Pane


class SignalsPane(_Pane):
    TITLE = "Signals"
    PURPOSE = (
        "No signals yet.\n\n"
        "Every signal of a playback session and the decision taken on it lists here, "
        "live, filterable and exportable to CSV."
    )
