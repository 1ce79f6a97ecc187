"""The session-file dialogs at 80x24, the smallest terminal the app promises to fit: saving the
open-session dialog's fields under a name, and the picker of saved files with a bad one's line."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList

from engine.session.session_file import sessions_dir
from ktrdr_tui.screens.session_files import SaveSessionScreen, SessionFilesScreen
from tests.support.app_flows import shows, store_minute_bars
from tests.support.app_harness import on_screen, until
from tests.support.snapshots import SMALL, THEMES, in_view, strategy_dialog

GOOD = """\
symbols = ["AAPL", "MSFT"]
timeframe = "1m"
start = "2024-03-04"
end = "2024-03-08"

[[strategy]]
name = "rsi"
"""


@pytest.mark.parametrize("theme", THEMES)
def test_save_session_dialog(snap_compare, make_app, tmp_path: Path, theme: str) -> None:
    """ctrl+s: the name proposed from the symbols and timeframe, and where it saves."""
    store_minute_bars(tmp_path / "store")

    async def saving(pilot) -> None:
        await strategy_dialog(pilot)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: on_screen(pilot.app, SaveSessionScreen), "the dialog")
        screen = pilot.app.screen
        screen.query_one("#name", Input).cursor_blink = False
        await until(pilot, lambda: shows(screen.query_one("#where"), "Saves ~/"), "the line")
        await pilot.pause()

    assert snap_compare(make_app(theme), terminal_size=SMALL, run_before=saving)


@pytest.mark.parametrize("theme", THEMES)
def test_session_files_with_a_bad_one(snap_compare, make_app, tmp_path: Path, theme: str) -> None:
    """ctrl+o: two files, the bad one chosen: its one line, naming the file and the key."""
    store_minute_bars(tmp_path / "store")
    folder = sessions_dir()
    folder.mkdir(parents=True)
    (folder / "two-symbols.toml").write_text(GOOD)
    (folder / "broken.toml").write_text('symbols = ["AAPL"]\nmax_positions = 5\n')

    async def picked(pilot) -> None:
        await strategy_dialog(pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: on_screen(pilot.app, SessionFilesScreen), "picker")
        screen = pilot.app.screen
        files = screen.query_one("#files", OptionList)
        await until(pilot, lambda: files.option_count == 2, "the files")
        await pilot.press("enter")  # broken.toml, the first
        await until(pilot, lambda: shows(screen.query_one("#line"), "unknown key"), "the line")
        await pilot.pause()
        assert in_view(screen.query_one(".hint"))

    assert snap_compare(make_app(theme), terminal_size=SMALL, run_before=picked)
