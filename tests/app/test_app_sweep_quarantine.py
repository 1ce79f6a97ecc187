"""A sweep journal the app finds damaged is moved aside by the sweep store and announced as a
load journal is: one notification naming the file and where it went."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.app_harness import until


def quarantined(app) -> list[str]:
    return [n.message for n in app._notifications if n.title == "Quarantined"]


async def test_a_damaged_sweep_journal_found_at_start_is_announced_once(
    make_app, tmp_path: Path
) -> None:
    sweeps = tmp_path / "store" / "jobs" / "sweeps"
    sweeps.mkdir(parents=True)
    bad = sweeps / "abc123.json"
    bad.write_text(json.dumps({"version": 1, "job_id": "abc123"}))
    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: quarantined(app), "the notice")
        moved = next((tmp_path / "store" / "quarantine" / "jobs" / "sweeps").iterdir())
        assert quarantined(app) == [f"{bad} is unreadable (no field 'request'); moved to {moved}"]
        assert not bad.exists()
        app._say_quarantined()  # the next look says nothing new
        assert len(quarantined(app)) == 1


async def test_a_sweep_journal_damaged_while_the_app_runs_is_announced(
    make_app, tmp_path: Path
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.loads is not None and app.engine.sweeps is not None)
        sweeps = tmp_path / "store" / "jobs" / "sweeps"
        sweeps.mkdir(parents=True, exist_ok=True)
        bad = sweeps / "def456.json"
        bad.write_text("{not json")
        # The Jobs pane notices the new journal, reads it and moves it aside: the app says so.
        await until(pilot, lambda: quarantined(app), "the notice")
        (note,) = quarantined(app)
        moved = next((tmp_path / "store" / "quarantine" / "jobs" / "sweeps").iterdir())
        assert note.startswith(f"{bad} is unreadable (") and note.endswith(f"moved to {moved}")
        assert not bad.exists()
