"""The Jobs pane (placeholder until its feature lands)."""

from __future__ import annotations

from ktrdr_tui.widgets.panes import _Pane


class JobsPane(_Pane):
    TITLE = "Load jobs"
    PURPOSE = (
        "No load jobs yet.\n\n"
        "Loads of IB bars into the local store show here, one row each: symbol, timeframe, "
        "mode, state, the segment being fetched, bars, rate, ETA and a progress bar."
    )
