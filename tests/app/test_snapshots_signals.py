"""What the Signals pane and its filter dialog look like, in each shipped theme. The populated
pane lists a finished speed-0 session on fixed synthetic bars: the same rows every run."""

from __future__ import annotations

import pytest

from ktrdr_tui.screens.signal_filter import Choice, SignalFilterScreen
from tests.conftest import TERMINAL_SIZE
from tests.support.app_harness import on_screen, until
from tests.support.signals_views import (
    populated,
)
from tests.support.snapshots import THEMES, gateway_running


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
        await until(pilot, lambda: on_screen(app, SignalFilterScreen), "the dialog")
        await pilot.press(*"rsi", "tab", "tab", "r")  # the decision field focused: rejected
        dialog = app.screen
        await until(
            pilot, lambda: dialog.query_one("#decision", Choice).value == "rejected", "rejected"
        )
        await pilot.pause()

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=filtering)
