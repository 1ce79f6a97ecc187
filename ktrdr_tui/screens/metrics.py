"""`m` in the Playback pane: where the session's time goes, stage by stage (the table
`backtest --metrics` prints), kept current while the session plays."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ktrdr_tui.metrics_view import metrics_table

if TYPE_CHECKING:
    from rich.console import RenderableType

    from engine.session.metrics import MetricsReport

POLL_S = 0.25
NO_SESSION = "No session open: o in Playback opens one."


class MetricsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    MetricsScreen {
        align: center middle;
    }
    MetricsScreen > Vertical {
        width: 100;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $primary;
        background: $surface;
        padding: 1 1;
    }
    MetricsScreen VerticalScroll {
        height: auto;
    }
    MetricsScreen .dialog-title {
        text-style: bold;
        color: $primary;
        margin-bottom: 1;
    }
    MetricsScreen .hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="metrics.close"),
        Binding("m", "dismiss", "Close", show=False, id="metrics.close-m"),
    ]

    def __init__(self, report_of: Callable[[], MetricsReport | None]):
        """`report_of()`: the session's latest report, None once no session is open. Asked
        POLL_S apart; the table is redrawn only when the report changed."""
        super().__init__()
        self._report_of = report_of
        self._shown = report_of()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Session metrics: time per stage", classes="dialog-title")
            with VerticalScroll():
                yield Static(self._table(self._shown), id="metrics-table")
            yield Static(
                "seconds of the pipeline's work, not wall time · escape closes", classes="hint"
            )

    def on_mount(self) -> None:
        self.set_interval(POLL_S, self.refresh_report)

    def refresh_report(self) -> None:
        report = self._report_of()
        if report != self._shown:
            self._shown = report
            self.query_one("#metrics-table", Static).update(self._table(report))

    @staticmethod
    def _table(report: MetricsReport | None) -> RenderableType:
        return NO_SESSION if report is None else metrics_table(report)
