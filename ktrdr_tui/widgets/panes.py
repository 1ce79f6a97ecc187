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


class JobsPane(_Pane):
    TITLE = "Load jobs"
    PURPOSE = (
        "No load jobs yet.\n\n"
        "Loads of IB bars into the local store show here, one row each: symbol, timeframe, "
        "mode, state, the segment being fetched, bars, rate, ETA and a progress bar."
    )


class PlaybackPane(_Pane):
    TITLE = "Playback"
    PURPOSE = (
        "No session open.\n\n"
        "Stored bars play back here through a backtest session: candle chart with signal "
        "markers, speed slider, market clock, quality, position and equity."
    )


class SignalsPane(_Pane):
    TITLE = "Signals"
    PURPOSE = (
        "No signals yet.\n\n"
        "Every signal of a playback session and the decision taken on it lists here, "
        "live, filterable and exportable to CSV."
    )
