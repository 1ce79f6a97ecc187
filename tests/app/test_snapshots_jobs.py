"""What the Jobs pane and its dialogs look like, in each shipped theme.

A fake load service stands in for the engine: it returns fixed statuses (a job running with an
ETA, one waiting for pacing, one failed, one done, one interrupted by an earlier run), so no
clock, rate or ETA varies between runs. The new-load dialog takes a fixed "now".
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pandas as pd
import pytest
from textual.widgets import DataTable, Input

from engine.config import GatewayAddress
from engine.core.jobs import JobState
from engine.loading.journal import SegmentRecord, SegmentStatus
from engine.loading.load_job import LoadStatus
from engine.loading.planner import LoadMode, Segment
from engine.loading.service import LoadService
from engine.market.calendar import calendar_for
from engine.market.spans import Duration
from ktrdr_tui.widgets.jobs import JobsPane
from tests.conftest import TERMINAL_SIZE
from tests.support.app_harness import until

THEMES = ["ktrdr-dark", "ktrdr-light"]


def segments(sessions: list[str], statuses: list[SegmentRecord | dict]) -> tuple:
    """One 1-minute segment per session, with the given status fields."""
    return tuple(
        SegmentRecord(
            index=i,
            segment=Segment(
                first_session=pd.Timestamp(day),
                last_session=pd.Timestamp(day),
                start=pd.Timestamp(f"{day} 13:30", tz="UTC"),
                end=pd.Timestamp(f"{day} 20:00", tz="UTC"),
                duration=Duration(1, "D"),
                sessions=1,
                expected_bars=390,
            ),
            **fields,
        )
        for i, (day, fields) in enumerate(zip(sessions, statuses, strict=True), start=1)
    )


def status(**fields) -> LoadStatus:
    base = dict(
        stage="",
        percent=0.0,
        detail="",
        segments_total=0,
        segments_done=0,
        segments_failed=0,
        bars_fetched=0,
        bars_total=0,
        requests=0,
        rate_bars_s=None,
        eta_s=None,
        pacing_wait_s=0.0,
        elapsed_s=0.0,
        error="",
        segments=(),
        persisted=True,
    )
    if fields["state"].ended:
        fields.setdefault("detail", fields.get("error", ""))  # as the engine's: why it ended
    return LoadStatus(**{**base, **fields})


SESSIONS = [f"{d:%Y-%m-%d}" for d in pd.bdate_range("2024-03-15", periods=14, freq="-1B")]
DONE = {"status": SegmentStatus.DONE, "bars": 390}
RUNNING = status(
    job_id="aaaaaaaaaaaa",
    symbol="AAPL",
    timeframe="1m",
    mode=LoadMode.FULL,
    start="2024-02-27",
    end="2024-03-15",
    state=JobState.RUNNING,
    stage="fetch segments",
    percent=52.0,
    detail="Segment 9/14: 2024-03-05 · fetching",
    segments_total=14,
    segments_done=7,
    segments_failed=1,
    bars_fetched=2730,
    bars_total=5460,
    requests=10,
    rate_bars_s=1234.0,
    eta_s=95.0,
    segments=segments(
        SESSIONS,
        [DONE, DONE, {**DONE, "retries": 2}, DONE, DONE, DONE]
        + [
            {
                "status": SegmentStatus.FAILED,
                "retries": 3,
                "error": "HMDS query returned no data: AAPL@SMART Trades",
            },
            DONE,
            {"status": SegmentStatus.FETCHING},
        ]
        + [{}] * 5,
    ),
)
STATUSES = [
    status(
        job_id="dddddddddddd",
        symbol="QQQ",
        timeframe="15m",
        mode=LoadMode.FULL,
        start="2024-01-02",
        end="2024-02-29",
        state=JobState.INTERRUPTED,
        percent=37.5,
        segments_total=8,
        segments_done=3,
        bars_fetched=312,
        bars_total=832,
        error="the process stopped while the job ran",
    ),
    RUNNING,
    status(
        job_id="bbbbbbbbbbbb",
        symbol="MSFT",
        timeframe="5m",
        mode=LoadMode.TAIL,
        start="2024-01-02",
        end="2024-03-15",
        state=JobState.RUNNING,
        stage="fetch segments",
        percent=31.0,
        detail="Segment 3/8: 2024-02-12 → 2024-02-16 · waiting 4.2 s for pacing (60 per 10 min)",
        segments_total=8,
        segments_done=2,
        bars_fetched=780,
        bars_total=3900,
        rate_bars_s=850.0,
        eta_s=None,
        pacing_wait_s=4.2,
    ),
    status(
        job_id="cccccccccccc",
        symbol="ZZZZ",
        timeframe="1h",
        mode=LoadMode.FULL,
        start="2024-03-01",
        end="2024-03-15",
        state=JobState.FAILED,
        error="unknown symbol 'ZZZZ': IB has no US stock of that name",
        persisted=False,
    ),
    status(
        job_id="eeeeeeeeeeee",
        symbol="SPY",
        timeframe="1d",
        mode=LoadMode.BACKFILL,
        start="2023-03-15",
        end="2024-03-15",
        state=JobState.DONE,
        percent=100.0,
        segments_total=1,
        segments_done=1,
        bars_fetched=251,
        bars_total=251,
    ),
]


class FakeLoads:
    """The LoadService methods the Jobs pane calls, returning fixed statuses."""

    source = "sim"
    address = GatewayAddress("127.0.0.1", 4002)

    def __init__(self, statuses: list[LoadStatus]):
        self.calendar = calendar_for()
        # No unreadable journal or bar file moved aside.
        self.journals = SimpleNamespace(quarantined=[])
        self.store = SimpleNamespace(quarantined=[])
        self._statuses = statuses
        self.calls: list[tuple[str, object]] = []

    def statuses(self, persisted: bool = True) -> list[LoadStatus]:
        # The interrupted job is one of an earlier run: only its journal knows it.
        live = [s for s in self._statuses if s.state is not JobState.INTERRUPTED]
        return list(self._statuses) if persisted else live

    def start(self, request) -> list:
        self.calls.append(("start", request))
        return []

    def cancel(self, job_id: str) -> None:
        self.calls.append(("cancel", job_id))

    def resume(self, job_id: str) -> None:
        self.calls.append(("resume", job_id))

    def remove(self, job_id: str) -> None:
        self.calls.append(("remove", job_id))

    def journals_stamp(self) -> None:
        return None  # the fixed statuses never change on disk

    def subscribe(self, listener) -> Callable[[], None]:
        return lambda: None  # the fixed statuses never end

    def gateway_status(self) -> None:
        return None  # the header says what the app says before any connection

    def close(self) -> None:
        pass


@pytest.fixture
def fake_loads(monkeypatch: pytest.MonkeyPatch):
    """The app opens this fake instead of a LoadService (and starts no gateway)."""

    def install(statuses: list[LoadStatus]) -> FakeLoads:
        fake = FakeLoads(statuses)
        monkeypatch.setattr(LoadService, "for_config", classmethod(lambda cls, *a, **k: fake))
        return fake

    return install


async def jobs_shown(pilot) -> None:
    """The service is there and the journals have been read: the pane shows every job."""
    app = pilot.app
    pane = app.query_one(JobsPane)
    await until(pilot, lambda: app.loads is not None and pane._journals_read)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def dialog_open(pilot, *keys: str) -> None:
    await jobs_shown(pilot)
    await pilot.press("n")
    await until(pilot, lambda: pilot.app.screen.__class__.__name__ == "NewLoadScreen")
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False  # a blinking cursor would differ from run to run
    await pilot.press(*keys)


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
        await until(pilot, lambda: pilot.app.screen.__class__.__name__ == "JobDetailScreen")
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
