"""`/` in the Signals pane: which signals the table lists (and `e` exports).

Three fields: part of the strategy's name (`rsi`, `fast=5`), the action (all, BUY, SELL) and the
decision (all, approved, rejected); a session of several symbols adds a fourth, the symbol (its
first letters do, any case: the field suggests the symbol they stand for). How many signals
match shows as you type; enter applies, escape keeps the filter as it was, ctrl+r clears every
field.

Import-light: textual only. `SignalFilter` asks the engine's signal log for the rows it lets
through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from ktrdr_tui.formatting import plural

if TYPE_CHECKING:
    from numpy import ndarray

    from engine.session.logs import SignalLog

ALL = "all"
ACTIONS = (ALL, "BUY", "SELL")
DECISIONS = (ALL, "approved", "rejected")


@dataclass(frozen=True)
class SignalFilter:
    """Which signals to list. The default lets every signal through."""

    strategy: str = ""  # part of the strategy label, any case; "" for every strategy
    action: str = ALL  # BUY, SELL or all
    decision: str = ALL  # approved, rejected or all
    symbol: str = ""  # the whole symbol, any case; "" for every symbol

    def __post_init__(self) -> None:
        object.__setattr__(self, "strategy", self.strategy.strip())
        object.__setattr__(self, "symbol", self.symbol.strip().upper())
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        if self.decision not in DECISIONS:
            raise ValueError(
                f"decision must be one of {', '.join(DECISIONS)}, got {self.decision!r}"
            )

    @property
    def active(self) -> bool:
        return bool(self.strategy or self.symbol) or self.action != ALL or self.decision != ALL

    def indices(self, log: SignalLog, start: int = 0, stop: int | None = None) -> ndarray:
        """The indices of the log's rows start…stop that the filter lets through."""
        return log.where(
            start,
            stop,
            strategy=self.strategy,
            symbol=self.symbol,
            action=None if self.action == ALL else self.action,
            approved=None if self.decision == ALL else self.decision == "approved",
        )

    def describe(self) -> str:
        """`MSFT rsi BUY rejected`; "" when the filter lets everything through."""
        parts = [value for value in (self.symbol, self.strategy) if value]
        parts += [value for value in (self.action, self.decision) if value != ALL]
        return " ".join(parts)


class Choice(Widget, can_focus=True):
    """One of a few words, all in view: ←/→ (or space, or the first letter) picks, a click
    picks the word under the pointer. Enter is left to the dialog."""

    DEFAULT_CSS = """
    Choice {
        height: 3;
        width: 1fr;
        padding: 0 1;
        border: tall $border-blurred;
        background: $surface;
    }
    Choice:focus {
        border: tall $border;
        background-tint: $foreground 5%;
    }
    """

    BINDINGS = [
        Binding("left", "move(-1)", "Previous", show=False),
        Binding("right,space", "move(1)", "Next", show=False),
    ]

    index: reactive[int] = reactive(0)

    class Changed(Message):
        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice = choice
            self.value = value

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(self, options: Sequence[str], value: str, *, id: str | None = None):
        super().__init__(id=id)
        self.options = tuple(options)
        self.set_reactive(Choice.index, self.options.index(value))

    @property
    def value(self) -> str:
        return self.options[self.index]

    @value.setter
    def value(self, value: str) -> None:
        self.index = self.options.index(value)

    def render(self) -> Content:
        parts: list[tuple[str, str] | str] = []
        for i, option in enumerate(self.options):
            if i:
                parts.append(" ")
            parts.append((f" {option} ", "bold reverse" if i == self.index else "$text-muted"))
        return Content.assemble(*parts)

    def watch_index(self) -> None:
        self.post_message(self.Changed(self, self.value))

    def action_move(self, step: int) -> None:
        self.index = (self.index + step) % len(self.options)

    def on_key(self, event: events.Key) -> None:
        # The first letter picks the word; again, the next word with that letter (all,
        # approved).
        letter = (event.character or "").casefold()
        if not letter.isalpha():
            return
        count = len(self.options)
        for step in range(1, count + 1):
            i = (self.index + step) % count
            if self.options[i][:1].casefold() == letter:
                event.stop()
                event.prevent_default()
                self.index = i
                return

    def on_click(self, event: events.Click) -> None:
        x = event.x - self.gutter.left  # the padding and the border
        for i, option in enumerate(self.options):
            width = len(option) + 2
            if 0 <= x < width:
                self.index = i
                return
            x -= width + 1


