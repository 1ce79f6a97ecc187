"""`o` in the Playback pane: pick stored bars, a range and strategies; enter opens the session.

The stored bars chosen give the timeframe and propose their symbol and range; the symbols field
takes several (`AAPL MSFT`, or apart by commas): one account trades them all, every strategy on
every symbol, and each symbol is checked against the store as `backtest` checks it. ctrl+s
saves the fields as a session file in `<config-dir>/sessions/` (`backtest --session FILE` runs
it), ctrl+o opens one into them (ktrdr_tui.screens.session_files).

Every strategy of the catalog (built-in, installed, the user's files) has a row: ticked, the
timeframe it reads (the session's or one derived from it) and a field per parameter, typed by
its annotation (a checkbox for a bool) and filled with its default. A field is checked as it
is typed, by the parameter's own parser, and the one-line reason shows under the row; ctrl+n
adds a copy of the strategy under the cursor (the same strategy with other values or another
timeframe), ctrl+r removes a copy. The dialog builds the strategies' specs from the fields.

The catalog and the store are read in a thread (user files run; the calendar and the Parquet
footers take a moment). What only the strategy itself can say (how its values go together)
and the range are checked in a thread too, by `backtest_request`, the function the `backtest`
command uses; its one-line reason shows under the fields. The dialog hands back a session that
is set up but not started: the pane starts it, paused. At 80x24 the dialog scrolls between its
title and its buttons, which stay in view.

The trading rules (cash, order size, the gates, costs, shorts) sit under the strategies in a
section collapsed to a one-line summary: prefilled from config.toml (`Config.trading`), each
field checked as typed by `TradingRules.from_text`, the parser `backtest` and config.toml use,
whose one line shows under the fields; the session opens with them.

A range or a list where a value would go (`5..20/5` or `30|50` in a parameter's field, `0|0.005`
in a rule's) makes the dialog a sweep's (DESIGN.md, "Sweeps"): such a field is checked by the
sweep's grid parser, the line over the buttons counts the backtests the grid makes, and enter
starts the sweep (`start_sweep`, in a thread: it reads the bars) and shows it in the Jobs pane.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Collapsible, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from engine.session.session_file import (
    SessionFile,
    StrategyEntry,
    sessions_dir,
    toml_rules,
)
from engine.trading_rules import TradingRules
from ktrdr_tui.formatting import plural
from ktrdr_tui.widgets.speed_slider import speed_label
from ktrdr_tui.workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from engine.market.calendar import TradingCalendar
    from engine.market.store import BarStore
    from engine.session.playback import PlaybackSession
    from engine.session.request import BacktestRequest
    from engine.strategy.base import Parameter, Strategy
    from engine.strategy.catalog import Catalog, CatalogEntry
    from engine.strategy.spec import StrategySpec
    from engine.sweep.grid import Expansion, StrategyGrid
    from engine.sweep.journal import SweepRequest

DEFAULT_SESSIONS = 20  # the range a dataset opens with: its last 20 sessions
EMPTY_STORE = "No stored bars — load some in Jobs (1, then n)"
CHECK_DELAY_S = 0.15  # the fields are checked once typing pauses this long
STRATEGIES_HINT = "Your own strategies: *.py in the strategies folder (ktrdr-tui strategies)"
NO_SYMBOL = "No symbol: type one, or several apart by spaces (AAPL MSFT)."
NO_STRATEGY = "No strategy ticked: tick one (space) to open the session."
READY = "Ready: enter opens the session."
# What a field of each kind lets through as it is typed: digits, signs and points (an
# exponent's e for a float), and the `..`, `/` and `|` of a range or a list; the parser says
# what a text that gets through is wrong with.
TYPED = {int: r"[-+0-9./|]*", float: r"[-+0-9.eE/|]*"}


def holds_grid(text: str) -> bool:
    """A parameter's field holding a range or a list: a sweep's."""
    return ".." in text or "|" in text


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
        return f"{' '.join(r.symbols)} {r.timeframe} {r.first:%Y-%m-%d} → {r.last:%Y-%m-%d}"


@dataclass(frozen=True)
class Market:
    """What a session plays: the symbols typed (one account trades them all) and the chosen
    dataset's timeframe."""

    symbols: tuple[str, ...]
    timeframe: str

    @property
    def label(self) -> str:
        return f"{' '.join(self.symbols)} {self.timeframe}"


def parse_symbols(text: str) -> tuple[str, ...]:
    """The symbols field: one or several, apart by spaces or commas, in upper case; or a
    ValueError with the line the user sees (each checked by the store's rule)."""
    from engine.market.symbols import check_symbol

    symbols: list[str] = []
    for part in filter(None, re.split(r"[\s,]+", text)):
        symbol = check_symbol(part)
        if symbol in symbols:
            raise ValueError(f"{symbol} is typed twice")
        symbols.append(symbol)
    if not symbols:
        raise ValueError(NO_SYMBOL)
    return tuple(symbols)


@dataclass(frozen=True)
class SweepFields:
    """What the fields ask a sweep to try: the ticked rows' grids, and the lists of the rule
    fields on top of the rules the others make."""

    grids: tuple[StrategyGrid, ...]
    rules: TradingRules
    rule_lists: tuple[tuple[str, str], ...]  # (option, list text)

    def expansion(self) -> Expansion:
        """The backtests the sweep runs and how many it refuses, as it will count them."""
        from engine.sweep.grid import expand

        values = {option: rule_values(option, text) for option, text in self.rule_lists}
        return expand(
            self.grids, values, lambda texts: TradingRules.from_text(dict(texts), self.rules)
        )

    def request(self, market: Market, start: str, end: str) -> SweepRequest:
        from engine.sweep.journal import SweepRequest

        return SweepRequest(
            symbols=market.symbols,
            timeframe=market.timeframe,
            start=start,
            end=end,
            strategies=tuple(grid.text() for grid in self.grids),
            rules=self.rule_lists,
            base_rules=tuple(self.rules.texts().items()),
        )


