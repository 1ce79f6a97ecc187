"""Pilot tests of the shell: the keys a person presses and what the app does."""

from __future__ import annotations

import socket
from pathlib import Path

from textual.containers import VerticalScroll
from textual.widgets import Footer, TabbedContent
from textual.widgets._footer import FooterKey

from engine.config import Config, GatewayAddress, load_config
from ktrdr_tui.app import KtrdrApp
from ktrdr_tui.screens.help import HelpScreen
from ktrdr_tui.theme_files import load_theme_files, shipped_themes_dir
from tests.support.app_harness import on_screen, until


async def test_number_keys_switch_panes(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        tabs = app.query_one(TabbedContent)
        assert tabs.active == "jobs"
        await pilot.press("2")
        assert tabs.active == "playback"
        await pilot.press("3")
        assert tabs.active == "signals"
        await pilot.press("4")
        assert tabs.active == "results"
        await pilot.press("1")
        assert tabs.active == "jobs"


async def test_a_tab_message_late_for_a_pane_left_does_not_take_the_focus_back(make_app) -> None:
    """`3 4` typed fast: the Signals tab's message may reach the app after `4` has shown and
    focused Results; it must not focus the Signals table (hidden, the keys then finding none
    of the Results pane's)."""
    app = make_app()
    async with app.run_test() as pilot:
        tabs = app.query_one(TabbedContent)
        await pilot.press("3", "4")
        results = app.query_one("#results-pane")
        assert tabs.active == "results" and app.screen.focused is results
        signals_tab = tabs.get_tab("signals")
        app.post_message(TabbedContent.TabActivated(tabs, signals_tab))  # the late one
        await pilot.pause()
        assert tabs.active == "results" and app.screen.focused is results
        # A tab clicked is shown and focused.
        await pilot.click(f"#{signals_tab.id}")
        assert tabs.active == "signals" and app.screen.focused is app.query_one("#signals-table")


async def test_help_opens_and_closes(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_help_scrolls_at_80x24_and_keeps_how_to_close_it_in_view(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        help_screen = app.screen
        scroll = help_screen.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0  # more keys than rows
        await pilot.press("down", "down")
        assert scroll.scroll_y > 0
        close = help_screen.query(".help-hint").last()
        assert "escape closes" in str(close.render())
        assert help_screen.region.contains_region(close.region)


async def test_the_footer_keeps_help_and_quit_at_80_columns(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for pane in ("1", "2", "3", "4"):  # Playback has the most keys
            await pilot.press(pane)
            await pilot.pause()
            keys = {key.key: key for key in app.query_one(Footer).query(FooterKey)}
            pinned = [keys["question_mark"], keys["q"], keys["ctrl+p"]]
            for key in pinned:
                assert app.screen.region.contains_region(key.region), key.key
            regions = [key.region for key in pinned]
            assert not any(a.overlaps(b) for i, a in enumerate(regions) for b in regions[i + 1 :])


async def test_q_quits(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


async def test_command_palette_switches_theme(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        assert app.theme == "ktrdr-dark"
        await pilot.press("ctrl+p")
        await pilot.press(*"theme")
        await pilot.press("enter")
        await pilot.press(*"ktrdr-light")
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "ktrdr-light"


async def test_the_theme_picked_in_the_palette_is_the_one_the_next_start_uses(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p", *"theme", "enter", *"nord", "enter")
        await until(pilot, lambda: app.theme == "nord")
        await app.workers.wait_for_complete()
    assert load_config().theme == "nord"  # written to config.toml
    again = make_app(theme=load_config().theme)
    async with again.run_test():
        assert again.theme == "nord"


async def test_command_palette_switches_panes(make_app) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"signals pane")
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "signals"


async def test_theme_from_config_is_applied(make_app) -> None:
    app = make_app(theme="ktrdr-light")
    async with app.run_test():
        assert app.theme == "ktrdr-light"
        assert not app.current_theme.dark


async def test_invalid_theme_file_is_reported_and_skipped(tmp_path: Path, make_app) -> None:
    extra = tmp_path / "themes"
    extra.mkdir()
    (extra / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (extra / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\n')
    files = load_theme_files(shipped_themes_dir(), extra)
    app = KtrdrApp(Config(source="sim", data_dir=tmp_path), files)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "mine" in app.available_themes
        assert "broken" not in app.available_themes
        # Textual keeps no public list of notifications; its private one is the plain truth.
        messages = [notification.message for notification in app._notifications]
        assert any("broken.toml" in message and "primary" in message for message in messages)


async def header_with_gateway_at(port: int, tmp_path: Path) -> str:
    config = Config(source="auto", gateway=GatewayAddress("127.0.0.1", port), data_dir=tmp_path)
    app = KtrdrApp(config, load_theme_files(shipped_themes_dir()))
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        return app.sub_title


async def test_auto_source_finds_a_listening_gateway(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        header = await header_with_gateway_at(port, tmp_path)
    assert header.startswith(f"IB Gateway at 127.0.0.1:{port}")


async def test_auto_source_falls_back_to_sim(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    # The port is closed again: nothing answers there.
    header = await header_with_gateway_at(port, tmp_path)
    assert header == f"simulated IB Gateway (auto: nothing answers at 127.0.0.1:{port}) · running"


async def test_sim_source_runs_an_in_process_gateway_clients_can_use(make_app) -> None:
    import ib_insync

    app = make_app()
    async with app.run_test() as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.sub_title == "simulated IB Gateway (source set to sim) · running"
        address = app.loads.bar_source.address
        assert address.host == "127.0.0.1"
        ib = ib_insync.IB()
        await ib.connectAsync(address.host, address.port, clientId=21, timeout=10)
        try:
            assert ib.isConnected()
            details = await ib.reqContractDetailsAsync(ib_insync.Stock("IBM", "SMART", "USD"))
            assert details[0].contract.conId > 0
        finally:
            ib.disconnect()


async def test_a_pane_key_typed_in_one_burst_with_the_pane_switch_is_for_the_new_pane(
    make_app,
) -> None:
    from textual import events

    from ktrdr_tui.screens.open_session import OpenSessionScreen

    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.loads is not None, "the load service")
        # As a terminal delivers `2 o` typed fast: both keys queued before either is handled.
        for key in ("2", "o"):
            app.post_message(events.Key(key, key))
        await until(pilot, lambda: on_screen(app, OpenSessionScreen), "the dialog")
