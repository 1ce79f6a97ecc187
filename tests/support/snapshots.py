"""What the snapshot tests share: the shipped themes each picture is taken in, the smallest
terminal the app promises to fit, and waits until the app shows the same picture every run."""

from __future__ import annotations

from textual.widgets import Input

from ktrdr_tui.screens.open_session import OpenSessionScreen
from ktrdr_tui.widgets.candle_chart import CandleChart
from ktrdr_tui.widgets.playback import PlaybackPane
from tests.support.app_flows import open_dialog
from tests.support.app_harness import until

THEMES = ["ktrdr-dark", "ktrdr-light"]
SMALL = (80, 24)


async def gateway_running(pilot) -> None:
    # The in-process gateway starts in a worker; the header shows it once it runs.
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def drawn(pilot) -> None:
    """Until the pane and its chart show the session's latest snapshot, the session at rest."""
    app = pilot.app
    session = app.session
    pane = app.query_one(PlaybackPane)
    chart = app.query_one(CandleChart)
    await until(pilot, lambda: session.wait(0), "the session to settle")
    await until(pilot, lambda: pane._snapshot is session.snapshot(), "the pane to poll")

    def chart_current() -> bool:
        data, processed = chart.data, session.snapshot().bars_processed
        if processed == 0:
            return data is None  # nothing to draw yet
        return data is not None and data.key[2] == processed

    await until(pilot, chart_current, "the chart to draw")


async def strategy_dialog(pilot) -> OpenSessionScreen:
    """The open-session dialog, read, its fields' cursors still."""
    await gateway_running(pilot)
    dialog = await open_dialog(pilot)
    for field in dialog.query(Input):
        field.cursor_blink = False
    return dialog


def in_view(widget) -> bool:
    return widget.screen.region.contains_region(widget.region)
