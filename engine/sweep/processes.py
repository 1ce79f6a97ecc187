"""The processes a sweep starts: local workers forked from a server that has imported the
engine once (`forkserver`), or spawned where there is no such server (macOS' default is spawn
too, Windows has only spawn); never a plain fork of the caller, which runs threads (the job
runner, the progress display) whose locks a fork would copy in whatever state they are.

Ctrl-C in a terminal reaches every process of its group: the sweep's own processes are started
ignoring it (an ignored signal stays ignored across fork and exec), and the parent alone
cancels the sweep and stops them. Import-light (no numpy): the CLI starts the server before it
imports the engine itself, so that the two imports overlap.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext

PRELOAD = ["engine.sweep.executors"]  # what a worker runs: imported once, in the server


def local_context() -> BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


@contextmanager
def started_deaf_to_ctrl_c() -> Iterator[None]:
    """Processes started inside ignore SIGINT (while inside, so does this one: a Ctrl-C then
    is lost, not half-handled). Only the main thread can change a signal's handler: from
    another, processes start as they would anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def prestart_local() -> None:
    """Start the server local workers fork from now (where there is one): it imports the
    engine (half a second) while the caller does its own work."""
    if local_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with started_deaf_to_ctrl_c():
            forkserver.ensure_running()
