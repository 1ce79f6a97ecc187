"""`m` in the Playback pane: the session's metrics report in a dialog, kept current while it is
open; escape (or `m` again) closes it; without a session the key says why."""

from __future__ import annotations

from pathlib import Path

from engine.session.metrics import MetricsReport, StageMetrics
from engine.session.playback import PlaybackState
from ktrdr_tui.metrics_view import summary
from ktrdr_tui.screens.help import keys_text
from ktrdr_tui.screens.metrics import NO_SESSION as METRICS_NO_SESSION
from ktrdr_tui.screens.metrics import MetricsScreen
from ktrdr_tui.widgets.playback import NO_SESSION
from tests.support.app_flows import open_session, store_minute_bars
from tests.support.app_harness import on_screen, until


def caption(app) -> str:
    """The summary under the dialog's table: bars, batches, trading days, bars/s."""
    return str(app.screen.query_one("#metrics-table").content.caption)


async def test_m_shows_the_playing_sessions_metrics_until_escape(make_app, tmp_path: Path) -> None:
    total = store_minute_bars(tmp_path / "store")
    app = make_app()
    async with app.run_test() as pilot:
        session = await open_session(pilot)
        await pilot.press("m")
        await until(pilot, lambda: on_screen(app, MetricsScreen), "the metrics")
        assert caption(app).startswith("0 bars in 0 batches · 0 trading days")

        # Played to the end while open: the table follows the session's latest report.
        session.set_speed(0)
        session.play()
        await until(pilot, lambda: session.snapshot().state is PlaybackState.DONE, "the end")
        report = session.snapshot().metrics
        assert report.bars == total and report.trading_days == 5  # a week of 1m bars
        await until(pilot, lambda: caption(app) == summary(report), "the table to follow")

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, MetricsScreen), "escape")
        await pilot.press("m")
        await until(pilot, lambda: on_screen(app, MetricsScreen), "the metrics again")
        await pilot.press("m")
        await until(pilot, lambda: not isinstance(app.screen, MetricsScreen), "m closes too")


async def test_the_help_lists_m_among_the_playback_keys(make_app) -> None:
    app = make_app()
    async with app.run_test():
        sections = dict(app.help_sections())
        text = keys_text([("Playback", sections["Playback"])], {})
        line = "  [$accent]       m[/]  metrics: time per stage, bars, batches"
        assert line in text.splitlines()


async def test_m_without_a_session_says_how_to_open_one(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("2", "m")
        await pilot.pause()
        assert not isinstance(app.screen, MetricsScreen)
        assert [n.message for n in app._notifications] == [NO_SESSION]


async def test_the_dialog_says_so_once_the_session_is_gone(make_app) -> None:
    reports: list[MetricsReport | None] = [StageMetrics().report()]
    app = make_app()
    async with app.run_test() as pilot:
        await app.push_screen(MetricsScreen(lambda: reports[-1]))
        assert caption(app).startswith("0 bars")
        reports.append(None)  # another session opened, or none
        table = app.screen.query_one("#metrics-table")
        await until(pilot, lambda: table.content == METRICS_NO_SESSION, "the dialog to say so")
