"""What sweeps look like in the app, in each shipped theme: the Jobs pane with sweep rows among
the loads (fixed statuses: no rate or ETA varies between runs), and a sweep's results (a real
sweep of the synthetic bars, run before the app starts: its statistics are the same every run).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.widgets import DataTable

import engine.sweep.service as service_module
from engine.config import Config
from engine.core.jobs import JobState
from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.sweep.job import SweepStatus
from engine.sweep.service import SweepService
from ktrdr_tui.screens.sweep_results import SweepResultsScreen, SweepTable
from tests.conftest import TERMINAL_SIZE
from tests.support.app_harness import on_screen, until
from tests.support.bar_fixtures import store_bars
from tests.support.jobs_views import STATUSES, jobs_shown
from tests.support.snapshots import THEMES
from tests.support.sweeps import sweep_request


def sweep_status(**fields) -> SweepStatus:
    base = dict(
        timeframe="1m",
        stage="",
        skipped=0,
        rate=None,
        eta_s=None,
        elapsed_s=0.0,
        executor="local",
        workers=None,
        error="",
        start="2024-03-04",
        end="2024-03-15",
    )
    return SweepStatus(**(base | fields))


SWEEPS = [
    sweep_status(
        job_id="gggggggggggg",
        symbols=("SPY",),
        state=JobState.DONE,
        runs=12,
        done=12,
        percent=100.0,
        strategies=("rsi:period=10|14|20,oversold=25|30",),
        skipped=0,
    ),
    sweep_status(
        job_id="ffffffffffff",
        symbols=("AAPL", "MSFT"),
        state=JobState.RUNNING,
        stage="backtests",
        runs=24,
        done=9,
        skipped=6,
        percent=37.5,
        rate=42.5,
        eta_s=15.0,
        workers=2,
        strategies=("sma_crossover:fast=5..20/5,slow=30|50|70",),
    ),
]


class FakeSweeps:
    """The SweepService methods the Jobs pane calls, returning fixed statuses."""

    def __init__(self, statuses: list[SweepStatus]):
        self._statuses = statuses
        self.store = SimpleNamespace(quarantined=[])  # no unreadable journal moved aside

    def statuses(self, persisted: bool = True) -> list[SweepStatus]:
        live = [s for s in self._statuses if not s.state.ended]
        return list(self._statuses) if persisted else live

    def stored_statuses(self) -> list[SweepStatus]:
        return [s for s in self._statuses if s.state.ended]

    def journals_stamp(self) -> None:
        return None

    def subscribe(self, listener):
        return lambda: None

    def close(self) -> None:
        pass


@pytest.mark.parametrize("theme", THEMES)
def test_jobs_with_sweeps(snap_compare, make_app, fake_loads, monkeypatch, theme: str) -> None:
    fake_loads(STATUSES)
    fake = FakeSweeps(SWEEPS)
    monkeypatch.setattr(service_module, "SweepService", lambda *args, **kwargs: fake)
    rows = len(STATUSES) + len(SWEEPS)

    async def running_sweep_selected(pilot) -> None:
        await jobs_shown(pilot)
        await until(pilot, lambda: pilot.app.query_one(DataTable).row_count == rows)
        await pilot.press(*["down"] * (rows - 1))  # the running sweep: its line under the table

    assert snap_compare(
        make_app(theme), terminal_size=TERMINAL_SIZE, run_before=running_sweep_selected
    )


def run_sweep(data_dir: Path) -> None:
    """A sweep of two parameters (three of its nine combinations refused), run to its end and
    left in the data dir's journals, as a `ktrdr-tui sweep` leaves it."""
    store_bars(data_dir)
    calendar = calendar_for()
    service = SweepService(Config(data_dir=data_dir), calendar, BarStore(data_dir, calendar))
    try:
        job = service.start(sweep_request())
        assert service.wait(job.id, timeout=60) and job.state is JobState.DONE
    finally:
        service.close()


async def results_shown(pilot) -> None:
    await jobs_shown(pilot)
    await until(pilot, lambda: pilot.app.query_one(DataTable).row_count == 1)
    await pilot.press("enter")
    await until(pilot, lambda: on_screen(pilot.app, SweepResultsScreen))
    await until(pilot, lambda: pilot.app.screen.query_one(SweepTable).row_count == 6)
    await pilot.pause()


@pytest.mark.parametrize("theme", THEMES)
def test_sweep_results(snap_compare, make_app, fake_loads, tmp_path: Path, theme: str) -> None:
    fake_loads([])
    run_sweep(tmp_path / "store")
    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=results_shown)


def test_sweep_results_80x24(snap_compare, make_app, fake_loads, tmp_path: Path) -> None:
    fake_loads([])
    run_sweep(tmp_path / "store")
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=results_shown)
