"""The Textual app: three panes, a header that says where the data comes from, and keys."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from engine.config import DEFAULT_THEME, Config, GatewayAddress
from engine.source import SourceChoice, choose_source
from ktrdr_tui.screens.help import HelpScreen
from ktrdr_tui.theme_files import ThemeFiles, load_theme_files
from ktrdr_tui.widgets.panes import JobsPane, PlaybackPane, SignalsPane

if TYPE_CHECKING:
    from engine.ib.sim_gateway import SimulatedGateway

# (id, title, widget) in the order of their keys 1, 2, 3.
PANES = [
    ("jobs", "Jobs", JobsPane),
    ("playback", "Playback", PlaybackPane),
    ("signals", "Signals", SignalsPane),
]


class KtrdrApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "ktrdr-tui"

    BINDINGS = [
        Binding("1", "show_pane('jobs')", "Jobs", id="pane.jobs"),
        Binding("2", "show_pane('playback')", "Playback", id="pane.playback"),
        Binding("3", "show_pane('signals')", "Signals", id="pane.signals"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, config: Config, theme_files: ThemeFiles | None = None):
        super().__init__()
        self.config = config
        self._theme_files = theme_files if theme_files is not None else load_theme_files()
        for theme in self._theme_files.themes:
            self.register_theme(theme)
        self.theme = config.theme if config.theme in self.available_themes else DEFAULT_THEME
        self.sub_title = "choosing a source…"
        self._source: SourceChoice | None = None
        self._gateway_state = ""
        self._sim_gateway: SimulatedGateway | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="≋")
        with TabbedContent(initial="jobs"):
            for number, (pane_id, title, pane) in enumerate(PANES, start=1):
                with TabPane(f"{number} {title}", id=pane_id):
                    yield pane(id=f"{pane_id}-pane")
        yield Footer()

    def on_mount(self) -> None:
        for problem in self._theme_files.problems:
            self.notify(problem, title="Theme skipped", severity="warning", timeout=10)
        if self.config.theme not in self.available_themes:
            self.notify(
                f"Unknown theme {self.config.theme!r}; using {DEFAULT_THEME}.",
                severity="warning",
            )
        if self.config.source == "auto":
            self._probe_source()
        else:
            self.show_source(choose_source(self.config))  # nothing to probe

    def on_unmount(self) -> None:
        if self._sim_gateway is not None:
            self._sim_gateway.stop()

    @work(thread=True, exclusive=True, group="source")
    def _probe_source(self) -> None:
        # A connect to a closed loopback port fails at once, but a remote gateway may not
        # answer for a while: never on the event loop.
        choice = choose_source(self.config)
        self.call_from_thread(self.show_source, choice)

    def show_source(self, choice: SourceChoice) -> None:
        self._source = choice
        if choice.source == "sim":
            self._gateway_state = "starting…"
            self._start_sim_gateway()
        self._show_header()

    @work(thread=True, exclusive=True, group="sim-gateway")
    def _start_sim_gateway(self) -> None:
        from engine.ib.sim_gateway import GatewaySettings, SimulatedGateway

        # `fast` pacing: IB's rules with windows 60 times shorter, so demos keep moving.
        gateway = SimulatedGateway(GatewaySettings(pacing="fast"))
        address = gateway.start_in_thread()
        self.call_from_thread(self._sim_gateway_started, gateway, address)

    def _sim_gateway_started(self, gateway: SimulatedGateway, address: GatewayAddress) -> None:
        self._sim_gateway = gateway
        self._gateway_state = "running"
        self.log.info(f"simulated IB Gateway running on {address}")
        self._show_header()

    def _show_header(self) -> None:
        if self._source is not None:
            state = f" · {self._gateway_state}" if self._gateway_state else ""
            self.sub_title = self._source.describe() + state

    def action_show_pane(self, pane_id: str) -> None:
        self.query_one(TabbedContent).active = pane_id

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pane_id, title, _ in PANES:
            yield SystemCommand(
                f"{title} pane",
                f"Show the {title} pane",
                lambda p=pane_id: self.action_show_pane(p),
            )
        yield SystemCommand("Help", "Show every key", self.action_help)
