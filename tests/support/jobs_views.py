"""The Jobs pane with fixed statuses, for its tests and the dialogs' and sweeps' snapshots.

A fake load service stands in for the engine (tests/app/conftest.py's `fake_loads` installs
it): it returns fixed statuses (a job running with an ETA, one waiting for pacing, one failed,
one done, one interrupted by an earlier run), so no clock, rate or ETA varies between runs.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pandas as pd
from textual.widgets import Input

from engine.config import GatewayAddress
from engine.core.jobs import JobState
from engine.loading.journal import SegmentRecord, SegmentStatus
from engine.loading.load_job import LoadStatus
from engine.loading.planner import LoadMode, Segment
from engine.market.calendar import calendar_for
from engine.market.spans import Duration
from ktrdr_tui.widgets.jobs import JobsPane
from tests.support.app_harness import on_screen, until


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
    await until(pilot, lambda: on_screen(pilot.app, "NewLoadScreen"))
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False  # a blinking cursor would differ from run to run
    await pilot.press(*keys)
