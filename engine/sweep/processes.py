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

import ctypes
import multiprocessing
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext

PRELOAD = ["engine.sweep.executors"]  # what a worker runs: imported once, in the server

# glibc's mallopt options, and the sizes a backtest's process keeps its freed memory up to.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_FROM_THE_HEAP_BELOW = 64 << 20
_KEEP_FREED_UP_TO = 256 << 20


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


def keep_freed_memory() -> None:
    """Make this process's allocator keep the memory a backtest frees for the next one.

    By default glibc maps each array of a few hundred KB (a column of a year of 1m bars) afresh
    and gives it back when freed, so every backtest faults its memory in again: in a worker
    that had not grown its heap yet, 186,000 page faults for 20 one-year backtests, a third of
    its time. Arrays under 64 MB then come from the heap, and up to 256 MB freed stays there.
    glibc only (elsewhere nothing changes); for processes that only run backtests."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, _FROM_THE_HEAP_BELOW)
    mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_UP_TO)