class SignalFilterScreen(ModalScreen[SignalFilter | None]):
    DEFAULT_CSS = """
    SignalFilterScreen {
        align: center middle;
    }
    SignalFilterScreen > Vertical {
        width: 68;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 0 2 1 2;
    }
    SignalFilterScreen .dialog-title {
        text-style: bold;
        color: $primary;
        padding: 1 0;
    }
    SignalFilterScreen .field {
        height: auto;
    }
    SignalFilterScreen .field Label {
        width: 12;
        height: 3;
        content-align: left middle;
    }
    SignalFilterScreen .field Input {
        width: 1fr;
    }
    SignalFilterScreen .field-help {
        color: $text-muted;
        padding: 0 0 0 13;
    }
    SignalFilterScreen #matches {
        padding: 1 0 0 13;
    }
    SignalFilterScreen .hint {
        color: $text-muted;
        padding: 1 0 0 0;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="signal-filter.cancel"),
        Binding("enter", "apply", "Apply", id="signal-filter.apply"),
        Binding("ctrl+r", "clear", "Clear", id="signal-filter.clear"),
    ]

    def __init__(
        self,
        current: SignalFilter | None = None,
        count: Callable[[SignalFilter], tuple[int, int]] | None = None,
        symbols: Sequence[str] = (),
    ):
        """`count(filter)` says how many signals (of how many) a filter lets through;
        `symbols`: the session's; several have a Symbol field."""
        super().__init__()
        self._current = current or SignalFilter()
        self._count = count
        self._symbols = tuple(symbols)

    def compose(self) -> ComposeResult:
        current = self._current
        with Vertical():
            yield Static("Filter signals", classes="dialog-title")
            with Horizontal(classes="field"):
                yield Label("Strategy")
                yield Input(current.strategy, placeholder="all strategies", id="strategy")
            yield Static("part of its name: rsi, sma, fast=5, 15m", classes="field-help")
            if len(self._symbols) > 1:
                with Horizontal(classes="field"):
                    yield Label("Symbol")
                    yield Input(
                        current.symbol,
                        placeholder="all symbols",
                        suggester=SuggestFromList(self._symbols, case_sensitive=False),
                        id="symbol",
                    )
                listed = ", ".join(self._symbols)
                help_text = f"one of {listed}: its first letters do"
                yield Static(help_text, classes="field-help", id="symbol-help")
            with Horizontal(classes="field"):
                yield Label("Action")
                yield Choice(ACTIONS, current.action, id="action")
            with Horizontal(classes="field"):
                yield Label("Decision")
                yield Choice(DECISIONS, current.decision, id="decision")
            yield Static("", id="matches")
            yield Static(
                "enter applies · escape cancels · ctrl+r clears · ←/→ choose", classes="hint"
            )

    def on_mount(self) -> None:
        strategy = self.query_one("#strategy", Input)
        strategy.focus()
        strategy.cursor_position = len(strategy.value)
        self._show_matches()

    def chosen(self) -> SignalFilter:
        return SignalFilter(
            self.query_one("#strategy", Input).value,
            self.query_one("#action", Choice).value,
            self.query_one("#decision", Choice).value,
            self._symbol(),
        )

    def _symbol(self) -> str:
        """The symbol field's: the session's first symbol that starts with what was typed (the
        one the field suggests), else what was typed; "" without the field."""
        field = self.query("#symbol")  # none for a session of one symbol
        typed = field.first(Input).value.strip().upper() if field else ""
        if not typed:
            return ""
        return next((symbol for symbol in self._symbols if symbol.startswith(typed)), typed)

    @on(Input.Changed)
    @on(Choice.Changed)
    def _show_matches(self) -> None:
        if self._count is None:
            return
        matching, total = self._count(self.chosen())
        matches = f"{matching:,} of {plural(total, 'signal')} match"
        self.query_one("#matches", Static).update(matches)

    @on(Input.Submitted)
    def action_apply(self) -> None:
        self.dismiss(self.chosen())

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_clear(self) -> None:
        for field in self.query(Input):  # the strategy's, and the symbol's if there is one
            field.value = ""
        self.query_one("#action", Choice).value = ALL
        self.query_one("#decision", Choice).value = ALL
