"""A session's metrics report as a table: `backtest --metrics` prints it, the Playback pane's `m`
shows it. Rich only (the CLI never imports textual)."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from engine.session.metrics import STAGE_MEANINGS, MetricsReport
from ktrdr_tui.formatting import plural


def span(seconds: float) -> str:
    """A short time in the unit that reads best: `840 µs`, `12.3 ms`, `4.56 s`."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds:,.2f} s"


def summary(report: MetricsReport) -> str:
    """`525,600 bars in 1,350 batches · 1,350 trading days · 2,104,000 bars/s`, and at a speed
    (> 0) a second line, how the pipeline kept up: `at 3600x: 2 overruns, 1.5 s behind`."""
    line = (
        f"{plural(report.bars, 'bar')} in {plural(report.batches, 'batch', 'batches')}"
        f" · {plural(report.trading_days, 'trading day')} · {report.bars_per_s:,.0f} bars/s"
    )
    if report.speed > 0:
        line += (
            f"\nat {report.speed:g}x: {plural(report.overruns, 'overrun')},"
            f" {report.behind_s:,.1f} s behind"
        )
    return line


def metrics_table(report: MetricsReport) -> Table:
    """One row per stage (seconds, share of the total, µs per bar, worst batch, what it does),
    a total row, and `summary` as the caption. Stages that took no time are dimmed. On a narrow
    console the description gives way first."""
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        header_style="bold",
        caption=summary(report),
        caption_justify="left",
        caption_style="",
    )
    table.add_column("Stage", no_wrap=True)
    for label in ("Seconds", "Share", "µs/bar", "Worst batch"):
        table.add_column(label, justify="right", no_wrap=True)
    # Wrappable for the table's layout, so it narrows this column first; cut, never wrapped.
    table.add_column("What", style="dim")
    for stage in report.stages:
        table.add_row(
            stage.stage,
            f"{stage.seconds:,.3f}",
            f"{stage.share_pct:.1f}%",
            f"{stage.per_bar_us:,.2f}",
            span(stage.worst_batch_s),
            Text(STAGE_MEANINGS.get(stage.stage, ""), no_wrap=True, overflow="ellipsis"),
            style="" if stage.seconds else "dim",
        )
    table.add_section()
    table.add_row(
        "total",
        f"{report.seconds:,.3f}",
        "100.0%" if report.seconds else "0.0%",
        f"{report.per_bar_us:,.2f}",
        style="bold",
    )
    return table
