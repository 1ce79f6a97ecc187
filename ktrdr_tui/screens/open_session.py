"""`o` in the Playback pane: pick stored bars, a range and strategies; enter opens the session.

Every strategy of the catalog (built-in, installed, the user's files) has a row: ticked, its
spec with the defaults written out; the one being edited says what it does. The catalog and the
store are read in a thread (user files run; the calendar and the Parquet footers take a
moment); the fields are checked by `backtest_request`, the function the `backtest` command
uses, in a thread too, and its one-line reason shows under the fields. The dialog hands back
a session that is set up but not started: the pane starts it, paused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from ktrdr_tui.widgets.speed_slider import speed_label
from ktrdr_tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from engine.market.calendar import TradingCalendar
    from engine.market.store import BarStore
    from engine.session.playback import PlaybackSession
    from engine.session.request import BacktestRequest
    from engine.strategy.catalog import Catalog

DEFAULT_SESSIONS = 20  # the range a dataset opens with: its last 20 sessions
EMPTY_STORE = "No stored bars — load some in Jobs (1, then n)"
CHECK_DELAY_S = 0.15  # the fields are checked once typing pauses this long
STRATEGIES_HINT = "Your own strategies: *.py in the strategies folder (ktrdr-tui strategies)"


@dataclass(frozen=True)
class DatasetChoice:
    """A stored dataset as the dialog lists it, with the range it proposes."""

    symbol: str
    timeframe: str
    first: str  # session dates, YYYY-MM-DD
    last: str
    bars: int
    quality_pct: float
    start: str  # the proposed range: the last DEFAULT_SESSIONS sessions
    end: str

    @property
    def label(self) -> str:
        return (
            f"{self.symbol:<6} {self.timeframe:>3}  {self.first} → {self.last}  "
            f"{self.bars:>9,} bars  {self.quality_pct:5.1f}%"
        )


@dataclass(frozen=True)
class OpenedSession:
    """What the dialog hands back: a session set up (not started) and how to show it."""

    session: PlaybackSession
    request: BacktestRequest
    timezone: str  # the exchange's, e.g. America/New_York

    @property
    def title(self) -> str:
        r = self.request
        return f"{r.symbol} {r.timeframe} {r.first:%Y-%m-%d} → {r.last:%Y-%m-%d}"


@dataclass(frozen=True)
class StrategyChoice:
    """A strategy as the dialog lists it: its spec with every default written out."""

    name: str
    spec: str
    about: str  # the first paragraph of its description, and where it comes from


def strategy_choices(catalog: Catalog) -> list[StrategyChoice]:
    """One per strategy name of `catalog` (a name defined twice is one row, whose spec then
    says so)."""
    from engine.strategy.spec import default_spec

    choices = []
    for name in catalog.names:
        entry = next(e for e in catalog.entries if e.strategy.name == name)
        description = entry.strategy.description().split("\n\n")[0]
        about = " ".join(f"{name} ({entry.origin}): {description}".split())
        choices.append(StrategyChoice(name, default_spec(entry.strategy), about))
    return choices


def dataset_choices(store: BarStore, calendar: TradingCalendar) -> list[DatasetChoice]:
    """Every non-empty dataset in the store with its summary and proposed range."""
    from engine.market.timeframes import TIMEFRAME_SECONDS

    choices = []
    for key in store.datasets():
        summary = store.summary(key.symbol, key.timeframe)
        if summary.first is None or summary.last is None:
            continue
        seconds = TIMEFRAME_SECONDS[key.timeframe]
        sessions = calendar.sessions_of_bars(seconds, summary.first, summary.last)
        if not sessions:
            continue
        proposed = sessions[-DEFAULT_SESSIONS:]
        choices.append(
            DatasetChoice(
                key.symbol,
                key.timeframe,
                f"{sessions[0].date:%Y-%m-%d}",
                f"{sessions[-1].date:%Y-%m-%d}",
                summary.bars,
                summary.quality_pct,
                f"{proposed[0].date:%Y-%m-%d}",
                f"{proposed[-1].date:%Y-%m-%d}",
            )
        )
    return choices


class OpenSessionScreen(ReportsWorkerErrors, ModalScreen["OpenedSession | None"]):
    DEFAULT_CSS = """
    OpenSessionScreen {
        align: center middle;
    }
    OpenSessionScreen > Vertical {
        width: 84;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 2;
    }
    OpenSessionScreen .dialog-title {
        text-style: bold;
        color: $primary;
        margin: 1 0;
    }
    OpenSessionScreen Label {
        color: $text-muted;
    }
    OpenSessionScreen OptionList {
        height: auto;
        max-height: 7;
        margin-bottom: 1;
    }
    OpenSessionScreen #datasets-status {
        color: $text-muted;
        margin-bottom: 1;
    }
    OpenSessionScreen Horizontal {
        height: auto;
    }
    OpenSessionScreen .range Label {
        width: 7;
    }
    OpenSessionScreen .range Input {
        width: 14;
        margin-right: 3;
    }
    OpenSessionScreen #strategies {
        height: auto;
        max-height: 4;  /* more strategies scroll: the buttons stay in view */
        margin-top: 1;
    }
    OpenSessionScreen #strategy-about {
        color: $text-muted;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    OpenSessionScreen #strategy-problems {
        color: $warning;
        height: auto;
    }
    OpenSessionScreen .strategy Checkbox {
        width: 20;
    }
    OpenSessionScreen .strategy Input {
        width: 1fr;
    }
    OpenSessionScreen #problem {
        color: $error;
        height: auto;
        margin-top: 1;
    }
    OpenSessionScreen #problem.-ok {
        color: $text-muted;
    }
    OpenSessionScreen .buttons {
        margin: 1 0;
    }
    OpenSessionScreen Button {
        margin-right: 2;
    }
    """

    BINDINGS = [
        Binding("enter", "open", "Open", priority=True, id="open-session.open"),
        Binding("escape", "cancel", "Cancel", id="open-session.cancel"),
    ]

    def __init__(
        self,
        store_for: Callable[[TradingCalendar], BarStore],
        speed: float = 0.0,
        strategy_files: Sequence[Path] = (),
    ):
        """`store_for`: the app's one store of the data dir (EngineHandle.store);
        `strategy_files`: config.toml's, loaded with the other strategies."""
        super().__init__()
        self._store_for = store_for
        self._speed = speed
        self._strategy_files = tuple(strategy_files)
        self._catalog: Catalog | None = None
        self._strategies: list[StrategyChoice] = []
        self._choices: list[DatasetChoice] = []
        self._store: BarStore | None = None
        self._calendar: TradingCalendar | None = None
        self._opening = False
        self._check_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Open a playback session", classes="dialog-title")
            yield Label("Stored bars")
            yield Static("Reading the store…", id="datasets-status")
            yield OptionList(id="datasets")
            with Horizontal(classes="range"):
                yield Label("Start", classes="field-label")
                yield Input(placeholder="YYYY-MM-DD", id="start", compact=True)
                yield Label("End", classes="field-label")
                yield Input(placeholder="YYYY-MM-DD", id="end", compact=True)
            # A row per strategy, once the catalog is read; the rows take the focus, not the list.
            yield VerticalScroll(id="strategies", can_focus=False)
            yield Static(STRATEGIES_HINT, id="strategy-about")
            yield Static("", id="strategy-problems")
            yield Static("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button("Open", variant="primary", id="open", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
            yield Label(
                f"enter opens (paused, speed {speed_label(self._speed)}) · escape cancels · "
                "tab moves between fields"
            )

    def on_mount(self) -> None:
        self.query_one("#datasets", OptionList).display = False
        self.query_one("#strategy-problems", Static).display = False
        self._read_store()

    # -- the store --------------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        group="open-session-store",
        exit_on_error=False,
        description="read the store",
    )
    def _read_store(self) -> None:
        from engine.market.calendar import calendar_for
        from engine.market.store import StoreError
        from engine.strategy.catalog import load_catalog

        # The user's strategy files run when loaded: here, off the UI thread, before the store
        # (its check needs them). A file that fails is a line in the dialog, never a crash.
        catalog = load_catalog(self._strategy_files)
        self.app.call_from_thread(self._catalog_read, catalog)
        try:
            calendar = calendar_for()
            store = self._store_for(calendar)
            choices = dataset_choices(store, calendar)
        except (OSError, StoreError) as exc:
            self.app.call_from_thread(self._store_failed, f"Cannot read the store: {exc}")
            return
        self.app.call_from_thread(self._store_read, store, calendar, choices)

    def _catalog_read(self, catalog: Catalog) -> None:
        if not self.is_attached:
            return
        self._catalog, self._strategies = catalog, strategy_choices(catalog)
        self.query_one("#strategies", VerticalScroll).mount_all(
            Horizontal(
                Checkbox(choice.name, value=True, id=f"use-{choice.name}", compact=True),
                Input(choice.spec, id=f"spec-{choice.name}", compact=True),
                classes="strategy",
            )
            for choice in self._strategies
        )
        if catalog.problems:
            problems = self.query_one("#strategy-problems", Static)
            problems.update("\n".join(f"Skipped: {problem}" for problem in catalog.problems))
            problems.display = True

    def on_descendant_focus(self) -> None:
        """Under the strategies: what the one being edited does, else where they come from."""
        focused = self.focused.id if self.focused is not None else None
        about = next(
            (c.about for c in self._strategies if focused in (f"use-{c.name}", f"spec-{c.name}")),
            STRATEGIES_HINT,
        )
        self.query_one("#strategy-about", Static).update(about)

    def _store_failed(self, message: str) -> None:
        if self.is_attached:
            self.query_one("#datasets-status", Static).update(message)

    def _store_read(
        self, store: BarStore, calendar: TradingCalendar, choices: list[DatasetChoice]
    ) -> None:
        if not self.is_attached:
            return  # closed while the store was read
        self._store, self._calendar, self._choices = store, calendar, choices
        status = self.query_one("#datasets-status", Static)
        options = self.query_one("#datasets", OptionList)
        if not choices:
            status.update(EMPTY_STORE)
            return
        status.display = False
        options.add_options([Option(choice.label, id=str(i)) for i, choice in enumerate(choices)])
        options.display = True
        options.highlighted = 0
        options.focus()
        self._propose_range(choices[0])

    @on(OptionList.OptionHighlighted, "#datasets")
    def _dataset_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index < len(self._choices):
            self._propose_range(self._choices[event.option_index])

    def _propose_range(self, choice: DatasetChoice) -> None:
        with self.prevent(Input.Changed):
            self.query_one("#start", Input).value = choice.start
            self.query_one("#end", Input).value = choice.end
        self._check()

    # -- checking ---------------------------------------------------------------------------

    @property
    def choice(self) -> DatasetChoice | None:
        index = self.query_one("#datasets", OptionList).highlighted
        if index is None or index >= len(self._choices):
            return None
        return self._choices[index]

    def fields(self) -> tuple[str, str, list[str]]:
        """The range and the specs of the ticked strategies, as typed."""
        specs = [
            self.query_one(f"#spec-{choice.name}", Input).value.strip()
            for choice in self._strategies
            if self.query_one(f"#use-{choice.name}", Checkbox).value
        ]
        return (
            self.query_one("#start", Input).value.strip(),
            self.query_one("#end", Input).value.strip(),
            specs,
        )

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self._check()

    def _check(self) -> None:
        """Check the fields a moment after the last change (not once per keystroke)."""
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(CHECK_DELAY_S, self._check_now)

    def _check_now(self) -> None:
        self._check_timer = None
        choice = self.choice
        if choice is None or self._opening:
            return
        self._validate(choice, *self.fields())

    @work(
        thread=True,
        exclusive=True,
        group="open-session-check",
        exit_on_error=False,
        description="check the range",
    )
    def _validate(self, choice: DatasetChoice, start: str, end: str, specs: list[str]) -> None:
        problem = self._problem(choice, start, end, specs)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_problem, problem)

    def _problem(self, choice: DatasetChoice, start: str, end: str, specs: list[str]) -> str:
        try:
            self._request(choice, start, end, specs)
        except ValueError as exc:
            return str(exc)
        return ""

    def _request(
        self, choice: DatasetChoice, start: str, end: str, specs: list[str]
    ) -> BacktestRequest:
        from engine.session.request import backtest_request

        assert self._store is not None and self._calendar is not None
        return backtest_request(
            self._store,
            self._calendar,
            choice.symbol,
            choice.timeframe,
            start,
            end,
            specs,
            self._speed,
            catalog=self._catalog,
        )

    def _show_problem(self, problem: str) -> None:
        if self._opening or not self.is_attached:
            return
        label = self.query_one("#problem", Static)
        label.set_class(not problem, "-ok")
        label.update(problem or "Ready: enter opens the session.")

    # -- opening ----------------------------------------------------------------------------

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, Button) and focused.id == "cancel":
            self.dismiss(None)
            return
        choice = self.choice
        if choice is None or self._opening:
            return
        self._opening = True
        problem = self.query_one("#problem", Static)
        problem.set_class(True, "-ok")
        problem.update(f"Reading {choice.symbol} {choice.timeframe} bars…")
        self._open(choice, *self.fields())

    @on(Button.Pressed, "#open")
    def _open_pressed(self) -> None:
        self.action_open()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(
        thread=True,
        exclusive=True,
        group="open-session-open",
        exit_on_error=False,
        description="open the session",
    )
    def _open(self, choice: DatasetChoice, start: str, end: str, specs: list[str]) -> None:
        from engine.session.request import BacktestInputError, open_session

        try:
            request = self._request(choice, start, end, specs)
            assert self._store is not None and self._calendar is not None
            session = open_session(self._store, self._calendar, request)
        except BacktestInputError as exc:
            self.app.call_from_thread(self._open_failed, str(exc))
            return
        except Exception as exc:  # never a crash: the reason goes under the fields
            self.app.call_from_thread(self._open_failed, f"{type(exc).__name__}: {exc}")
            return
        assert self._calendar is not None
        self.app.call_from_thread(
            self._opened, OpenedSession(session, request, self._calendar.timezone)
        )

    def _opened(self, opened: OpenedSession) -> None:
        if self.is_attached and self.is_current:
            self.dismiss(opened)
        # else: cancelled while the bars were read; the session never started

    def _open_failed(self, message: str) -> None:
        self._opening = False
        self._show_problem(message)
