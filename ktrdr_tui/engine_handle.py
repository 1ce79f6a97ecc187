"""The one object through which the panes reach the engine, built once by the app."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ktrdr_tui.messages import JobEnded, ServiceReady, SessionOpened, SweepEnded

if TYPE_CHECKING:
    from textual.message import Message

    from engine.config import Config
    from engine.core.jobs import JobEvent
    from engine.loading.service import LoadService
    from engine.market.calendar import TradingCalendar
    from engine.market.store import BarStore
    from engine.session.playback import PlaybackSession
    from engine.sweep.journal import SweepRequest
    from engine.sweep.service import SweepService


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker: the process that frees a sweep's shared
    memory (its bars) should the app die, and that the fork server of its local workers
    starts with. Whatever starts it hands it stderr's descriptor, so it starts before the app
    runs: under the running app, stderr is Textual's capture, whose descriptor is -1, and a
    sweep's first start would fail. Only the tracker, a small process: the fork server
    imports the engine (half a second of a core, which the first frame would share) and
    starts with the first sweep, on its job's thread (`LocalExecutor.open`), off the event
    loop; until its workers are up, the sweep runs its backtests in the app's process."""
    if os.name == "posix":  # elsewhere there is no tracker, nor any fork server
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()


class EngineHandle:
    """The engine objects the panes share. Panes read from it; what changes it (the load
    service arriving, a session opened, a job ending) is also posted as a typed message
    (`ktrdr_tui.messages`) through `post`, which must be thread-safe (`App.post_message`).

    - `config`: the settings (data dir, clock, …).
    - `loads`: the LoadService, None until the source is chosen and the service runs.
    - `session`: the open PlaybackSession, None until one is opened.
    - `sweeps`: the SweepService, None until the calendar is read (`open_sweeps`).
    """

    def __init__(self, config: Config, post: Callable[[Message], object]):
        self.config = config
        self.loads: LoadService | None = None
        self.session: PlaybackSession | None = None
        self.sweeps: SweepService | None = None
        self._post = post
        self._stores: dict[Path, BarStore] = {}
        self._stores_lock = threading.Lock()  # a dialog's worker and the app's may ask at once
        start_resource_tracker()

    def store(self, calendar: TradingCalendar) -> BarStore:
        """The one BarStore of the data dir: the load service writes through it and the
        dialogs read it, so what it quarantines is said once."""
        from engine.market.store import BarStore  # pyarrow: only in a worker, when needed

        data_dir = Path(self.config.data_dir)
        with self._stores_lock:
            if data_dir not in self._stores:
                self._stores[data_dir] = BarStore(data_dir, calendar)
            return self._stores[data_dir]

    def service_ready(self, service: LoadService) -> None:
        """Adopt the load service (from any thread); its jobs' ends are posted as they come."""
        self.loads = service
        service.subscribe(self._job_event)
        self._post(ServiceReady(service))

    def _job_event(self, event: JobEvent) -> None:
        # On the job's thread, after the service recorded the state: post, never touch the UI.
        if event.state.ended:
            self._post(JobEnded(event.job_id, event.state, event.error))

    def open_sweeps(self, calendar: TradingCalendar) -> None:
        """Start the sweep service (on a worker thread: it imports the engine); its sweeps'
        ends are posted as they come."""
        from engine.core.eta import EtaHistory
        from engine.sweep.service import SweepService

        service = SweepService(self.config, calendar, self.store(calendar), EtaHistory())
        service.subscribe(self._sweep_event)
        self.sweeps = service

    def _sweep_event(self, event: JobEvent) -> None:
        if event.state.ended:
            self._post(SweepEnded(event.job_id, event.state, event.error))

    def start_sweep(self, request: SweepRequest) -> str:
        """Start the sweep `request` asks for and return its job id; it shows in the Jobs
        pane at once. Blocking (its bars are read): call it from a thread worker. Raises
        `engine.sweep.job.SweepInputError` (a ValueError; one line, `usage` False when the
        store lacks the bars) for a sweep that cannot be planned, RuntimeError while the
        sweep service is not there yet (the first moment of the app)."""
        if self.sweeps is None:
            raise RuntimeError("the sweep service is starting; try again in a moment")
        return self.sweeps.start(request).id

    def open_session(self, session: PlaybackSession) -> None:
        """Make `session` the one the panes show: the previous one stops."""
        if self.session is not None and self.session is not session:
            self.session.stop()
        self.session = session
        self._post(SessionOpened(session))

    def close(self) -> None:
        """Stop the session and the services: running loads and sweeps end as interrupted
        (resumable)."""
        if self.session is not None:
            self.session.stop()
        if self.loads is not None:
            self.loads.close()
        if self.sweeps is not None:
            self.sweeps.close()
