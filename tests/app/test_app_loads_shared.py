"""The app with what it shares with other programs: a real IB Gateway that is not there yet
(the header and the row say so, counting down), and loads another process runs (the Jobs pane
shows them and follows them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest
from textual.widgets import DataTable, Input

import engine.loading.service as service_module
from engine.config import GatewayAddress
from engine.core.jobs import JobState
from engine.ib.sim_gateway import GatewaySettings, SimulatedGateway
from engine.loading.connection import RetryPolicy
from engine.loading.journal import JournalStore, LoadJournal, SegmentRecord, SegmentStatus
from engine.loading.planner import LoadMode, Segment
from engine.market.spans import Duration
from tests.support.app_harness import on_screen, until


def cell(app, job_id: str, column: str) -> str:
    return str(app.query_one("#jobs-table", DataTable).get_cell(job_id, column))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_with_no_gateway_the_header_and_the_row_say_so_until_it_answers(
    make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tries every fifth of a second, so that the gateway is found soon after it starts.
    monkeypatch.setattr(
        service_module, "RetryPolicy", lambda: RetryPolicy(first_delay_s=0.2, max_delay_s=0.2)
    )
    port = closed_port()
    app = make_app(source="ib", gateway=GatewayAddress("127.0.0.1", port))
    async with app.run_test(size=(120, 30)) as pilot:
        # Before any load: the app connects at once and says why it cannot.
        await until(
            pilot, lambda: " · disconnected, retry in 1 s: no IB Gateway at " in app.sub_title
        )
        assert app.sub_title.startswith(f"IB Gateway at 127.0.0.1:{port} (source set to ib) · ")

        await pilot.press("n")
        await until(pilot, lambda: on_screen(app, "NewLoadScreen"))
        await pilot.press(*"AAPL")
        app.screen.query_one("#start", Input).value = "2024-03-04"
        app.screen.query_one("#end", Input).value = "2024-03-05"
        await pilot.press("enter")
        table = app.query_one("#jobs-table", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        job_id = table.coordinate_to_cell_key((0, 0)).row_key.value
        waiting = f"waiting for gateway at 127.0.0.1:{port}, retry in 1 s"
        await until(pilot, lambda: cell(app, job_id, "segment") == waiting)
        assert (cell(app, job_id, "state"), cell(app, job_id, "stage")) == (
            "running",
            "validate symbol",
        )

        gateway = SimulatedGateway(GatewaySettings(pacing="off", port=port, now=app.config.now))
        gateway.start_in_thread()
        try:
            await until(pilot, lambda: cell(app, job_id, "state") == "done")
            await until(pilot, lambda: app.sub_title.endswith(" · connected (client id 1)"))
        finally:
            gateway.stop()


def journal(state: JobState, done: int) -> LoadJournal:
    """A two-session load another process runs, `done` segments of it done."""
    days = ["2024-03-05", "2024-03-04"]
    segments = tuple(
        SegmentRecord(
            index=i,
            segment=Segment(
                first_session=pd.Timestamp(day),
                last_session=pd.Timestamp(day),
                start=pd.Timestamp(f"{day} 14:30", tz="UTC"),
                end=pd.Timestamp(f"{day} 21:00", tz="UTC"),
                duration=Duration(1, "D"),
                sessions=1,
                expected_bars=390,
            ),
            status=SegmentStatus.DONE if i <= done else SegmentStatus.PENDING,
            bars=390 if i <= done else 0,
        )
        for i, day in enumerate(days, 1)
    )
    return LoadJournal(
        job_id="0123456789ab",
        symbol="MSFT",
        timeframe="1m",
        mode=LoadMode.FULL,
        start="2024-03-04",
        end="2024-03-05",
        source="sim",
        state=state,
        created_at="2024-03-15T21:00:00+00:00",
        updated_at="2024-03-15T21:00:01+00:00",
        segments=segments,
        requests=done,
        bars_fetched=390 * done,
        pid=os.getppid(),  # a live process other than this one: a CLI `load`
    )


async def test_a_load_of_another_process_shows_and_moves_in_the_jobs_pane(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        store = JournalStore(app.config.data_dir / "jobs")
        running = journal(JobState.RUNNING, done=1)
        store.save(running)
        table = app.query_one("#jobs-table", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert cell(app, running.job_id, "state") == "running"
        assert cell(app, running.job_id, "progress").endswith(" 50%")
        assert cell(app, running.job_id, "segment") == f"loading in process {os.getppid()}"

        store.save(replace(journal(JobState.DONE, done=2), updated_at="2024-03-15T21:00:02+00:00"))
        await until(pilot, lambda: cell(app, running.job_id, "state") == "done")
        assert cell(app, running.job_id, "progress").endswith("100%")
        assert cell(app, running.job_id, "bars") == "780/780"


async def test_a_job_of_another_process_that_was_killed_becomes_resumable(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.loads is not None)
        store = JournalStore(app.config.data_dir / "jobs")
        # A CLI load killed with SIGKILL: its journal still says running, its process is gone.
        ended = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        orphan = replace(journal(JobState.RUNNING, done=1), pid=int(ended.stdout))
        store.save(orphan)
        await until(pilot, lambda: app.query_one("#jobs-table", DataTable).row_count == 1)
        await until(pilot, lambda: cell(app, orphan.job_id, "state") == "interrupted")
        assert store.load(orphan.job_id).state is JobState.INTERRUPTED
