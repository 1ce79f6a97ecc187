"""`q` while loads or sweeps run: say which, and that they stay resumable, before quitting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ktrdr_tui.formatting import plural

if TYPE_CHECKING:
    from engine.loading.load_job import LoadStatus
    from engine.sweep.job import SweepStatus

SHOWN = 5  # jobs of a kind named in the dialog; the rest are counted
# What quitting does to each kind of job: said after "They " (one kind) or its name (both).
LOADS_STOP = (
    "stop now, keep every bar fetched so far, and show as interrupted on the next start: "
    "r resumes them."
)
SWEEPS_STOP = (
    "stop once their backtests in flight are back, keep every result so far, and show as "
    "interrupted on the next start: r runs the rest."
)


def running_text(kind: str, names: Sequence[str]) -> str:
    """`2 loads are running: AAPL 1m (52%), MSFT 5m (31%).`"""
    shown = [*names[:SHOWN], *([f"{len(names) - SHOWN} more"] if len(names) > SHOWN else [])]
    verb = "is" if len(names) == 1 else "are"
    return f"{plural(len(names), kind)} {verb} running: {', '.join(shown)}."


def load_name(status: LoadStatus) -> str:
    return f"{status.symbol} {status.timeframe} ({status.percent:.0f}%)"


def sweep_name(status: SweepStatus) -> str:
    return f"{' '.join(status.symbols)} {status.timeframe} ({status.percent:.0f}%)"


def what_happens(loads: bool, sweeps: bool) -> str:
    """What quitting does to the jobs that run: those kinds only."""
    if loads and sweeps:
        return f"Loads {LOADS_STOP}\nSweeps {SWEEPS_STOP}"
    return f"They {LOADS_STOP if loads else SWEEPS_STOP}"


class QuitScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    QuitScreen {
        align: center middle;
    }
    QuitScreen > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: round $warning;
        background: $surface;
        padding: 0 2;
    }
    QuitScreen .dialog-title {
        text-style: bold;
        color: $warning;
        padding: 1 0 0 0;
    }
    QuitScreen #running {
        padding: 1 0 0 0;
    }
    QuitScreen #buttons {
        height: auto;
        align-horizontal: right;
        padding: 1 0 0 0;
    }
    QuitScreen Button {
        margin-left: 2;
    }
    QuitScreen .hint {
        color: $text-muted;
        padding: 1 0;
    }
    """

    BINDINGS = [
        Binding("y", "quit", "Quit", id="quit.yes"),
        Binding("n,escape", "stay", "Stay", id="quit.no"),
    ]

    def __init__(self, loads: Sequence[LoadStatus], sweeps: Sequence[SweepStatus] = ()):
        """`loads` and `sweeps`: those of this process that have not ended (one at least)."""
        super().__init__()
        self._loads = loads
        self._sweeps = sweeps

    def compose(self) -> ComposeResult:
        running = {
            kind: names
            for kind, names in (
                ("load", [load_name(s) for s in self._loads]),
                ("sweep", [sweep_name(s) for s in self._sweeps]),
            )
            if names
        }
        title = f"Quit while {' and '.join(f'{kind}s' for kind in running)} run?"
        with Vertical():
            yield Static(title, classes="dialog-title")
            yield Static(
                "\n".join(running_text(k, names) for k, names in running.items()), id="running"
            )
            yield Static(what_happens(bool(self._loads), bool(self._sweeps)), id="what-happens")
            with Horizontal(id="buttons"):
                yield Button("Stay", id="stay", compact=True)
                yield Button("Quit", variant="warning", id="quit", compact=True)
            yield Static("y quits · n or escape stays", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()  # enter by reflex keeps the jobs running

    @on(Button.Pressed, "#quit")
    def action_quit(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#stay")
    def action_stay(self) -> None:
        self.dismiss(False)
