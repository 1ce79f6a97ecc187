"""The metrics dialog (`m` in Playback) over the Playback pane, with a fixed report: in each
shipped theme, and at 80x24 where the descriptions give way to the numbers."""

from __future__ import annotations

import pytest

from engine.session.metrics import MetricsReport, StageMetrics
from ktrdr_tui.screens.metrics import MetricsScreen
from tests.conftest import TERMINAL_SIZE
from tests.support.app_harness import on_screen, until
from tests.support.snapshots import THEMES, gateway_running


def fixed_report() -> MetricsReport:
    """Three years of 1m bars at 3600x, fallen behind twice."""
    metrics = StageMetrics()
    metrics.batch(
        290_000,
        {
            "bars": 0.061,
            "derived": 0.092,
            "quality": 0.013,
            "history": 0.004,
            "strategies": 0.187,
            "decisions": 0.009,
            "fills": 0.002,
        },
        days=750,
    )
    metrics.batch(3_000, {"bars": 0.0012, "strategies": 0.0061, "decisions": 0.0004}, days=6)
    metrics.add("results", 0.0412)
    return metrics.report(speed=3600, overruns=2, behind_s=84.5)


def shown(report: MetricsReport):
    async def run_before(pilot) -> None:
        await gateway_running(pilot)
        await pilot.press("2")
        pilot.app.push_screen(MetricsScreen(lambda: report))
        await until(pilot, lambda: on_screen(pilot.app, MetricsScreen), "the dialog")
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("theme", THEMES)
def test_metrics(snap_compare, make_app, theme: str) -> None:
    assert snap_compare(
        make_app(theme), terminal_size=TERMINAL_SIZE, run_before=shown(fixed_report())
    )


def test_metrics_80x24(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=shown(fixed_report()))
