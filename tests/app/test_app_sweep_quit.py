"""`q` while a sweep runs: the app asks first, names the sweep and says what quitting does to it;
quitting stops it as interrupted (resumable), its results so far kept, its workers gone."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from textual.widgets import Static

from engine.core.jobs import JobState
from engine.sweep.job import SweepStatus
from engine.sweep.journal import SweepStore
from ktrdr_tui.screens.quit import LOADS_STOP, SWEEPS_STOP, QuitScreen
from tests.support.app_harness import on_screen, until
from tests.support.bar_fixtures import store_bars
from tests.support.jobs_views import RUNNING
from tests.support.sweeps import GRID, hold_first_sweep, sweep_request

SIZE = (120, 30)


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def sweep_status(app, job_id: str) -> SweepStatus:
    (status,) = [s for s in app.engine.sweeps.statuses(persisted=False) if s.job_id == job_id]
    return status


async def test_q_with_a_sweep_running_asks_and_quitting_leaves_it_resumable(
    make_app, tmp_path: Path, monkeypatch
) -> None:
    store_bars(tmp_path / "store")
    hold_first_sweep(monkeypatch)  # held once one of its 6 backtests is kept
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.engine.sweeps is not None and app.loads is not None)
        job_id = await asyncio.to_thread(app.engine.start_sweep, sweep_request())
        await until(pilot, lambda: sweep_status(app, job_id).done == 1, "the first result")
        await pilot.press("q")
        await until(pilot, lambda: on_screen(app, QuitScreen), "the question")
        dialog = app.screen
        assert text_of(dialog, ".dialog-title") == "Quit while sweeps run?"
        assert text_of(dialog, "#running") == "1 sweep is running: AAPL 1m (17%)."
        assert text_of(dialog, "#what-happens") == f"They {SWEEPS_STOP}"

        await pilot.press("n")  # stay: the sweep goes on
        assert not isinstance(app.screen, QuitScreen) and app.return_code is None
        assert sweep_status(app, job_id).state is JobState.RUNNING

        await pilot.press("q")
        await until(pilot, lambda: on_screen(app, QuitScreen), "the question again")
        await pilot.press("y")
        await pilot.pause()
    assert app.return_code == 0
    store = SweepStore(tmp_path / "store" / "jobs")
    journal = store.load(job_id)
    assert journal.state is JobState.INTERRUPTED and journal.state.resumable
    assert list(store.results(job_id)) == [0]  # the result kept before the quit stays
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("sweep worker")]


async def test_the_question_names_the_loads_and_the_sweeps_when_both_run(make_app) -> None:
    sweeps = [
        SweepStatus(
            job_id=f"s{n}",
            symbols=("AAPL", "MSFT"),
            timeframe="5m",
            state=JobState.QUEUED if n else JobState.RUNNING,
            stage="",
            runs=40,
            done=0 if n else 10,
            skipped=0,
            percent=0.0 if n else 25.0,
            rate=None,
            eta_s=None,
            elapsed_s=0.0,
            executor="local",
            workers=2,
            error="",
            strategies=(GRID,),
            start="2024-03-04",
            end="2024-03-15",
        )
        for n in range(7)
    ]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(QuitScreen([RUNNING], sweeps))
        dialog = app.screen
        assert text_of(dialog, ".dialog-title") == "Quit while loads and sweeps run?"
        queued = ", ".join(["AAPL MSFT 5m (0%)"] * 4)
        assert text_of(dialog, "#running") == (
            "1 load is running: AAPL 1m (52%).\n"
            f"7 sweeps are running: AAPL MSFT 5m (25%), {queued}, 2 more."
        )
        assert text_of(dialog, "#what-happens") == f"Loads {LOADS_STOP}\nSweeps {SWEEPS_STOP}"
        await pilot.press("escape")
        assert not isinstance(app.screen, QuitScreen) and app.return_code is None