def listed_strategies(catalog: Catalog) -> list[CatalogEntry]:
    """The entry of each strategy name of `catalog`; a name defined twice is left out (the
    catalog's problems say so, and a spec naming it is refused)."""
    entries = []
    for name in catalog.names:
        same = [entry for entry in catalog.entries if entry.strategy.name == name]
        if len(same) == 1:
            entries.append(same[0])
    return entries


class ParameterCheck(Validator):
    """A field's text as its parameter reads it, or a range or list as a sweep's grid parser
    does; the failure is the parser's one line."""

    def __init__(self, strategy: str, parameter: Parameter, catalog: Catalog):
        super().__init__()
        self.strategy, self.parameter, self.catalog = strategy, parameter, catalog

    def validate(self, value: str) -> ValidationResult:
        from engine.sweep.grid import parse_grid

        try:
            if holds_grid(value):
                parse_grid(f"{self.strategy}:{self.parameter.name}={value}", self.catalog)
            else:
                self.parameter.parse(value)
        except ValueError as exc:
            return self.failure(str(exc))
        return self.success()


class StrategyRow(Vertical):
    """One strategy of the session: ticked to run, the timeframe it reads and a field per
    parameter (a value, or a range or list of them for a sweep), the first problem of its
    fields under them."""

    def __init__(
        self,
        entry: CatalogEntry,
        id: str,
        catalog: Catalog,
        session_timeframe: str | None = None,
    ):
        """`catalog`: the one `entry` is from, where a grid finds its strategy;
        `session_timeframe`: the bars' of the dataset chosen, if one is."""
        super().__init__(id=id, classes="strategy")
        self.strategy: type[Strategy] = entry.strategy
        self._catalog = catalog
        description = entry.strategy.description().split("\n\n")[0]
        self.about = " ".join(f"{entry.strategy.name} ({entry.origin}): {description}".split())
        self.origin = entry.origin
        self._session_timeframe = session_timeframe
        self._problem = ""  # what the strategy said of its values (the check in a thread)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="strategy-head"):
            yield Checkbox(self.strategy.name, value=True, compact=True, classes="use")
            yield Static(self.origin, classes="origin", markup=False)
            yield Label("timeframe", classes="timeframe-label")
            yield self._timeframe_choice()
        parameters = self.strategy.parameters()
        with Grid(classes="parameters") as grid:
            grid.display = bool(parameters)
            for parameter in parameters:
                if parameter.kind is bool:
                    yield Checkbox(
                        parameter.name,
                        value=bool(parameter.default),
                        compact=True,
                        name=parameter.name,
                    )
                    continue
                with Horizontal(classes="parameter"):
                    yield Label(parameter.name)
                    yield Input(
                        parameter.show(parameter.default),
                        restrict=TYPED[parameter.kind],
                        validators=[ParameterCheck(self.strategy.name, parameter, self._catalog)],
                        compact=True,
                        name=parameter.name,
                    )
        yield Static("", classes="strategy-problem", markup=False)

    def on_mount(self) -> None:
        self.query_one(".strategy-problem", Static).display = False

    @property
    def used(self) -> bool:
        return self.query_one(".use", Checkbox).value

    def field(self, name: str) -> Input | Checkbox:
        """The field of parameter `name`."""
        return next(w for w in self.query("Input, .parameters Checkbox") if w.name == name)

    @staticmethod
    def _timeframes(session: str) -> list[tuple[str, str]]:
        """What a session on `session` bars publishes: its own first, then those derived."""
        from engine.market.timeframes import derivable

        return [(tf, tf) for tf in (session, *derivable(session))]

    def _timeframe_choice(self) -> Select[str]:
        """The list is made with the row, hidden (on any list) until a dataset gives the
        session's bars: a list mounted later could be read by the check before it is in."""
        session = self._session_timeframe
        choice = Select(
            self._timeframes(session or "1m"), allow_blank=False, compact=True, classes="timeframe"
        )
        choice.display = session is not None
        return choice

    def offer_timeframes(self, session: str) -> None:
        """The timeframes of another dataset's bars; a choice no longer offered goes back
        to the session's own."""
        if session == self._session_timeframe:
            return
        self._session_timeframe = session
        select = self.query_one(".timeframe", Select)
        options = self._timeframes(session)
        kept = select.value if select.display and select.value in dict(options) else session
        select.set_options(options)
        select.value = kept
        select.display = True

    @property
    def timeframe(self) -> str | None:
        """The timeframe chosen, None for the session's own (or while no dataset is)."""
        select = self.query_one(".timeframe", Select)
        if not select.display or select.value == self._session_timeframe:
            return None
        return str(select.value)

    @property
    def sweeps(self) -> bool:
        """A field holds a range or a list."""
        return any(holds_grid(field.value) for field in self.query(".parameters Input"))

    def _value(self, parameter: Parameter, field: Input | Checkbox) -> bool | int | float:
        """A field's value, or a StrategySpecError with the parameter's parser's line
        (`sma_crossover: fast must be a whole number, got ''`)."""
        from engine.strategy.spec import StrategySpecError

        if isinstance(field, Checkbox):
            return field.value
        try:
            return parameter.parse(field.value)
        except ValueError as exc:
            raise StrategySpecError(f"{self.strategy.name}: {exc}") from None

    def spec(self) -> StrategySpec:
        """The spec the fields make, or a StrategySpecError with the first field's problem.
        How the values go together is the strategy's to say: `StrategySpec.build`."""
        from engine.strategy.spec import StrategySpec

        values = tuple(
            (parameter.name, self._value(parameter, self.field(parameter.name)))
            for parameter in self.strategy.parameters()
        )
        return StrategySpec(self.strategy, values, self.timeframe)

    def grid(self) -> StrategyGrid:
        """The sweep's grid the fields make (a plain value is a one-value list), or a
        ValueError with the first field's problem: a value's as `spec` says it, a range's or
        a list's as the grid parser does."""
        from engine.sweep.grid import TIMEFRAME, parse_grid

        parts = []
        for parameter in self.strategy.parameters():
            field = self.field(parameter.name)
            text = field.value.strip() if isinstance(field, Input) else ""
            if not holds_grid(text):
                text = parameter.show(self._value(parameter, field))
            parts.append(f"{parameter.name}={text}")
        if self.timeframe is not None:
            parts.append(f"{TIMEFRAME}={self.timeframe}")
        return parse_grid(f"{self.strategy.name}:{','.join(parts)}", self._catalog)

    def field_problem(self) -> str:
        try:
            self.grid() if self.sweeps else self.spec()
        except ValueError as exc:
            return str(exc)
        return ""

    def show_problem(self, strategy_says: str | None = None) -> None:
        """Under the fields: the first field's problem, else what the strategy said of its
        values (`strategy_says`, when the check in a thread brings it back)."""
        if strategy_says is not None:
            self._problem = strategy_says
        text = self.field_problem() or self._problem
        line = self.query_one(".strategy-problem", Static)
        line.update(text)
        line.display = bool(text)


