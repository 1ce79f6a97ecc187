"""The Textual app: four panes, a header that says where the data comes from, and keys."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from textual import events, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header, TabbedContent, TabPane, Tabs

from engine.config import DEFAULT_THEME, Config, config_path
from engine.source import SourceChoice, choose_source
from ktrdr_tui.engine_handle import EngineHandle
from ktrdr_tui.footer import KeysFooter
from ktrdr_tui.messages import JobEnded, ServiceReady, SessionOpened, SweepEnded
from ktrdr_tui.screens.help import HelpScreen, HelpSections
from ktrdr_tui.screens.quit import QuitScreen
from ktrdr_tui.screens.type_ahead import type_ahead
from ktrdr_tui.theme_files import ThemeFiles, load_theme_files, remember_theme
from ktrdr_tui.widgets.jobs import JobsPane
from ktrdr_tui.widgets.playback import PlaybackPane
from ktrdr_tui.widgets.results import ResultsPane
from ktrdr_tui.widgets.signals import SignalsPane
from ktrdr_tui.widgets.trades_table import TradesTable
from ktrdr_tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.theme import Theme

    from engine.loading.load_job import LoadStatus
    from engine.loading.service import LoadService
    from engine.market.calendar import TradingCalendar
    from engine.session.playback import PlaybackSession
    from engine.sweep.job import SweepStatus
    from ktrdr_tui.screens.sweep_results import SweepResultsScreen

GATEWAY_POLL_S = 0.5  # the header's gateway state: often enough for its countdown
QUARANTINE_POLL_S = 1.0
# (id, title, widget) in the order of their keys 1, 2, 3.
PANES = [
    ("jobs", "Jobs", JobsPane),
    ("playback", "Playback", PlaybackPane),
    ("signals", "Signals", SignalsPane),
    ("results", "Results", ResultsPane),
]


def shown_in(widget: Widget, pane: Widget) -> bool:
    """`widget` is not hidden inside `pane` (`display: none` on it or a container between):
    Textual's `focusable` looks at the widget's own visibility only."""
    node: DOMNode | None = widget
    while node is not None and node is not pane:
        if not node.display:
            return False
        node = node.parent
    return True


class KtrdrApp(ReportsWorkerErrors, App[None]):
    """Draws and forwards keys. The engine objects are in `engine` (an EngineHandle), built
    here and handed to every pane: the panes poll it for high-rate data (snapshots, progress)
    and get its events (`ktrdr_tui.messages`) from the app. Nothing here waits on the engine.

    - `calendar`: the exchange calendar (None for the first moment while a worker reads it):
      all the new-load dialog needs, so `n` works before the LoadService is there.
    - `loads`, `session`: the engine's LoadService and PlaybackSession, read through.
    """

    CSS_PATH = "app.tcss"
    TITLE = "ktrdr-tui"

    BINDINGS = [
        # 1 2 3: from PANES. The tabs show these keys: the footer keeps its room for the
        # pane's own.
        *(
            Binding(
                str(n),
                f"show_pane('{pane_id}')",
                f"{title} pane",
                show=False,
                tooltip=f"the {title} pane",
                id=f"pane.{pane_id}",
            )
            for n, (pane_id, title, _) in enumerate(PANES, start=1)
        ),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help", id="help"),
        Binding("q", "quit", "Quit", tooltip="quit (asks first while jobs run)", id="quit"),
    ]

    calendar: var[TradingCalendar | None] = var(None, init=False)

    def __init__(self, config: Config, theme_files: ThemeFiles | None = None):
        super().__init__()
        self.config = config
        self._theme_files = theme_files if theme_files is not None else load_theme_files()
        for theme in self._theme_files.themes:
            self.register_theme(theme)
        self.theme = config.theme if config.theme in self.available_themes else DEFAULT_THEME
        self.set_keymap(dict(config.keymap))  # config.toml's `keymap`: binding id -> keys
        self.sub_title = "choosing a source…"
        self._source: SourceChoice | None = None
        # How many files each owner moved aside were notified (load and sweep journals, bars).
        self._quarantine_said = {"journals": 0, "sweeps": 0, "store": 0}
        self._gateway_state = ""
        self.engine = EngineHandle(config, self.post_message)
        self._panes: dict[str, Widget] = {}  # by pane id; on the main screen, under any dialog
        self._theme_lock = threading.Lock()  # config.toml is written by one worker at a time

    def compose(self) -> ComposeResult:
        yield Header(icon="≋")
        with TabbedContent(initial="jobs"):
            for number, (pane_id, title, pane) in enumerate(PANES, start=1):
                with TabPane(f"{number} {title}", id=pane_id):
                    self._panes[pane_id] = pane(self.engine, id=f"{pane_id}-pane")
                    yield self._panes[pane_id]
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        # Panes switch with 1 2 3; a focused tab bar would only swallow the panes' keys.
        self.query_one(TabbedContent).query_one(Tabs).can_focus = False
        self._focus_pane("jobs")
        for problem in self._theme_files.problems:
            self.notify(problem, title="Theme skipped", severity="warning", timeout=10)
        if self.config.theme not in self.available_themes:
            self.notify(
                f"Unknown theme {self.config.theme!r}; using {DEFAULT_THEME}.",
                severity="warning",
            )
        self.theme_changed_signal.subscribe(self, self._theme_picked)
        self._read_calendar()
        if self.config.source == "auto":
            self._probe_source()
        else:
            self.show_source(choose_source(self.config))  # nothing to probe

    @property
    def loads(self) -> LoadService | None:
        return self.engine.loads

    @property
    def session(self) -> PlaybackSession | None:
        return self.engine.session

    @session.setter
    def session(self, session: PlaybackSession) -> None:
        self.engine.open_session(session)

    def on_unmount(self) -> None:
        self.engine.close()  # running loads and sweeps end as interrupted: resumable
        gc.unfreeze()  # what was frozen with the app (its own widgets too) can go with it

    def _theme_picked(self, _theme: Theme) -> None:
        self._remember_theme()

    @work(thread=True, group="theme", exit_on_error=False, description="remember the theme")
    def _remember_theme(self) -> None:
        """The theme picked in the command palette is the one the next start opens with."""
        path = config_path()
        with self._theme_lock:  # one write at a time, each of the theme shown by then
            try:
                remember_theme(self.theme, path)
            except (OSError, ValueError) as exc:  # a read-only or broken config: go on
                self.notify(f"The theme is not remembered: {path}: {exc}", severity="warning")

    @work(
        thread=True,
        exclusive=True,
        group="calendar",
        exit_on_error=False,
        description="read the exchange calendar",
    )
    def _read_calendar(self) -> None:
        # pandas and exchange_calendars take most of a second to import: never on the event
        # loop, and side by side with the source probe.
        from engine.market.calendar import calendar_for

        calendar = calendar_for()
        self.call_from_thread(setattr, self, "calendar", calendar)
        self.engine.open_sweeps(calendar)

    @work(
        thread=True,
        exclusive=True,
        group="source",
        exit_on_error=False,
        description="choose the source",
    )
    def _probe_source(self) -> None:
        # A connect to a closed loopback port fails at once, but a remote gateway may not
        # answer for a while: never on the event loop.
        choice = choose_source(self.config)
        self.call_from_thread(self.show_source, choice)

    def show_source(self, choice: SourceChoice) -> None:
        self._source = choice
        self._gateway_state = "starting…" if choice.source == "sim" else ""
        self._open_when_ready()
        self._show_header()

    def watch_calendar(self) -> None:
        self._open_when_ready()

    def _open_when_ready(self) -> None:
        """The load service needs the source and the calendar; whichever comes last opens it."""
        if self._source is not None and self.calendar is not None:
            self._open_load_service(self._source, self.calendar)

    @work(
        thread=True,
        exclusive=True,
        group="load-service",
        exit_on_error=False,
        description="start the data service",
    )
    def _open_load_service(self, choice: SourceChoice, calendar: TradingCalendar) -> None:
        # Imports pyarrow and the IB client, and for `sim` starts the gateway: never on the
        # event loop, so the first frame does not wait for them.
        from engine.loading.service import LoadService

        store = self.engine.store(calendar)
        service = LoadService.for_config(self.config, choice, calendar=calendar, store=store)
        self.engine.service_ready(service)  # posts ServiceReady
        # What is alive now is mostly the program itself (the modules of textual, pandas,
        # pyarrow, the IB client: some 100,000 objects) and lives as long as the app. Out of
        # the collector's way, a full collection walks only what the app makes as it runs:
        # half the pause, every time one comes (`bench/bench_app.py`). After the service is
        # handed over: a load asked for meanwhile need not wait for the collection.
        gc.collect()
        gc.freeze()

    def on_service_ready(self, message: ServiceReady) -> None:
        service = message.service
        # Files found unreadable (load and sweep journals as the services open or as the Jobs
        # pane reads them, bar files as loads merge into them) are moved aside: say which, and
        # where to.
        self._say_quarantined()
        self.set_interval(QUARANTINE_POLL_S, self._say_quarantined)
        if service.source == "sim":
            self._gateway_state = "running"
            self.log.info("simulated IB Gateway running")
        else:
            # Connected from now on, not from the first load: the header says at once whether
            # the gateway answers, and if not why, and counts down to the next try.
            service.keep_connected()
            self.set_interval(GATEWAY_POLL_S, self._show_header)
        self._show_header()
        self.tell_panes(message)

    def on_job_ended(self, message: JobEnded) -> None:
        self.tell_panes(message)

    def on_session_opened(self, message: SessionOpened) -> None:
        self.tell_panes(message)

    def on_sweep_ended(self, message: SweepEnded) -> None:
        self.tell_panes(message)

    def tell_panes(self, message: ServiceReady | JobEnded | SessionOpened | SweepEnded) -> None:
        """Hand an engine event on to every pane (messages bubble up, not down): a copy each,
        as a message is handled once."""
        for pane in self._panes.values():
            pane.post_message(replace(message))  # refused, harmlessly, once the pane closed

    def _say_quarantined(self) -> None:
        assert self.loads is not None
        sweeps = self.engine.sweeps  # None for the first moment: its journals are not read yet
        for name, moved in (
            ("journals", self.loads.journals.quarantined),
            ("sweeps", sweeps.store.quarantined if sweeps is not None else []),
            ("store", self.loads.store.quarantined),
        ):
            # The lists only grow (appended by the engine's threads): read past what was said.
            new = moved[self._quarantine_said[name] :]
            self._quarantine_said[name] += len(new)
            for file in new:
                self.notify(file.describe(), title="Quarantined", severity="warning", timeout=15)

    def _show_header(self) -> None:
        if self._source is None:
            return
        gateway = self.loads.gateway_status() if self.loads is not None else None
        state = gateway.describe() if gateway is not None else self._gateway_state
        self.sub_title = self._source.describe() + (f" · {state}" if state else "")

    def on_trades_table_trade_chosen(self, message: TradesTable.TradeChosen) -> None:
        """Enter on a trade in Results: the Playback chart at its entry."""
        self.action_show_pane("playback")
        playback = self._panes["playback"]
        assert isinstance(playback, PlaybackPane)
        # Once the pane is laid out again: how far past the entry to go is the chart's width.
        self.call_after_refresh(playback.show_trade, message.entry_time, message.symbol)

    def on_sweep_results_screen_backtest_opened(
        self, message: SweepResultsScreen.BacktestOpened
    ) -> None:
        """Enter on a sweep's result: its backtest in Playback, as the open-session dialog's."""
        self.action_show_pane("playback")
        playback = self._panes["playback"]
        assert isinstance(playback, PlaybackPane)
        playback.adopt(message.opened)

    def on_key(self, event: events.Key) -> None:
        type_ahead(self.screen.focused, event)  # a key typed as a dialog opened: into its field

    def action_show_pane(self, pane_id: str) -> None:
        self.query_one(TabbedContent).active = pane_id
        self._focus_pane(pane_id)  # now: the next key may already be for that pane

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # A tab clicked. Its message comes after `action_show_pane` has focused the pane, and
        # maybe after the next key has shown another: only the pane still shown is focused.
        pane_id = event.pane.id or ""
        if pane_id == self.query_one(TabbedContent).active:
            self._focus_pane(pane_id)

    def _focus_pane(self, pane_id: str) -> None:
        # The pane's keys apply while focus is inside it: hand focus to its main widget.
        pane = self._panes[pane_id]
        target = next((w for w in pane.query("*") if w.focusable and shown_in(w, pane)), pane)
        # At once, not as `focus()` does (later): a key typed in the same burst (`2 o`) is
        # already queued, and must find the new pane's bindings.
        self.screen.set_focus(target)

    def running_loads(self) -> list[LoadStatus]:
        """The loads of this process that have not ended."""
        if self.loads is None:
            return []
        return [s for s in self.loads.statuses(persisted=False) if not s.state.ended]

    def running_sweeps(self) -> list[SweepStatus]:
        """The sweeps of this process that have not ended."""
        if self.engine.sweeps is None:
            return []
        return [s for s in self.engine.sweeps.statuses(persisted=False) if not s.state.ended]

    async def action_quit(self) -> None:
        """`q`, ctrl+q and the palette's Quit: with loads or sweeps running, ask first (on
        quitting, `on_unmount` stops them: they stay resumable)."""
        loads, sweeps = self.running_loads(), self.running_sweeps()
        if not loads and not sweeps:
            self.exit()
        elif not isinstance(self.screen, QuitScreen):
            self.push_screen(QuitScreen(loads, sweeps), self._quit_answered)

    def _quit_answered(self, confirmed: bool | None) -> None:
        if confirmed:
            self.exit()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_sections(), self.config.keymap))

    def help_sections(self) -> HelpSections:
        """The app's keys, then each pane's (its own widgets' too), from their bindings."""
        palette = Binding(
            self.COMMAND_PALETTE_BINDING,
            "command_palette",
            tooltip="command palette (themes, panes, quit)",
        )
        everywhere = [*self.BINDINGS, palette]
        sections: HelpSections = [("Everywhere", [b for b in everywhere if isinstance(b, Binding)])]
        for pane_id, title, _ in PANES:
            nodes = self._panes[pane_id].walk_children(with_self=True)
            sections.append(
                (title, [b for n in nodes for b in n.BINDINGS if isinstance(b, Binding)])
            )
        return sections

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        # The app's own keys (panes, help), from their bindings; quit is Textual's already.
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.action != "quit":
                yield SystemCommand(
                    binding.description,
                    f"Show {binding.tooltip}",
                    partial(self.run_action, binding.action),
                )
