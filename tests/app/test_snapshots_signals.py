"""What the Signals pane and its filter dialog look like, in each shipped theme. The populated
pane lists a finished speed-0 session on fixed synthetic bars: the same rows every run."""

from __future__ import annotations

import pytest

from ktrdr_tui.screens.signal_filter import Choice, SignalFilterScreen
from ktrdr_tui.widgets.signals import SignalsPane
from tests.app.test_app_signals import (
    caught_up,
    cursor_on_newest_and_visible,
    new_session,
    played,
)
from tests.conftest import TERMINAL_SIZE
from tests.support.app_harness import until

THEMES = ["ktrdr-dark", "ktrdr-light"]


async def gateway_running(pilot) -> None:
    # The in-process gateway starts in a worker; the header shows it once it runs.
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def populated(pilot, following: bool = True) -> None:
    """A week of AAPL 1m bars played to the end; the pane shown, following the newest row
    (or, not following, left at the first)."""
    await gateway_running(pilot)
    app = pilot.app
    await pilot.press("3")
    if not following:
        await pilot.press("f")
    session = played(new_session())
    app.session = session  # what the Playback pane does when a session is opened
    await caught_up(pilot, session)
    table = app.query_one(SignalsPane).table
    if following:
        await until(pilot, lambda: cursor_on_newest_and_visible(app), "the newest row")
    # The scrollbar follows the scroll on a later refresh: a busy machine may not be there yet.
    await until(pilot, lambda: table.vertical_scrollbar.position == table.scroll_y, "the scrollbar")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


@pytest.mark.parametrize("theme", THEMES)
def test_empty_pane(snap_compare, make_app, theme: str) -> None:
    assert snap_compare(
        make_app(theme), press=["3"], terminal_size=TERMINAL_SIZE, run_before=gateway_running
    )


@pytest.mark.parametrize("theme", THEMES)
def test_populated_pane(snap_compare, make_app, theme: str) -> None:
    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=populated)


@pytest.mark.parametrize("theme", THEMES)
def test_filter_dialog(snap_compare, make_app, theme: str) -> None:
    async def filtering(pilot) -> None:
        # Not following: nothing scrolls. (A screen under a dialog is not repainted, so a
        # scroll still being drawn when the dialog opens could show either way.)
        await populated(pilot, following=False)
        app = pilot.app
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, SignalFilterScreen), "the dialog")
        await pilot.press(*"rsi", "tab", "tab", "r")  # the decision field focused: rejected
        dialog = app.screen
        await until(
            pilot, lambda: dialog.query_one("#decision", Choice).value == "rejected", "rejected"
        )
        await pilot.pause()

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=filtering)
