"""The open-session dialog lists every strategy the catalog finds: the user's files in the
strategies folder too, each with its defaults and description, and runs them; a file that
cannot be loaded is a line in the dialog, never a crash."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Checkbox, Input

from engine.session.playback import PlaybackState
from engine.strategy.builtins import BUILTINS
from engine.strategy.catalog import strategies_dir
from ktrdr_tui.screens.open_session import STRATEGIES_HINT
from tests.app.test_app_playback import TIMEOUT_S, open_dialog, store_minute_bars
from tests.support.app_harness import until
from tests.support.plugins import EXAMPLES, install_package


def shows(widget, text: str) -> bool:
    return text in str(widget.render())


async def test_the_dialog_lists_and_runs_a_strategy_from_the_folder(make_app, tmp_path) -> None:
    store_minute_bars(tmp_path / "store")
    mine = strategies_dir() / "volume_breakout.py"
    mine.parent.mkdir(parents=True)
    mine.write_text((EXAMPLES / "volume_breakout.py").read_text())
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        names = [box.label.plain for box in dialog.query(Checkbox)]
        assert names == [*(cls.name for cls in BUILTINS), "volume_breakout"]
        spec = dialog.query_one("#spec-volume_breakout", Input)
        assert spec.value == "volume_breakout:lookback=20,volume_factor=1,confirm_sells=false"
        about = dialog.query_one("#strategy-about")
        assert shows(about, STRATEGIES_HINT)
        spec.focus()
        await until(pilot, lambda: shows(about, f"volume_breakout (file {mine}): Buy a close"))
        # Checked as typed, by the strategy's own parameter types and rules.
        problem = dialog.query_one("#problem")
        spec.value = "volume_breakout:lookback=x"
        await until(pilot, lambda: shows(problem, "lookback must be a whole number, got 'x'"))
        spec.value = "volume_breakout:volume_factor=-1"
        await until(pilot, lambda: shows(problem, "volume_factor must be 0 or more, got -1"))
        spec.value = "volume_breakout:lookback=10"
        for cls in BUILTINS:
            dialog.query_one(f"#use-{cls.name}", Checkbox).value = False
        await until(pilot, lambda: shows(problem, "Ready"))
        await pilot.press("enter")
        await until(pilot, lambda: app.session is not None, "the session")
        session = app.session
        assert session.signal_log.strategies == (
            "volume_breakout:lookback=10,volume_factor=1,confirm_sells=false",
        )
        session.set_speed(0)
        session.play()
        ended = (PlaybackState.DONE, PlaybackState.FAILED)
        await until(pilot, lambda: session.snapshot().state in ended, "the end")
        assert session.wait(TIMEOUT_S)
        snapshot = session.snapshot()
        assert (snapshot.state, snapshot.error) == (PlaybackState.DONE, "")
        assert snapshot.signals > 0


async def test_a_file_that_cannot_be_loaded_is_said_and_the_others_listed(
    make_app, tmp_path: Path
) -> None:
    store_minute_bars(tmp_path / "store")
    folder = strategies_dir()
    folder.mkdir(parents=True)
    (folder / "draft.py").write_text("from engine.strategy import Strategy\nundefined_name\n")
    (folder / "breakout.py").write_text((EXAMPLES / "breakout.py").read_text())
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        problems = dialog.query_one("#strategy-problems")
        assert problems.display
        assert shows(
            problems,
            f"Skipped: file {folder / 'draft.py'}: cannot load: NameError: name "
            "'undefined_name' is not defined (line 2)",
        )
        assert dialog.query_one("#spec-breakout", Input).value == "breakout:lookback=20"
        assert shows(dialog.query_one("#problem"), "Ready")


async def test_the_dialog_lists_a_strategy_of_an_installed_package(
    make_app, tmp_path: Path, monkeypatch
) -> None:
    store_minute_bars(tmp_path / "store")
    install_package(
        tmp_path / "site",
        "acme_dialog",
        (EXAMPLES / "breakout.py").read_text(),
        {"breakout": "acme_dialog:Breakout"},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    app = make_app()
    async with app.run_test() as pilot:
        dialog = await open_dialog(pilot)
        spec = dialog.query_one("#spec-breakout", Input)
        assert spec.value == "breakout:lookback=20"
        spec.focus()
        about = dialog.query_one("#strategy-about")
        await until(pilot, lambda: shows(about, "breakout (entry point breakout (acme_dialog))"))
        assert not dialog.query_one("#strategy-problems").display
