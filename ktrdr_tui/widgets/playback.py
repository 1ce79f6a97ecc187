"""The Playback pane (placeholder until its feature lands)."""

from __future__ import annotations

from ktrdr_tui.widgets.panes import _Pane


class PlaybackPane(_Pane):
    TITLE = "Playback"
    PURPOSE = (
        "No session open.\n\n"
        "Stored bars play back here through a backtest session: candle chart with signal "
        "markers, speed slider, market clock, quality, position and equity."
    )
