"""The Jobs pane, driven from the keyboard against the in-process simulated gateway."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from textual import events
from textual.widgets import DataTable, Input, Static

import engine.market.calendar as calendar_module
from engine.clock import FixedClock
from engine.config import GatewayAddress
from engine.core.jobs import JobState
from engine.loading.journal import JournalStore, LoadJournal
from engine.loading.planner import LoadMode
from engine.loading.service import LoadService
from engine.market.store import BarStore
from ktrdr_tui.screens.new_load import NewLoadScreen
from ktrdr_tui.screens.quit import QuitScreen
from ktrdr_tui.widgets.jobs import JobsPane
from tests.support.app_harness import on_screen, set_latency, until
from tests.support.sources import gateway_source


def cell(app, job_id: str, column: str) -> str:
    return str(app.query_one("#jobs-table", DataTable).get_cell(job_id, column))


def state_of(app, job_id: str) -> str:
    return cell(app, job_id, "state")


def only_job(app) -> str:
    table = app.query_one("#jobs-table", DataTable)
    assert table.row_count == 1
    return table.coordinate_to_cell_key((0, 0)).row_key.value


async def start_load(pilot, symbol: str = "AAPL", start: str | None = None, end: str | None = None):
    app = pilot.app
    await until(pilot, lambda: app.loads is not None)
    await pilot.press("n")
    await until(pilot, lambda: on_screen(app, "NewLoadScreen"))
    await pilot.press(*symbol)
    for field, value in (("start", start), ("end", end)):
        if value is not None:
            app.screen.query_one(f"#{field}", Input).value = value
    await pilot.press("enter")
    await until(pilot, lambda: app.query_one("#jobs-table", DataTable).row_count == 1)
    return only_job(app)


async def test_n_aapl_enter_loads_a_month_of_bars_and_the_row_follows_it(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        job_id = await start_load(pilot)
        await until(pilot, lambda: state_of(app, job_id) == "done")
        status = app.loads.statuses(persisted=False)[0]
        # The defaults: a month back from the last completed session, 1-minute bars.
        first, last = pd.Timestamp(status.start), pd.Timestamp(status.end)
        assert status.timeframe == "1m" and 28 <= (last - first).days <= 31
        stored = BarStore(app.config.data_dir).summary("AAPL", "1m")
        assert stored.bars == status.bars_total > 0
        table = app.query_one("#jobs-table", DataTable)
        assert str(table.get_cell(job_id, "progress")).endswith("100%")
        assert str(table.get_cell(job_id, "bars")) == f"{stored.bars:,}/{stored.bars:,}"


@pytest.mark.parametrize(
    ("now", "first", "last", "short_session"),
    [
        # The month that once turned the suite red: it ends on the 2026-11-27 early close.
        ("2026-11-30T15:00:00+00:00", "2026-10-27", "2026-11-27", "2026-11-27"),
        # Before the close on a July 3 (itself an early close): the last month ends on July 2.
        ("2024-07-03T15:00:00+00:00", "2024-06-03", "2024-07-02", None),
    ],
)
async def test_default_month_follows_the_app_clock(
    make_app, now: str, first: str, last: str, short_session: str | None
) -> None:
    app = make_app(now=FixedClock.parse(now))
    async with app.run_test(size=(120, 30)) as pilot:
        job_id = await start_load(pilot)
        await until(pilot, lambda: state_of(app, job_id) == "done")
        status = app.loads.statuses(persisted=False)[0]
        assert (status.start, status.end) == (first, last)
        by_day = {s.label: s.expected_bars for s in status.segments}  # one session each
        expected = {
            f"{s.date:%Y-%m-%d}": s.minutes
            for s in app.loads.calendar.sessions_for_dates(pd.Timestamp(first), pd.Timestamp(last))
        }
        assert by_day == expected
        if short_session:
            assert by_day[short_session] == 210
        stored = BarStore(app.config.data_dir).summary("AAPL", "1m")
        assert stored.bars == status.bars_total == sum(expected.values())


async def test_cancel_then_resume_reaches_done(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        set_latency(app, 300)  # ~6 s of the month's 21 segments: running when `c` lands
        job_id = await start_load(pilot)
        await until(pilot, lambda: state_of(app, job_id) == "running")
        await until(
            pilot, lambda: "Segment" in str(app.query_one(DataTable).get_cell(job_id, "segment"))
        )
        await pilot.press("c")
        await until(pilot, lambda: state_of(app, job_id) == "cancelled")
        assert cell(app, job_id, "stage") == "resumable"
        set_latency(app, 0)
        await pilot.press("r")
        await until(pilot, lambda: state_of(app, job_id) == "done")
        status = app.loads.statuses(persisted=False)[0]
        assert status.segments_done == status.segments_total
        stored = BarStore(app.config.data_dir).summary("AAPL", "1m")
        assert stored.bars == status.bars_total == status.segments_total * 390


async def test_delete_removes_a_finished_job_and_keeps_its_bars(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        job_id = await start_load(pilot, start="2024-03-04", end="2024-03-05")
        await until(pilot, lambda: state_of(app, job_id) == "done")
        await pilot.press("delete")
        await until(pilot, lambda: app.query_one("#jobs-table", DataTable).row_count == 0)
        assert not JournalStore(app.config.data_dir / "jobs").path(job_id).exists()
        assert BarStore(app.config.data_dir).summary("AAPL", "1m").bars == 2 * 390


async def test_a_job_from_an_earlier_run_shows_resumable_and_resumes(make_app) -> None:
    app = make_app()
    journal = LoadJournal(
        job_id="0123456789ab",
        symbol="MSFT",
        timeframe="1h",
        mode=LoadMode.FULL,
        start="2024-03-04",
        end="2024-03-08",
        source="sim",
        state=JobState.INTERRUPTED,
        created_at="2024-03-09T10:00:00+00:00",
        updated_at="2024-03-09T10:00:05+00:00",
    )
    JournalStore(app.config.data_dir / "jobs").save(journal)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.query_one("#jobs-table", DataTable).row_count == 1)
        assert state_of(app, "0123456789ab") == "interrupted"
        assert cell(app, "0123456789ab", "stage") == "resumable"
        await pilot.press("r")
        await until(pilot, lambda: state_of(app, "0123456789ab") == "done")
        assert BarStore(app.config.data_dir).summary("MSFT", "1h").bars == 5 * 7


async def test_a_failing_job_says_why_in_its_row_and_a_notification(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        job_id = await start_load(pilot, symbol="ZZZZ", start="2024-03-04", end="2024-03-05")
        await until(pilot, lambda: state_of(app, job_id) == "failed")
        assert "unknown symbol 'ZZZZ'" in cell(app, job_id, "segment")
        await until(pilot, lambda: any("ZZZZ 1m failed" in n.message for n in app._notifications))
        await pilot.press("r")  # no plan, no journal: nothing to resume, and no crash
        await until(
            pilot, lambda: any("nothing to resume" in n.message for n in app._notifications)
        )
        assert state_of(app, job_id) == "failed"


async def test_the_dialog_checks_dates_before_any_symbol_is_typed(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        await pilot.press("n")
        await until(pilot, lambda: on_screen(app, "NewLoadScreen"))
        screen = app.screen
        start = screen.query_one("#start-error", Static)
        assert start.has_class("-empty")  # the defaults are fine
        screen.query_one("#start", Input).value = "2024-13-01"
        await pilot.pause()
        assert "start '2024-13-01' is not a date" in str(start.render())
        assert not start.has_class("-empty")
        assert screen.query_one("#symbols-error", Static).has_class("-empty")
        await pilot.press("enter")  # nothing typed: the symbol is missing, nothing starts
        await pilot.pause()
        assert "no symbol given" in str(screen.query_one("#symbols-error", Static).render())
        assert app.screen is screen and app.loads.statuses(persisted=False) == []


async def test_bad_input_shows_the_reason_under_the_field_and_does_not_submit(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        await pilot.press("n")
        await until(pilot, lambda: on_screen(app, "NewLoadScreen"))
        screen = app.screen
        await pilot.press(*"AAPL")
        screen.query_one("#start", Input).value = "2024-03-08"
        screen.query_one("#end", Input).value = "2024-03-04"
        await pilot.pause()
        assert "end 2024-03-04 is before start 2024-03-08" in str(
            screen.query_one("#end-error", Static).render()
        )
        screen.query_one("#symbols", Input).value = "AA PL$"
        await pilot.pause()
        assert "bad symbol" in str(screen.query_one("#symbols-error", Static).render())
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen  # still open: nothing started
        assert app.loads.statuses(persisted=False) == []
        await pilot.press("escape")
        assert app.screen is not screen


async def test_enter_shows_every_segment(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        job_id = await start_load(pilot, start="2024-03-04", end="2024-03-08")
        await until(pilot, lambda: state_of(app, job_id) == "done")
        await pilot.press("enter")
        await until(pilot, lambda: on_screen(app, "JobDetailScreen"))
        segments = app.screen.query_one("#segments", DataTable)
        await until(pilot, lambda: segments.row_count == 5)
        column = {key.value: i for i, key in enumerate(segments.columns)}
        rows = [segments.get_row_at(i) for i in range(5)]
        assert [str(row[column["status"]]) for row in rows] == ["done"] * 5
        assert [str(row[column["span"]]) for row in rows] == [
            "2024-03-08",
            "2024-03-07",
            "2024-03-06",
            "2024-03-05",
            "2024-03-04",
        ]
        assert {str(row[column["bars"]]) for row in rows} == {"390/390"}
        await pilot.press("escape")
        assert app.screen.__class__.__name__ != "JobDetailScreen"


async def test_the_details_follow_a_running_job(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        # 5 s of the 5 segments fetching, for the details to catch one: at 150 ms a segment
        # a busy machine opened them after the last (the details, still right, had no
        # "fetching" left to show).
        set_latency(app, 1000)
        job_id = await start_load(pilot, start="2024-03-04", end="2024-03-08")
        await until(pilot, lambda: state_of(app, job_id) == "running")
        await pilot.press("enter")
        await until(pilot, lambda: on_screen(app, "JobDetailScreen"))
        segments = app.screen.query_one("#segments", DataTable)

        def statuses() -> list[str]:
            return [str(segments.get_cell(str(i), "status")) for i in range(1, 6)]

        await until(pilot, lambda: segments.row_count == 5 and "fetching" in statuses())
        set_latency(app, 0)
        await until(pilot, lambda: statuses() == ["done"] * 5)
        assert "5/5 segments done" in str(app.screen.query_one("#detail-title", Static).render())


async def test_remove_refuses_a_running_job(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        set_latency(app, 200)
        job_id = await start_load(pilot)
        await until(pilot, lambda: state_of(app, job_id) == "running")
        await pilot.press("delete")
        await pilot.pause()
        assert app.query_one("#jobs-table", DataTable).row_count == 1
        assert any("cancel it first" in n.message for n in app._notifications)
        app.loads.cancel(job_id)
        await until(pilot, lambda: state_of(app, job_id) == "cancelled")


def test_statuses_without_journals_skip_the_disk(tmp_path) -> None:
    service = LoadService(tmp_path, source=gateway_source(GatewayAddress("127.0.0.1", 1)))
    JournalStore(tmp_path / "jobs").save(
        LoadJournal(
            job_id="feedfeedfeed",
            symbol="IBM",
            timeframe="1d",
            mode=LoadMode.FULL,
            start="2024-01-02",
            end="2024-01-05",
            source="sim",
            state=JobState.CANCELLED,
            created_at="2024-01-06T00:00:00+00:00",
            updated_at="2024-01-06T00:00:00+00:00",
        )
    )
    try:
        assert [s.job_id for s in service.statuses()] == ["feedfeedfeed"]
        assert service.statuses(persisted=False) == []
    finally:
        service.close()


@pytest.fixture
def slow_start(monkeypatch: pytest.MonkeyPatch):
    """The calendar and the load service each wait for the test to let them through: the first
    moments after the app appears, made as long as the test needs."""
    calendar_ready, service_ready = threading.Event(), threading.Event()
    real_calendar_for = calendar_module.calendar_for
    real_for_config = LoadService.for_config.__func__

    def calendar_for(*args, **kwargs):
        assert calendar_ready.wait(30), "the test never let the calendar through"
        return real_calendar_for(*args, **kwargs)

    def for_config(cls, *args, **kwargs):
        assert service_ready.wait(30), "the test never let the service through"
        return real_for_config(cls, *args, **kwargs)

    monkeypatch.setattr(calendar_module, "calendar_for", calendar_for)
    monkeypatch.setattr(LoadService, "for_config", classmethod(for_config))
    yield calendar_ready, service_ready
    calendar_ready.set()  # a failed test must not leave the app's workers waiting
    service_ready.set()


async def test_n_aapl_enter_typed_as_the_app_appears_starts_the_load(make_app, slow_start) -> None:
    calendar_ready, service_ready = slow_start
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        # One burst, as a terminal sends a quick typist's keys: all of them arrive before the
        # first is handled, so the letters are sent to the Jobs table, not to the dialog.
        for key in ("n", "A", "A", "P", "L", "enter"):
            app.post_message(events.Key(key, "\r" if key == "enter" else key))
        await until(pilot, lambda: on_screen(app, NewLoadScreen), "the dialog")
        dialog = app.screen
        symbols = dialog.query_one("#symbols", Input)
        await until(pilot, lambda: symbols.value == "AAPL", "the symbol typed ahead")
        summary = dialog.query_one("#summary", Static)
        await until(pilot, lambda: "the load starts in a moment" in str(summary.render()))
        assert app.screen is dialog  # held, not lost: it submits once the dates are known
        calendar_ready.set()
        await until(pilot, lambda: app.screen is not dialog, "the dialog to submit")
        await until(
            pilot, lambda: any("starts as soon as" in n.message for n in app._notifications)
        )
        assert app.loads is None
        service_ready.set()
        await until(pilot, lambda: app.query_one("#jobs-table", DataTable).row_count == 1)
        job_id = only_job(app)
        await until(pilot, lambda: state_of(app, job_id) == "done")
        assert cell(app, job_id, "symbol") == "AAPL"
        assert not any("still starting" in n.message for n in app._notifications)


async def test_a_new_load_becomes_the_selected_row(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        first = await start_load(pilot, start="2024-03-04", end="2024-03-05")
        await until(pilot, lambda: state_of(app, first) == "done")
        set_latency(app, 200)
        await pilot.press("n")
        await until(pilot, lambda: on_screen(app, NewLoadScreen))
        await pilot.press(*"MSFT", "enter")
        pane = app.query_one(JobsPane)
        await until(pilot, lambda: (pane.selected() or first).symbol == "MSFT")  # type: ignore
        second = pane.selected().job_id
        await pilot.press("c")  # acts on the new job, not on the one the cursor was on
        await until(pilot, lambda: state_of(app, second) == "cancelled")
        assert state_of(app, first) == "done"


async def test_q_with_a_load_running_asks_before_quitting(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        set_latency(app, 200)
        job_id = await start_load(pilot)
        await until(pilot, lambda: state_of(app, job_id) == "running")
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        assert "1 load is running: AAPL 1m" in str(app.screen.query_one("#running").render())
        await pilot.press("n")  # stay
        assert not isinstance(app.screen, QuitScreen)
        assert app.return_code is None and state_of(app, job_id) == "running"
        await pilot.press("q", "y")
        await pilot.pause()
    assert app.return_code == 0
    journal = JournalStore(app.config.data_dir / "jobs").load(job_id)
    assert journal.state is JobState.INTERRUPTED  # resumable on the next start


async def test_keys_with_no_job_to_act_on_say_why(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        await pilot.press("enter", "c")
        said = [n.message for n in app._notifications]
        assert said == [
            "No job to show yet: n starts a load.",
            "No job selected: press n for a new load.",
        ]
