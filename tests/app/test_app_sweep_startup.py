"""The fork server of the sweeps' local workers (a process that imports the engine) is not
started with the app, whose first frame would share a core with it, but with the first sweep,
off the event loop; that start works under the running app (stderr is Textual's capture then).

In a child process: the fork server and the resource tracker are per process, and another test
in this one may have started them already."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.bar_fixtures import store_bars

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """\
import asyncio, json, sys, threading
from multiprocessing import forkserver
from pathlib import Path
from engine.clock import FixedClock
from engine.config import Config
from ktrdr_tui.app import KtrdrApp
from ktrdr_tui.theme_files import load_theme_files, shipped_themes_dir
from tests.conftest import PINNED_NOW
from tests.support.app_harness import until
from tests.support.sweeps import sweep_request

thread_errors = []  # a worker starter's thread failing would not fail the sweep itself
threading.excepthook = lambda args: thread_errors.append(repr(args.exc_value))


def fork_server_up():
    return forkserver._forkserver._forkserver_pid is not None  # the stdlib's one server


async def main(data_dir):
    config = Config(source="sim", data_dir=Path(data_dir), now=FixedClock.parse(PINNED_NOW))
    app = KtrdrApp(config, load_theme_files(shipped_themes_dir()))
    app.animation_level = "none"
    seen = {"built": fork_server_up()}
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.engine.sweeps is not None and app.loads is not None)
        seen["running"] = fork_server_up()
        job_id = await asyncio.to_thread(app.engine.start_sweep, sweep_request())
        sweeps = app.engine.sweeps
        await until(pilot, lambda: sweeps.wait(job_id, 0), "the sweep's end")
        (status,) = sweeps.statuses(persisted=False)
        seen |= {"after": fork_server_up(), "state": str(status.state), "error": status.error}
    seen["thread_errors"] = thread_errors
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here"
)
def test_the_fork_server_starts_with_the_first_sweep_not_with_the_app(tmp_path: Path) -> None:
    store_bars(tmp_path / "store")
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "store")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout.splitlines()[-1])
    assert seen == {
        "built": False,  # not as the app is made,
        "running": False,  # nor while it starts its services,
        "after": True,  # but with the first sweep, which runs to its end
        "state": "done",
        "error": "",
        "thread_errors": [],
    }
