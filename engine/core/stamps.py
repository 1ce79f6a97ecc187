"""Whether files changed since they were last read, by their modification times: what the app
polls (a stat, cheap) before it reads journals again (slow)."""

from __future__ import annotations

import time
from pathlib import Path


def settled(mtime_ns: int) -> bool:
    """Whether a file's modification time tells every change: a filesystem clock may tick
    coarsely, and two writes within one tick show one time. Once that time is a second old,
    a later write moves it (git calls the other case "racily clean")."""
    return time.time_ns() - mtime_ns >= 1_000_000_000


def folder_stamp(directory: Path) -> int | None:
    """Changes whenever a file is written (atomically: a rename), removed or added in
    `directory`: its modification time, or, while that is under a second old, a new value on
    every call (`settled`). None while there is no folder."""
    try:
        changed = directory.stat().st_mtime_ns
    except OSError:  # no folder yet, or not one: nothing to read again
        return None
    return changed if settled(changed) else time.time_ns()
