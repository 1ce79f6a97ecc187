"""The app's one engine handle, its typed messages, its one worker error path, and the help and
keymap built from the bindings."""

from __future__ import annotations

import grimp
from textual.widgets import Static, TabbedContent

from engine.loading.service import LoadService
from ktrdr_tui.app import PANES, KtrdrApp
from ktrdr_tui.screens.help import HelpScreen
from tests.support.app_harness import on_screen, until


def help_text(app: KtrdrApp) -> str:
    assert isinstance(app.screen, HelpScreen)
    return "\n".join(str(static.render()) for static in app.screen.query(Static))


async def test_the_keymap_setting_remaps_a_binding_and_the_help_shows_it(make_app) -> None:
    app = make_app(keymap={"pane.signals": "f3"})
    async with app.run_test() as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "signals"
        await pilot.press("3")  # the key it replaced does nothing now
        await pilot.press("1", "3")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "jobs"
        await pilot.press("question_mark")
        await until(pilot, lambda: on_screen(app, HelpScreen), "the help")
        assert "f3  the Signals pane" in help_text(app)


async def test_the_help_lists_every_key_of_the_app_and_its_panes(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: on_screen(app, HelpScreen), "the help")
        shown = help_text(app)
        panes = [app.query_one(f"#{pane_id}-pane") for pane_id, _, _ in PANES]
        bindings = [
            b for pane in panes for n in pane.walk_children(with_self=True) for b in n.BINDINGS
        ]
        described = [b for b in [*app.BINDINGS, *bindings] if getattr(b, "tooltip", "")]
        assert len(described) >= 18  # every key the README lists
        for binding in described:
            assert binding.tooltip in shown, binding.id
        for title in ("Everywhere", *(title for _, title, _ in PANES)):
            assert title in shown


async def test_a_failing_worker_is_a_notification_not_a_crash(make_app, monkeypatch) -> None:
    def fails(cls, *args, **kwargs):
        raise RuntimeError("no room for the gateway\nsecond line")

    monkeypatch.setattr(LoadService, "for_config", classmethod(fails))
    app = make_app()
    async with app.run_test() as pilot:
        said = lambda: [n.message for n in app._notifications]  # noqa: E731
        await until(pilot, lambda: any("Cannot start the data service" in m for m in said()))
        assert "Cannot start the data service: no room for the gateway" in said()
        await pilot.press("2")  # still running, still answering keys
        await pilot.pause()
        assert app.is_running and app.query_one(TabbedContent).active == "playback"


async def test_the_app_keeps_one_bar_store_per_data_dir(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.loads is not None, "the load service")
        assert app.engine.store(app.loads.calendar) is app.loads.store


def test_the_job_detail_screen_does_not_import_the_jobs_pane() -> None:
    graph = grimp.build_graph("ktrdr_tui")
    chain = graph.find_shortest_chain(
        importer="ktrdr_tui.screens.job_detail", imported="ktrdr_tui.widgets.jobs"
    )
    assert chain is None, chain
