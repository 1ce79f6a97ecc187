"""The sweep service the app holds (engine/sweep/service.py): a sweep started from a request
runs as a job; its results open as sessions that give the same statistics; a sweep cancelled
here resumes in the next run of the app with only the rest; an ended one can be removed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.config import Config
from engine.core.jobs import JobState
from engine.market.calendar import calendar_for
from engine.market.store import BarStore
from engine.sweep.journal import SweepStore
from engine.sweep.service import SweepRefused, SweepService
from engine.trading_rules import TradingRules
from tests.support.bar_fixtures import store_bars
from tests.support.sweeps import hold_first_sweep, sweep_request

CALENDAR = calendar_for()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    store_bars(data)
    return data


def service_of(data_dir: Path, **config) -> SweepService:
    """A service as the app makes one (a new one: as after a restart of the app)."""
    settings = Config(data_dir=data_dir, **config)
    return SweepService(settings, CALENDAR, BarStore(data_dir, CALENDAR))


def test_each_result_opens_as_a_session_with_the_same_statistics(data_dir: Path) -> None:
    service = service_of(data_dir, trading=TradingRules.from_text({"cash": "50000"}))
    request = sweep_request(rules=(("min_confidence", "0"), ("commission", "0|0.01")))
    try:
        job = service.start(request)
        assert service.wait(job.id, timeout=60) and job.state is JobState.DONE
        results = service.results(job.id)
    finally:
        service.close()
    assert len(results.rows) == results.plan.runs == 12 and results.plan.skipped == 6
    # The rules the texts change are config.toml's, kept with the sweep.
    assert dict(results.journal.request.base_rules)["cash"] == "50000"
    for row in (results.rows[0], results.rows[-1]):
        session, asked = service.open_backtest(results, row, speed=0)
        assert [spec.label for spec in asked.strategies] == row["strategies"]
        assert session.rules.cash == 50_000
        session.start(playing=True)
        session.wait()
        try:
            statistics = session.results().statistics.to_json()
        finally:
            session.stop()
        assert {name: row[name] for name in statistics} == statistics

    again = service_of(data_dir)  # the next run of the app: the sweep is planned again
    try:
        assert again.results(job.id).rows == results.rows
    finally:
        again.close()


def test_a_sweep_cancelled_here_resumes_in_the_next_run_with_only_the_rest(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = hold_first_sweep(monkeypatch)
    service = service_of(data_dir)
    journals = SweepStore(data_dir / "jobs")
    try:
        job = service.start(sweep_request())
        first_kept = threading.Event()
        job.progress.subscribe(lambda snapshot: snapshot.items_done and first_kept.set())
        assert first_kept.wait(60)
        # Held while running: reading the journals leaves a running sweep's own alone (its
        # process is this one, which counts as dead for a journal of an earlier run).
        assert service.stored_statuses() == []
        assert journals.load(job.id).state is JobState.RUNNING
        with pytest.raises(SweepRefused, match="cancel it first"):
            service.remove(job.id)
        [live] = service.statuses()
        assert (live.state, live.done, live.runs, live.skipped) == (JobState.RUNNING, 1, 6, 3)

        service.cancel(job.id)
        assert service.wait(job.id, timeout=60) and job.state is JobState.CANCELLED
    finally:
        service.close()
    assert len(journals.results(job.id)) == 1

    restarted = service_of(data_dir)
    try:
        [stored] = restarted.stored_statuses()
        assert (stored.job_id, stored.state, stored.done, stored.resumable) == (
            job.id,
            JobState.CANCELLED,
            1,
            True,
        )
        resumed = restarted.resume(job.id)
        assert restarted.wait(job.id, timeout=60) and resumed.state is JobState.DONE
        assert resumed.ran == 5  # only what was left
        assert sorted(journals.results(job.id)) == list(range(6))
        with pytest.raises(SweepRefused, match="done: nothing to resume"):
            restarted.resume(job.id)
        restarted.remove(job.id)
        assert not journals.exists(job.id) and not journals.results_path(job.id).exists()
        assert restarted.statuses() == []
    finally:
        restarted.close()
    assert len(made) == 2 and made[0].go_on.is_set()
