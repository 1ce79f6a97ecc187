"""What the engine tells the app, as typed messages.

Each is posted with `post_message`, which is thread-safe: an engine thread (a job ending, a
worker opening the load service) posts to the app, whose handler updates what it shows and
hands the message on to the panes (`KtrdrApp.tell_panes`). None bubbles: a pane's copy
going back up to the app would be handed on again, for ever. High-rate data (a job's progress,
the playback clock) is not sent this way: the panes poll snapshots of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from engine.core.jobs import JobState
    from engine.loading.load_job import LoadStatus
    from engine.loading.service import LoadService
    from engine.session.playback import PlaybackSession
    from engine.sweep.job import SweepStatus


@dataclass
class ServiceReady(Message, bubble=False):
    """The load service runs (and, for `sim`, its in-process gateway)."""

    service: LoadService


@dataclass
class JobEnded(Message, bubble=False):
    """A load job of this process ended (done, failed, cancelled or interrupted)."""

    job_id: str
    state: JobState
    error: str | None


@dataclass
class SweepEnded(Message, bubble=False):
    """A sweep of this process ended (done, failed, cancelled or interrupted)."""

    job_id: str
    state: JobState
    error: str | None


@dataclass
class SessionOpened(Message, bubble=False):
    """A playback session became the app's session (the previous one has stopped)."""

    session: PlaybackSession


@dataclass
class JournalsRead(Message, bubble=False):
    """The jobs of earlier runs and of other processes, read from disk by a worker: `reading`
    numbers the read, so that an older one landing late is ignored."""

    reading: int
    persisted: dict[str, LoadStatus]
    sweeps: dict[str, SweepStatus]  # only a journal holds them: none of this process
