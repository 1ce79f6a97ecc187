"""What the Jobs pane and its dialogs look like, in each shipped theme.

A fake load service stands in for the engine: it returns fixed statuses (a job running with an
ETA, one waiting for pacing, one failed, one done, one interrupted by an earlier run), so no
clock, rate or ETA varies between runs. The new-load dialog takes a fixed "now".
"""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from engine.loading.load_job import LoadStatus
from engine.loading.service import LoadService
from tests.conftest import TERMINAL_SIZE
from tests.support.app_harness import on_screen, until
from tests.support.jobs_views import RUNNING, STATUSES, FakeLoads, dialog_open, jobs_shown
from tests.support.snapshots import THEMES


@pytest.mark.parametrize("theme", THEMES)
def test_jobs_empty(snap_compare, make_app, fake_loads, theme: str) -> None:
    fake_loads([])
    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=jobs_shown)


@pytest.mark.parametrize("theme", THEMES)
def test_jobs_populated(snap_compare, make_app, fake_loads, theme: str) -> None:
    fake_loads(STATUSES)

    async def second_row_selected(pilot) -> None:
        await jobs_shown(pilot)
        await until(pilot, lambda: pilot.app.query_one(DataTable).row_count == len(STATUSES))
        await pilot.press("down")  # the running job: its line under the table

    assert snap_compare(
        make_app(theme), terminal_size=TERMINAL_SIZE, run_before=second_row_selected
    )


@pytest.mark.parametrize("theme", THEMES)
def test_new_load_dialog(snap_compare, make_app, fake_loads, theme: str) -> None:
    fake_loads([])

    async def typed(pilot) -> None:
        await dialog_open(pilot, *"AAPL")

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=typed)


@pytest.mark.parametrize("theme", THEMES)
def test_new_load_dialog_with_an_error(snap_compare, make_app, fake_loads, theme: str) -> None:
    fake_loads([])

    async def bad_end(pilot) -> None:
        await dialog_open(pilot, *"AAPL")
        pilot.app.screen.query_one("#end", Input).value = "2024-02-01"
        await pilot.pause()

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=bad_end)


@pytest.mark.parametrize("theme", THEMES)
def test_job_details(snap_compare, make_app, fake_loads, theme: str) -> None:
    fake_loads(STATUSES)

    async def details(pilot) -> None:
        await jobs_shown(pilot)
        await until(pilot, lambda: pilot.app.query_one(DataTable).row_count == len(STATUSES))
        await pilot.press("down", "enter")
        await until(pilot, lambda: on_screen(pilot.app, "JobDetailScreen"))
        table = pilot.app.screen.query_one(DataTable)
        await until(pilot, lambda: table.row_count == len(RUNNING.segments))
        await pilot.pause()

    assert snap_compare(make_app(theme), terminal_size=TERMINAL_SIZE, run_before=details)


async def test_keys_reach_the_service_and_the_dialog_makes_a_request(fake_loads, make_app):
    """The same fake, driven: cancel, resume and remove call the service with the selected
    job; the dialog's defaults make a one-month 1-minute full load."""
    fake = fake_loads(STATUSES)
    app = make_app()
    async with app.run_test(size=TERMINAL_SIZE) as pilot:
        await jobs_shown(pilot)
        await until(pilot, lambda: app.query_one(DataTable).row_count == len(STATUSES))
        await pilot.press("r")  # the interrupted QQQ job
        await pilot.press("down", "c")  # the running AAPL job
        await pilot.press("down", "down", "down", "delete")  # the done SPY job
        await pilot.press("n", *"aapl", "enter")
        await until(pilot, lambda: len(fake.calls) == 4)
        await app.workers.wait_for_complete()
    calls = dict(fake.calls)
    assert calls["resume"] == "dddddddddddd"
    assert calls["cancel"] == "aaaaaaaaaaaa"
    assert calls["remove"] == "eeeeeeeeeeee"
    request = calls["start"]
    assert request.symbols == ("AAPL",) and request.timeframe == "1m"
    assert (request.start, request.end, str(request.mode)) == ("2024-02-15", "2024-03-15", "full")


class CountingLoads(FakeLoads):
    def __init__(self, statuses: list[LoadStatus]):
        super().__init__(statuses)
        self.reads = {True: 0, False: 0}

    def statuses(self, persisted: bool = True) -> list[LoadStatus]:
        self.reads[persisted] += 1
        return super().statuses(persisted)


async def test_the_journals_are_read_once_not_at_every_tick(monkeypatch, make_app) -> None:
    fake = CountingLoads(STATUSES)
    monkeypatch.setattr(LoadService, "for_config", classmethod(lambda cls, *a, **k: fake))
    app = make_app()
    async with app.run_test(size=TERMINAL_SIZE) as pilot:
        await jobs_shown(pilot)
        await until(pilot, lambda: fake.reads[False] >= 10)  # ten ticks of the live jobs
        assert fake.reads[True] == 1


async def test_rows_take_the_colours_of_a_new_theme(fake_loads, make_app) -> None:
    fake_loads(STATUSES)
    app = make_app("ktrdr-dark")
    async with app.run_test(size=TERMINAL_SIZE) as pilot:
        await jobs_shown(pilot)
        table = app.query_one(DataTable)

        def done_colour() -> str:
            return table.get_cell("eeeeeeeeeeee", "state").style.color.triplet.hex.upper()

        assert done_colour() == "#3DD68C"  # ktrdr-dark's success
        app.theme = "ktrdr-light"
        await until(pilot, lambda: done_colour() == "#1A7F4B")