# Each trading rule's field: its label, and what it takes (under the fields while it is edited).
RULE_FIELDS = {
    "cash": ("cash", "cash: what the account starts with, like 100000"),
    "size": ("size", "size: shares per order like 100, or a percent of the equity like 10%"),
    "max_position": ("max position", "max position: shares held at most, long or short"),
    "min_confidence": ("min confidence", "min confidence: signals below it are rejected (0-1)"),
    "min_quality": ("min quality", "min quality: the day's data quality so far, in % (0-100)"),
    "short": ("short selling", "short selling: a SELL when flat opens a short, a BUY covers it"),
    "commission": (
        "commission",
        "commission: per share like 0.005, or a percent of the notional like 0.1%",
    ),
    "min_commission": ("min commission", "min commission: the least any fill costs, like 1.0"),
    "slippage": ("slippage", "slippage, against the trader: price units like 0.01 or 2bp"),
}


def rules_summary(rules: TradingRules) -> str:
    """The rules on one line, the most telling first: `100,000 cash · 100 shares, max 100 ·
    no costs · long only · confidence ≥ 0.5 · quality ≥ 95%`."""
    cash = f"{rules.cash:,.0f}" if rules.cash.is_integer() else f"{rules.cash:,.2f}"
    size = f"{rules.size} of equity" if rules.size.percent else f"{rules.size} shares"
    parts = [f"{cash} cash", f"{size}, max {rules.max_position:,}"]
    texts, costs = rules.texts(), rules.costs
    if costs.free:
        parts.append("no costs")
    else:
        if costs.per_share or costs.pct_of_notional or costs.min_commission:
            per = "/share" if costs.per_share else ""
            minimum = f" (min {texts['min_commission']})" if costs.min_commission else ""
            parts.append(f"commission {texts['commission']}{per}{minimum}")
        if costs.slippage or costs.slippage_bp:
            parts.append(f"slippage {texts['slippage']}")
    parts.append("shorts allowed" if rules.short else "long only")
    parts.append(f"confidence ≥ {texts['min_confidence']}")
    parts.append(f"quality ≥ {texts['min_quality']}%")
    return " · ".join(parts)


def rule_values(option: str, text: str) -> tuple[str, ...]:
    """A rule field's values: one, or a sweep's list (`0|0.005`) read by its grid parser."""
    from engine.sweep.grid import parse_rule_values

    return parse_rule_values(option, text) if "|" in text else (text,)


class RuleCheck(Validator):
    """A rule field's text (each value of a list) as `TradingRules.from_text` reads it; the
    failure is its line."""

    def __init__(self, option: str):
        super().__init__()
        self.option = option

    def validate(self, value: str) -> ValidationResult:
        try:
            for text in rule_values(self.option, value):
                TradingRules.from_text({self.option: text})
        except ValueError as exc:  # a RuleError, or a list's GridError
            return self.failure(str(exc))
        return self.success()


