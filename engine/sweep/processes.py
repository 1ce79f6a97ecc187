"""The processes local sweep workers are made from: forked from a server that has imported the
engine once (`forkserver`), or spawned where there is no such server (macOS' default is spawn
too, Windows has only spawn). Never a plain fork of the caller: it runs threads (the job
runner, the progress display), and a fork copies their locks in whatever state they are.

Import-light (no numpy): the CLI starts the server before it imports the engine itself, so the
two imports overlap.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

PRELOAD = ["engine.sweep.executors"]  # what a worker runs: imported once, in the server


def local_context() -> BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def prestart_local() -> None:
    """Start the server local workers fork from now (where there is one), so that it imports
    the engine (half a second) while the caller does its own work."""
    if local_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
