"""The app's side of the CLI's checks: a range with sessions missing is refused before a session
opens, and journals moved aside at start are announced with their paths."""

from __future__ import annotations

import json
from pathlib import Path

from ktrdr_tui.screens.open_session import OpenSessionScreen
from tests.support.app_harness import on_screen, until
from tests.support.bar_fixtures import FIRST, LAST, store_bars


async def test_the_open_dialog_refuses_a_range_with_a_session_missing(make_app, tmp_path) -> None:
    store_bars(tmp_path / "store", drop=slice(390 * 2, 390 * 3))  # 2024-03-06 has no bar
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("2", "o")
        await until(
            pilot,
            lambda: on_screen(app, OpenSessionScreen) and app.screen.query("#problem"),
            "the dialog",
        )
        dialog = app.screen
        problem = dialog.query_one("#problem")
        await until(pilot, lambda: dialog.choice is not None, "the store to be read")
        dialog.query_one("#start").value = FIRST
        dialog.query_one("#end").value = LAST
        await until(pilot, lambda: "has no bars in 1 of the 10" in str(problem.render()), "why")
        assert "2024-03-06" in str(problem.render())
        assert "ktrdr-tui load AAPL --timeframe 1m --start 2024-03-06" in str(problem.render())
        await pilot.press("enter")
        await pilot.pause()
        assert app.session is None and app.screen is dialog


async def test_a_journal_quarantined_at_start_is_announced_with_its_paths(
    make_app, tmp_path: Path
) -> None:
    jobs = tmp_path / "store" / "jobs"
    jobs.mkdir(parents=True)
    bad = jobs / "abc123.json"
    bad.write_text(json.dumps({"version": 1, "job_id": "abc123", "pid": "abc"}))
    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.loads is not None, "the load service")
        await pilot.pause()
        (note,) = [n for n in app._notifications if n.title == "Quarantined"]
        moved = next((tmp_path / "store" / "quarantine" / "jobs").iterdir())
        assert note.message == f"{bad} is unreadable (no field 'symbol'); moved to {moved}"
        assert not bad.exists()


async def test_files_quarantined_while_the_app_runs_are_announced(make_app, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.loads is not None, "the load service")
        jobs = tmp_path / "store" / "jobs"
        jobs.mkdir(parents=True, exist_ok=True)
        bad = jobs / "def456.json"
        bad.write_text(json.dumps({"version": 1, "job_id": "def456", "pid": 2**70}))
        # The Jobs pane notices the new journal, reads it and moves it aside: the app says so.
        await until(
            pilot,
            lambda: any(n.title == "Quarantined" for n in app._notifications),
            "the notice",
        )
        (note,) = [n for n in app._notifications if n.title == "Quarantined"]
        assert note.message.startswith(f"{bad} is unreadable (")
        assert not bad.exists()