class RuleFields(Vertical):
    """A field per trading rule, prefilled from `rules`, and the first one's problem under
    them. `rules()` reads them; the section that holds them shows `summary()` collapsed."""

    def __init__(self, rules: TradingRules, id: str):
        super().__init__(id=id)
        self.base = rules

    def compose(self) -> ComposeResult:
        texts = self.base.texts()
        with Grid(classes="rule-fields"):
            for option, (label, _) in RULE_FIELDS.items():
                if option == "short":
                    yield Checkbox(label, value=self.base.short, compact=True, name=option)
                    continue
                with Horizontal(classes="rule"):
                    yield Label(label)
                    yield Input(
                        texts[option], validators=[RuleCheck(option)], compact=True, name=option
                    )
        yield Static("", classes="rules-problem", markup=False)

    def on_mount(self) -> None:
        self.query_one(".rules-problem", Static).display = False

    def field(self, option: str) -> Input | Checkbox:
        """The field of `option` (a config.toml key: `max_position`)."""
        return next(w for w in self.query("Input, Checkbox") if w.name == option)

    def lists(self) -> dict[str, str]:
        """The fields holding a sweep's list (`0|0.005`), by option."""
        texts = {option: self.field(option).value for option in RULE_FIELDS}
        return {o: t.strip() for o, t in texts.items() if isinstance(t, str) and "|" in t}

    def rules(self) -> TradingRules:
        """The rules the fields make (those holding a list left as `base` has them; see
        `swept`), or the first field's RuleError."""
        lists = self.lists()
        values = {o: self.field(o).value for o in RULE_FIELDS if o not in lists}
        return TradingRules.from_text(values, self.base)

    def swept(self) -> tuple[tuple[str, str], ...]:
        """The (option, list) pairs a sweep tries on top of `rules()`, each value checked:
        the first field's RuleError, or a list's GridError."""
        rules = self.rules()
        for option, text in self.lists().items():
            for value in rule_values(option, text):
                TradingRules.from_text({option: value}, rules)
        return tuple(self.lists().items())

    def problem(self) -> str:
        try:
            self.swept()
        except ValueError as exc:
            return str(exc)
        return ""

    def show_problem(self) -> None:
        """Under the fields: the first field's problem, else nothing."""
        text = self.problem()
        line = self.query_one(".rules-problem", Static)
        line.update(text)
        line.display = bool(text)

    def summary(self) -> str:
        """The section's title: the rules on one line and the lists a sweep tries, or the
        problem to fix."""
        if problem := self.problem():
            return f"Trading rules · ⚠ {problem}"
        lists = "".join(f" · sweeps {o} {t}" for o, t in self.lists().items())
        return f"Trading rules · {rules_summary(self.rules())}{lists}"


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
    OpenSessionScreen #dialog {
        width: 84;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 0 2;
        scrollbar-size-vertical: 1;
    }
    /* The title and the part from the focused strategy's line to the keys stay; the rest
       scrolls between them when the terminal is short. */
    OpenSessionScreen .dialog-title {
        dock: top;
        text-style: bold;
        color: $primary;
        background: $surface;
        padding: 1 0 0 0;  /* not a margin: what scrolls under it must not show through */
    }
    OpenSessionScreen #dialog-bottom {
        dock: bottom;
        height: auto;
    }
    OpenSessionScreen Label {
        color: $text-muted;
    }
    OpenSessionScreen #datasets {
        height: auto;
        max-height: 7;
        border-title-color: $text-muted;
    }
    OpenSessionScreen #datasets-status {
        color: $text-muted;
        margin-top: 1;
    }
    OpenSessionScreen Horizontal {
        height: auto;
    }
    OpenSessionScreen .range {
        margin-top: 1;
    }
    OpenSessionScreen .range Label {
        width: auto;
        margin-right: 1;
    }
    OpenSessionScreen .range Input {
        width: 12;
        margin-right: 3;
    }
    OpenSessionScreen .range #symbols {
        width: 1fr;
    }
    OpenSessionScreen .range #end {
        margin-right: 0;
    }
    OpenSessionScreen #strategies-title {
        margin-top: 1;
        width: 100%;
    }
    OpenSessionScreen #strategies {
        height: auto;
    }
    OpenSessionScreen .strategy {
        height: auto;
    }
    OpenSessionScreen .strategy-head .use {
        width: 22;
    }
    OpenSessionScreen .strategy-head .origin {
        width: 1fr;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    OpenSessionScreen .strategy-head .timeframe-label {
        margin: 0 1 0 2;
    }
    OpenSessionScreen .strategy-head Select {
        width: 7;
    }
    OpenSessionScreen .parameters {
        grid-size: 3;
        grid-gutter: 0 2;
        grid-rows: 1;
        height: auto;
        padding-left: 4;
    }
    OpenSessionScreen .parameter Label {
        margin-right: 1;
    }
    OpenSessionScreen .parameter Input {
        width: 1fr;
    }
    OpenSessionScreen .strategy-problem {
        color: $error;
        padding-left: 4;
        height: auto;
    }
    OpenSessionScreen #rules {
        background: $surface;
        border-top: none;
        padding: 0;
        margin-top: 1;
    }
    OpenSessionScreen #rules CollapsibleTitle {
        padding: 0;
        width: 100%;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    OpenSessionScreen #rules Contents {
        padding: 0 0 0 4;
    }
    OpenSessionScreen #rule-fields {
        height: auto;
    }
    OpenSessionScreen .rule-fields {
        grid-size: 3;
        grid-gutter: 0 2;
        grid-rows: 1;
        height: auto;
    }
    OpenSessionScreen .rule Label {
        margin-right: 1;
    }
    OpenSessionScreen .rule Input {
        width: 1fr;
    }
    OpenSessionScreen .rules-problem {
        color: $error;
        height: auto;
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
        margin-top: 1;
    }
    OpenSessionScreen #problem {
        color: $error;
        height: auto;
    }
    OpenSessionScreen #problem.-ok {
        color: $text-muted;
    }
    OpenSessionScreen .buttons {
        margin-top: 1;
    }
    OpenSessionScreen Button {
        margin-right: 2;
    }
    """

    BINDINGS = [
        Binding("enter", "open", "Open", priority=True, id="open-session.open"),
        Binding("escape", "cancel", "Cancel", id="open-session.cancel"),
        Binding("ctrl+n", "copy_strategy", "Copy strategy", id="open-session.copy"),
        Binding("ctrl+r", "remove_strategy", "Remove copy", id="open-session.remove"),
        Binding("ctrl+s", "save_session", "Save", id="open-session.save"),
        Binding("ctrl+o", "load_session", "Load", id="open-session.load"),
    ]

    def __init__(
        self,
        store_for: Callable[[TradingCalendar], BarStore],
        start_sweep: Callable[[SweepRequest], str],
        speed: float = 0.0,
        strategy_files: Sequence[Path] = (),
        rules: TradingRules | None = None,
        sessions_folder: Path | None = None,
    ):
        """`store_for`: the app's one store of the data dir (EngineHandle.store);
        `start_sweep`: starts a sweep and returns its job id (EngineHandle.start_sweep);
        `strategy_files`: config.toml's and the app's `--strategy-file`s, loaded with the
        other strategies; `rules`: config.toml's trading rules, the fields' first values;
        `sessions_folder`: where ctrl+s saves session files and ctrl+o finds them (default:
        `sessions/` beside config.toml)."""
        super().__init__()
        self._sessions_folder = sessions_folder or sessions_dir()
        self._store_for = store_for
        self._start_sweep = start_sweep
        self._speed = speed
        self._rules = rules or TradingRules()
        self._strategy_files = tuple(strategy_files)
        self._catalog: Catalog | None = None
        self._entries: dict[str, CatalogEntry] = {}  # by strategy name
        self._rows_made = 0  # each row's id is new, a removed one's is never reused
        self._choices: list[DatasetChoice] = []
        self._store: BarStore | None = None
        self._calendar: TradingCalendar | None = None
        self._opening = False
        self._loading = False  # a session file's keys going into the fields: no checks yet
        self._check_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog", can_focus=False):
            yield Static("Open a playback session", classes="dialog-title")
            yield Static("Reading the store…", id="datasets-status")
            yield OptionList(id="datasets")
            with Horizontal(classes="range"):
                yield Label("Symbols", classes="field-label")
                yield Input(placeholder="AAPL MSFT", id="symbols", compact=True)
                yield Label("Start", classes="field-label")
                yield Input(placeholder="YYYY-MM-DD", id="start", compact=True)
                yield Label("End", classes="field-label")
                yield Input(placeholder="YYYY-MM-DD", id="end", compact=True)
            yield Label(
                "Strategies · ctrl+n adds a copy of one · ctrl+r removes a copy",
                id="strategies-title",
            )
            # A row per strategy, once the catalog is read.
            yield Vertical(id="strategies")
            yield Static("", id="strategy-problems", markup=False)
            with Collapsible(title="Trading rules", id="rules"):
                yield RuleFields(self._rules, id="rule-fields")
            with Vertical(id="dialog-bottom"):
                yield Static(STRATEGIES_HINT, id="strategy-about", markup=False)
                yield Static("", id="problem", markup=False)
                with Horizontal(classes="buttons"):
                    yield Button("Open", variant="primary", id="open", compact=True)
                    yield Button("Cancel", id="cancel", compact=True)
                    yield Button("Save… ^s", id="save", compact=True)
                    yield Button("Load… ^o", id="load", compact=True)
                yield Label(self._keys(sweeping=False), id="keys")

    def _keys(self, sweeping: bool) -> str:
        enter = (
            "enter starts the sweep (in Jobs)"
            if sweeping
            else f"enter opens (paused, speed {speed_label(self._speed)})"
        )
        return f"{enter} · escape cancels · tab: next field"

    def on_mount(self) -> None:
        datasets = self.query_one("#datasets", OptionList)
        datasets.border_title = "Stored bars"
        datasets.display = False
        self.query_one("#strategy-problems", Static).display = False
        self._show_rules()
        self._read_store()

    # -- the store and the catalog ----------------------------------------------------------

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

    async def _catalog_read(self, catalog: Catalog) -> None:
        if not self.is_attached:
            return
        self._catalog = catalog
        self._entries = {entry.strategy.name: entry for entry in listed_strategies(catalog)}
        # Awaited, so the store's thread (waiting on this call) proposes a dataset only to
        # rows whose fields are in: the check reads them.
        await self.query_one("#strategies", Vertical).mount_all(
            self._new_row(entry) for entry in self._entries.values()
        )
        if catalog.problems:
            problems = self.query_one("#strategy-problems", Static)
            problems.update("\n".join(f"Skipped: {problem}" for problem in catalog.problems))
            problems.display = True

    def _new_row(self, entry: CatalogEntry) -> StrategyRow:
        self._rows_made += 1
        choice = self.choice if self._choices else None
        assert self._catalog is not None  # the rows are made once it is read
        return StrategyRow(
            entry,
            f"strategy-{self._rows_made}",
            self._catalog,
            choice.timeframe if choice else None,
        )

    @property
    def rows(self) -> list[StrategyRow]:
        """The rows of the form: not one ctrl+n is still mounting (its fields are not in
        yet) nor one ctrl+r is removing. The check's timer may run while either is under way:
        the key's action awaits the mount in the app's task, the timer runs in the dialog's."""
        return [row for row in self.query(StrategyRow) if row.is_mounted and not row._pruning]

    def on_descendant_focus(self) -> None:
        """Over the keys: what the strategy or the rule being edited does, else where the
        strategies come from."""
        focused = self.focused
        row = self._row_of(focused)
        if row is not None:
            about = row.about
        elif isinstance(focused, Input | Checkbox) and focused.name in RULE_FIELDS:
            about = RULE_FIELDS[focused.name][1]
        else:
            about = STRATEGIES_HINT
        self.query_one("#strategy-about", Static).update(about)

    @staticmethod
    def _row_of(widget: Widget | None) -> StrategyRow | None:
        while widget is not None and not isinstance(widget, StrategyRow):
            widget = widget.parent if isinstance(widget.parent, Widget) else None
        return widget

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
        with self.prevent(Input.Changed, Select.Changed):
            self.query_one("#symbols", Input).value = choice.symbol
            self.query_one("#start", Input).value = choice.start
            self.query_one("#end", Input).value = choice.end
            for row in self.rows:
                row.offer_timeframes(choice.timeframe)
        self._check()

    # -- copies of a strategy ---------------------------------------------------------------

    async def action_copy_strategy(self) -> None:
        """A row for another run of the strategy under the cursor, with its defaults, right
        after the last of its rows; the cursor goes to its first field."""
        row = self._row_of(self.focused)
        if row is None:
            self.notify("Move to a strategy (tab) to add a copy of it.", timeout=4)
            return
        last = [r for r in self.rows if r.strategy is row.strategy][-1]
        copy = self._new_row(self._entries[row.strategy.name])
        await self.query_one("#strategies", Vertical).mount(copy, after=last)
        self._focus_first_field(copy)
        self._check()

    @staticmethod
    def _focus_first_field(row: StrategyRow) -> None:
        fields = row.query(".parameters Input, .parameters Checkbox")
        (fields.first() if fields else row.query_one(".use", Checkbox)).focus()

    def action_remove_strategy(self) -> None:
        """Remove the row under the cursor, if it is a copy: every strategy keeps a row."""
        row = self._row_of(self.focused)
        if row is None:
            self.notify("Move to a copy of a strategy (tab) to remove it.", timeout=4)
            return
        same = [r for r in self.rows if r.strategy is row.strategy]
        if len(same) == 1:
            self.notify(
                f"{row.strategy.name} keeps one row: untick it (space) to leave it out.",
                timeout=4,
            )
            return
        neighbour = same[same.index(row) - 1] if same[0] is not row else same[1]
        row.remove()
        self._focus_first_field(neighbour)
        self._check()

    # -- checking ---------------------------------------------------------------------------

    @property
    def choice(self) -> DatasetChoice | None:
        index = self.query_one("#datasets", OptionList).highlighted
        if index is None or index >= len(self._choices):
            return None
        return self._choices[index]

    def market(self, choice: DatasetChoice) -> Market:
        """The symbols typed on the timeframe of `choice` (the dataset chosen), or a
        ValueError with the symbols field's problem."""
        return Market(parse_symbols(self.query_one("#symbols", Input).value), choice.timeframe)

    def _range(self) -> tuple[str, str]:
        return (
            self.query_one("#start", Input).value.strip(),
            self.query_one("#end", Input).value.strip(),
        )

    def fields(self) -> tuple[str, str, list[StrategySpec]]:
        """The range as typed and the specs of the ticked rows; a ValueError (its one line)
        when a field does not read or two rows make the same spec."""
        specs: list[StrategySpec] = []
        for row in self.rows:
            if not row.used:
                continue
            spec = row.spec()
            if spec in specs:
                raise ValueError(
                    f"{spec.label} is ticked twice: change a value or the timeframe of one"
                )
            specs.append(spec)
        return (*self._range(), specs)

    @property
    def sweeping(self) -> bool:
        """A ticked row's field or a rule's holds a range or a list: enter starts a sweep."""
        rows = any(row.used and row.sweeps for row in self.rows)
        return rows or bool(self.query_one(RuleFields).lists())

    def sweep_fields(self) -> SweepFields:
        """The grids of the ticked rows and the rules' lists; a ValueError (its one line)
        when a field does not read or two rows make the same grid."""
        grids: list[StrategyGrid] = []
        for row in self.rows:
            if not row.used:
                continue
            grid = row.grid()
            if grid in grids:
                raise ValueError(
                    f"{grid.name} is ticked twice with the same values: change a value or "
                    "the timeframe of one"
                )
            grids.append(grid)
        rules = self.query_one(RuleFields)
        return SweepFields(tuple(grids), rules.rules(), rules.swept())

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _changed(self, event: Input.Changed | Checkbox.Changed | Select.Changed) -> None:
        if self._loading:
            return  # checked once every field is in
        row = self._row_of(event.control)
        if row is not None:
            row.show_problem()  # a field's own problem at once; the strategy's after the check
        elif event.control.name in RULE_FIELDS:
            self._show_rules()
        self._check()

    def _show_rules(self) -> None:
        """The rules' problem under their fields, and in the section's title."""
        fields = self.query_one(RuleFields)
        fields.show_problem()
        self.query_one("#rules", Collapsible).title = fields.summary()
        self.call_after_refresh(self._keep_in_view)

    def _keep_in_view(self) -> None:
        """The field being edited in view, and the line under it: the lines under the fields
        and at the bottom (a problem may take two) change the room the dialog scrolls in."""
        focused = self.focused
        if focused is None or not self.is_attached:
            return
        rules, row = self.query_one(RuleFields), self._row_of(focused)
        if rules in focused.ancestors:
            rules.scroll_visible(animate=False)
        else:
            (row if row is not None else focused).scroll_visible(animate=False)

    def _check(self) -> None:
        """Check the fields a moment after the last change (not once per keystroke); the
        button and the keys say at once whether enter opens a session or starts a sweep."""
        if self._loading:
            return
        sweeping = self.sweeping
        self.query_one("#open", Button).label = "Sweep" if sweeping else "Open"
        self.query_one("#keys", Label).update(self._keys(sweeping))
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(CHECK_DELAY_S, self._check_now)

    def _check_now(self) -> None:
        self._check_timer = None
        choice = self.choice
        if choice is None or self._opening or self._loading:
            return
        try:
            market = self.market(choice)
            if self.sweeping:
                sweep = self.sweep_fields()
                if sweep.grids:
                    self._validate_sweep(market, *self._range(), sweep)
                else:
                    self._show_problem(NO_STRATEGY)
                return
            start, end, specs = self.fields()
            self.query_one(RuleFields).rules()
        except ValueError as exc:
            self._show_problem(str(exc))
            return
        if not specs:
            self._show_problem(NO_STRATEGY)
            return
        used = [row for row in self.rows if row.used]
        self._validate(market, start, end, specs, [row.id or "" for row in used])

    @work(
        thread=True,
        exclusive=True,
        group="open-session-check",
        exit_on_error=False,
        description="check the range",
    )
    def _validate(
        self,
        market: Market,
        start: str,
        end: str,
        specs: list[StrategySpec],
        row_ids: list[str],
    ) -> None:
        from engine.strategy.spec import StrategySpecError

        # Each strategy says how its values go together (user code: here, not in the UI).
        said = {}
        for row_id, spec in zip(row_ids, specs, strict=True):
            try:
                spec.build()
                said[row_id] = ""
            except StrategySpecError as exc:
                said[row_id] = str(exc)
        problem = next((text for text in said.values() if text), "")
        problem = problem or self._problem(market, start, end, specs)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_checked, said, problem)

    @work(
        thread=True,
        exclusive=True,
        group="open-session-check",
        exit_on_error=False,
        description="count the sweep's backtests",
    )
    def _validate_sweep(self, market: Market, start: str, end: str, sweep: SweepFields) -> None:
        problem, ready = self._sweep_problem(market, start, end, sweep)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_checked, {}, problem, ready)

    def _sweep_problem(
        self, market: Market, start: str, end: str, sweep: SweepFields
    ) -> tuple[str, str]:
        """What is wrong with the sweep, else what enter starts: `Sweep: 6 backtests (3
        refused)`. The strategies say which values they refuse (user code: in a thread)."""
        from engine.sweep.grid import refusal

        try:
            expansion = sweep.expansion()
        except ValueError as exc:  # a grid too big
            return str(exc), ""
        if not expansion.candidates:
            reasons = (refusal(spec) for grid in sweep.grids for spec in grid.candidates())
            reason = next((r for r in reasons if r), "the trading rules do not go together")
            return f"Every combination is refused ({reason})", ""
        first = list(expansion.candidates[0].specs)  # the range is checked as `backtest` does
        ready = f"Sweep: {plural(len(expansion.candidates), 'backtest')}"
        if expansion.refused:
            ready += f" ({expansion.refused:,} refused)"
        return self._problem(market, start, end, first), f"{ready} · enter starts it."

    def _show_checked(self, said: dict[str, str], problem: str, ready: str = READY) -> None:
        if self._opening or not self.is_attached:
            return
        for row in self.rows:
            row.show_problem(said.get(row.id or "", ""))  # an unticked row has nothing to say
        self._show_problem(problem, ready)

    def _problem(self, market: Market, start: str, end: str, specs: list[StrategySpec]) -> str:
        try:
            self._request(market, start, end, specs)
        except ValueError as exc:
            return str(exc)
        return ""

    def _request(
        self, market: Market, start: str, end: str, specs: list[StrategySpec]
    ) -> BacktestRequest:
        from engine.session.request import backtest_request

        assert self._store is not None and self._calendar is not None
        return backtest_request(
            self._store,
            self._calendar,
            market.symbols,
            market.timeframe,
            start,
            end,
            # The command's checks take spec texts; a label reads back to its spec.
            [spec.label for spec in specs],
            self._speed,
            catalog=self._catalog,
        )

    def _show_problem(self, problem: str, ready: str = READY) -> None:
        """The one line over the buttons: `problem`, else `ready` (what enter does)."""
        if self._opening or not self.is_attached:
            return
        label = self.query_one("#problem", Static)
        label.set_class(not problem, "-ok")
        label.update(problem or ready)
        self.call_after_refresh(self._keep_in_view)

    # -- session files ----------------------------------------------------------------------

    def session_file(self, choice: DatasetChoice) -> SessionFile:
        """The fields as a session file, what `backtest --session` runs (the app's speed is
        the slider's, not the file's); a ValueError (its one line) when a field does not read
        or holds a sweep's range or list."""
        from engine.market.dates import date_text

        if self.sweeping:
            raise ValueError("a session file holds one backtest: no ranges or lists (a sweep's)")
        market = self.market(choice)
        start, end, specs = self.fields()
        for name, text in (("start", start), ("end", end)):
            date_text(text, ValueError, name)
        if not specs:
            raise ValueError(NO_STRATEGY)
        rules = self.query_one(RuleFields).rules()
        return SessionFile(
            symbols=market.symbols,
            timeframe=market.timeframe,
            start=start,
            end=end,
            strategies=tuple(StrategyEntry(s.name, s.params, s.timeframe) for s in specs),
            rules=toml_rules(rules.texts()),  # every rule: config.toml cannot change the run
        )

    def action_save_session(self) -> None:
        from ktrdr_tui.screens.session_files import SaveSessionScreen

        choice = self.choice
        if choice is None or self._opening:
            self.notify("Nothing to save: choose stored bars first.", timeout=4)
            return
        try:
            session = self.session_file(choice)
        except ValueError as exc:
            self._show_problem(f"Cannot save: {exc}")
            return
        name = "-".join((*session.symbols, choice.timeframe))[:64]
        self.app.push_screen(SaveSessionScreen(self._sessions_folder, session, name), self._saved)

    def _saved(self, path: Path | None) -> None:
        if path is not None:
            self.notify(f"Session saved to {path} (ktrdr-tui backtest --session {path})")

    def action_load_session(self) -> None:
        from ktrdr_tui.screens.session_files import SessionFilesScreen

        if self._catalog is None or self._calendar is None or self._opening:
            self.notify("The store is still being read: a moment.", timeout=4)
            return
        choice = self.choice
        current = choice.timeframe if choice else None
        self.app.push_screen(
            SessionFilesScreen(self._sessions_folder, lambda file: self._fits(file, current)),
            self._load,
        )

    def _fits(self, file: SessionFile, current: str | None) -> str:
        """What keeps `file` from filling the fields (in the picker's thread: the strategies
        check their values): no stored bars of its timeframe (`current`, the dataset chosen,
        when it names none), a strategy the catalog lacks or cannot make."""
        from engine.market.timeframes import check_readable
        from engine.strategy.spec import StrategySpec

        timeframe = file.timeframe or current
        if timeframe is None or not any(c.timeframe == timeframe for c in self._choices):
            bars = f"{timeframe} bars" if timeframe else "bars"
            return f"no stored {bars} to play it on: load some in Jobs (1, then n)"
        for number, entry in enumerate(file.strategies, 1):
            try:
                spec = StrategySpec.parse(entry.spec, self._catalog)
                check_readable(spec.timeframe or timeframe, timeframe, spec.name)
            except ValueError as exc:
                return f"[[strategy]] {number}: {exc}"
            if spec.name not in self._entries:  # a name the catalog holds twice
                return f"[[strategy]] {number}: {spec.name} is defined twice (see Skipped)"
        return ""

    async def _load(self, file: SessionFile | None) -> None:
        """The file's keys into the fields (one it leaves out keeps its field; the rules it
        leaves out are config.toml's); the checks run as after any change."""
        if file is None or not self.is_attached or self._opening:
            return
        self._loading = True
        try:
            await self._fill(file)
        finally:
            self._loading = False
        for row in self.rows:
            row.show_problem()
        self._show_rules()
        self.query_one("#symbols", Input).focus()
        self._check()

    async def _fill(self, file: SessionFile) -> None:
        # The dataset chosen gives the timeframe: the one chosen if it has the file's, else
        # the first symbol's (a file that names none plays the one chosen).
        current = self.choice
        timeframe = file.timeframe or (current.timeframe if current else "")
        symbol = file.symbols[0] if file.symbols else ""
        same = [i for i, c in enumerate(self._choices) if c.timeframe == timeframe]
        if current is not None and current.timeframe == timeframe:
            index = self._choices.index(current)
        else:
            index = next((i for i in same if self._choices[i].symbol == symbol), same[0])
        if self._choices[index] != current:
            with self.prevent(OptionList.OptionHighlighted):
                self.query_one("#datasets", OptionList).highlighted = index
            self._propose_range(self._choices[index])
        for field, value in (
            ("#symbols", " ".join(file.symbols)),
            ("#start", file.start),
            ("#end", file.end),
        ):
            if value:
                self.query_one(field, Input).value = value
        if file.strategies:
            await self._load_strategies(file.strategies)
        rules = file.trading_rules(self._rules)
        fields = self.query_one(RuleFields)
        for option, text in rules.texts().items():
            field = fields.field(option)
            if isinstance(field, Checkbox):
                field.value = rules.short
            else:
                field.value = text

    async def _load_strategies(self, entries: Sequence[StrategyEntry]) -> None:
        """A row per entry, in the file's order (the order signals of one bar are decided
        in), then an unticked row for each other strategy."""
        named = {entry.name for entry in entries}
        rows = [self._new_row(self._entries[entry.name]) for entry in entries]
        rows += [self._new_row(e) for name, e in self._entries.items() if name not in named]
        container = self.query_one("#strategies", Vertical)
        await container.remove_children()
        await container.mount_all(rows)
        for row, entry in zip(rows, entries, strict=False):
            texts = entry.texts()
            for parameter in row.strategy.parameters():
                if parameter.name not in texts:
                    continue  # the default, as the file leaves it
                value = parameter.parse(texts[parameter.name])
                field = row.field(parameter.name)
                if isinstance(field, Checkbox):
                    field.value = bool(value)
                else:
                    field.value = parameter.show(value)
            if entry.timeframe:
                row.query_one(".timeframe", Select).value = entry.timeframe
        for row in rows[len(entries) :]:
            row.query_one(".use", Checkbox).value = False

    # -- opening ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # enter in an open timeframe list (a Select's own option list) picks a timeframe, on
        # the trading rules' title it opens or closes them; it opens the session elsewhere.
        focused = self.focused
        in_list = isinstance(focused, OptionList) and isinstance(focused.parent, Select)
        on_title = focused is not None and isinstance(focused.parent, Collapsible)
        return not (action == "open" and (in_list or on_title))

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, Button) and focused.id == "cancel":
            self.dismiss(None)
            return
        choice = self.choice
        if choice is None or self._opening:
            return
        try:
            market = self.market(choice)
            if self.sweeping:
                sweep = self.sweep_fields()
                if sweep.grids:
                    self._reading(market)
                    self._sweep(sweep.request(market, *self._range()), sweep)
                else:
                    self._show_problem(NO_STRATEGY)
                return
            start, end, specs = self.fields()
            rules = self.query_one(RuleFields).rules()
        except ValueError as exc:
            self._show_problem(str(exc))
            return
        if not specs:
            self._show_problem(NO_STRATEGY)
            return
        self._reading(market)
        self._open(market, start, end, specs, rules)

    def _reading(self, market: Market) -> None:
        """Over the buttons while the bars are read; the checks wait."""
        self._opening = True
        problem = self.query_one("#problem", Static)
        problem.set_class(True, "-ok")
        problem.update(f"Reading {market.label} bars…")

    @on(Button.Pressed, "#open")
    def _open_pressed(self) -> None:
        self.action_open()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save_session()

    @on(Button.Pressed, "#load")
    def _load_pressed(self) -> None:
        self.action_load_session()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(
        thread=True,
        exclusive=True,
        group="open-session-open",
        exit_on_error=False,
        description="open the session",
    )
    def _open(
        self,
        market: Market,
        start: str,
        end: str,
        specs: list[StrategySpec],
        rules: TradingRules,
    ) -> None:
        from engine.session.request import BacktestInputError, open_session

        try:
            request = self._request(market, start, end, specs)
            assert self._store is not None and self._calendar is not None
            session = open_session(self._store, self._calendar, request, rules)
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

    @work(
        thread=True,
        exclusive=True,
        group="open-session-open",
        exit_on_error=False,
        description="start the sweep",
    )
    def _sweep(self, request: SweepRequest, sweep: SweepFields) -> None:
        try:
            runs = len(sweep.expansion().candidates)
            job_id = self._start_sweep(request)
        except (ValueError, RuntimeError) as exc:  # SweepInputError; the service starting
            self.app.call_from_thread(self._open_failed, str(exc))
            return
        except Exception as exc:  # never a crash: the reason goes under the fields
            self.app.call_from_thread(self._open_failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._sweep_started, job_id, runs)

    async def _sweep_started(self, job_id: str, runs: int) -> None:
        self.app.notify(f"sweep {job_id} started: {plural(runs, 'backtest')}")
        if self.is_attached and self.is_current:
            self.dismiss(None)
            await self.app.run_action("show_pane('jobs')")
        # else: cancelled while the bars were read; the sweep runs, in the Jobs pane

    def _opened(self, opened: OpenedSession) -> None:
        if self.is_attached and self.is_current:
            self.dismiss(opened)
        # else: cancelled while the bars were read; the session never started

    def _open_failed(self, message: str) -> None:
        self._opening = False
        self._show_problem(message)
